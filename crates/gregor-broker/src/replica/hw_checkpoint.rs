//! Kafka's `replication-offset-checkpoint`: the high watermark of every
//! partition in a log dir, so a restarted broker does not start from zero
//! (or from its log end, which may hold records never committed). The
//! format is Kafka's, so tools reading it see what they expect:
//!
//! ```text
//! 0                 <- version
//! 2                 <- entry count
//! topic 0 42        <- topic, partition, high watermark
//! topic 1 17
//! ```
//!
//! Written to a temp file, fsynced and renamed over the old one, then the
//! directory fsynced: a reader sees the old or the new file, never a torn one.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub const FILE_NAME: &str = "replication-offset-checkpoint";
const VERSION: i32 = 0;

/// (topic, partition) -> high watermark.
pub type HighWatermarks = HashMap<(String, i32), i64>;

/// Reads the checkpoint. A missing file is empty; a malformed one is
/// ignored with a warning (Kafka fails the log dir; a high watermark that
/// starts low only delays what consumers see until the leader says more).
pub fn read(dir: &Path) -> io::Result<HighWatermarks> {
    let text = match fs::read_to_string(dir.join(FILE_NAME)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HighWatermarks::new()),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::warn!(dir = %dir.display(), "ignoring an unreadable {FILE_NAME}");
            return Ok(HighWatermarks::new());
        }
        Err(e) => return Err(e),
    };
    match parse(&text) {
        Some(entries) => Ok(entries),
        None => {
            tracing::warn!(dir = %dir.display(), "ignoring a malformed {FILE_NAME}");
            Ok(HighWatermarks::new())
        }
    }
}

fn parse(text: &str) -> Option<HighWatermarks> {
    let mut lines = text.lines();
    let version: i32 = lines.next()?.trim().parse().ok()?;
    if version != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = HighWatermarks::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        // The topic name cannot hold a space, so the last two fields are
        // the partition and the offset.
        let mut fields = lines.next()?.rsplitn(3, ' ');
        let offset: i64 = fields.next()?.parse().ok()?;
        let partition: i32 = fields.next()?.parse().ok()?;
        let topic = fields.next()?.to_string();
        if topic.is_empty() || offset < 0 || partition < 0 {
            return None;
        }
        entries.insert((topic, partition), offset);
    }
    Some(entries)
}

/// Replaces the checkpoint with `entries` (sorted, so the file is stable).
pub fn write(dir: &Path, entries: &HighWatermarks) -> io::Result<()> {
    let mut sorted: Vec<_> = entries.iter().collect();
    sorted.sort();
    let mut text = format!("{VERSION}\n{}\n", sorted.len());
    for ((topic, partition), offset) in sorted {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(FILE_NAME))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = HighWatermarks::new();
        entries.insert(("orders".to_string(), 1), 17);
        entries.insert(("orders".to_string(), 0), 42);
        entries.insert(("__consumer_offsets".to_string(), 3), 0);
        write(dir.path(), &entries).unwrap();
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(
            text,
            "0\n3\n__consumer_offsets 3 0\norders 0 42\norders 1 17\n"
        );
        assert_eq!(read(dir.path()).unwrap(), entries);
        assert!(!dir.path().join(format!("{FILE_NAME}.tmp")).exists());
    }

    #[test]
    fn missing_or_malformed_files_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        for bad in [
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\nx\n",
            "0\n1\nt x 1\n",
            "0\n1\nt 0 -5\n",
        ] {
            fs::write(dir.path().join(FILE_NAME), bad).unwrap();
            assert!(read(dir.path()).unwrap().is_empty(), "{bad:?}");
        }
    }
}
