//! Kafka frames: a 4-byte big-endian length followed by that many bytes.

use thiserror::Error;

/// Size of the length prefix in front of every request and response.
pub const LENGTH_PREFIX_LEN: usize = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// Kafka closes the connection when a client announces a request larger
    /// than `socket.request.max.bytes`; so do we.
    #[error("request of {size} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: usize, max: usize },
    #[error("negative frame length {0}")]
    Negative(i32),
}

/// Reads the length prefix and checks it against the configured maximum.
pub fn frame_length(prefix: [u8; LENGTH_PREFIX_LEN], max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    let size = size as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lengths_up_to_the_limit() {
        assert_eq!(frame_length(100i32.to_be_bytes(), 100), Ok(100));
        assert_eq!(frame_length(0i32.to_be_bytes(), 100), Ok(0));
    }

    #[test]
    fn refuses_oversized_and_negative_lengths() {
        assert_eq!(
            frame_length(101i32.to_be_bytes(), 100),
            Err(FrameError::TooLarge {
                size: 101,
                max: 100
            })
        );
        assert_eq!(
            frame_length((-1i32).to_be_bytes(), 100),
            Err(FrameError::Negative(-1))
        );
    }
}
