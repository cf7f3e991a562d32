//! The topics a "consumer" protocol member subscribes to, read from its
//! JoinGroup metadata (ConsumerProtocolSubscription).

use std::collections::BTreeSet;

/// The protocol type of the Java consumer and everything compatible with it.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Topics named in one member's subscription, `None` if it does not parse.
///
/// Read as version 0 whatever version the member wrote, as Kafka does: every
/// later version only appends fields to the v0 layout (version, topics, ...),
/// so this keeps working for subscription versions we do not know yet.
/// Parsed by hand rather than with `ConsumerProtocolSubscription::decode`
/// because that trusts the array length for its allocation, and this is
/// client input.
pub fn subscribed_topics(metadata: &[u8]) -> Option<BTreeSet<String>> {
    let version = i16::from_be_bytes(metadata.get(0..2)?.try_into().ok()?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(metadata.get(2..6)?.try_into().ok()?);
    let mut rest = metadata.get(6..)?;
    let mut topics = BTreeSet::new();
    // A null array (-1) is not a valid subscription.
    for _ in 0..usize::try_from(count).ok()? {
        let len = i16::from_be_bytes(rest.get(0..2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        let name = std::str::from_utf8(rest.get(2..2 + len)?).ok()?;
        topics.insert(name.to_string());
        rest = &rest[2 + len..];
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, Bytes};
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encoded(version: i16, topics: &[&str]) -> Bytes {
        let subscription = ConsumerProtocolSubscription::default().with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.to_string()))
                .collect(),
        );
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(version);
        subscription.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn reads_topics_of_every_version() {
        for version in 0..=3 {
            let topics = subscribed_topics(&encoded(version, &["a", "b"])).unwrap();
            assert_eq!(topics.into_iter().collect::<Vec<_>>(), vec!["a", "b"]);
        }
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(subscribed_topics(&Bytes::from_static(b"\x00")), None);
        assert_eq!(
            subscribed_topics(&Bytes::from_static(b"\xff\xff\x00")),
            None
        );
        assert_eq!(
            subscribed_topics(&Bytes::from_static(b"\x00\x00\x00\x00\x00\x09")),
            None
        );
        // A huge claimed count with no data behind it fails fast.
        assert_eq!(
            subscribed_topics(&Bytes::from_static(b"\x00\x00\x7f\xff\xff\xff")),
            None
        );
    }
}
