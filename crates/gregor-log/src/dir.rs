//! Naming of partition directories and the clean-shutdown marker of a log dir.

use std::io;
use std::path::Path;

/// Kafka's marker file: present only after a clean shutdown.
const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// `<topic>-<partition>`, as Kafka names partition directories.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits a partition directory name at its last `-`.
pub fn parse_partition_dir_name(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    if topic.is_empty() || partition < 0 {
        return None;
    }
    Some((topic, partition))
}

pub fn is_clean_shutdown(log_dir: &Path) -> bool {
    log_dir.join(CLEAN_SHUTDOWN_FILE).exists()
}

/// Written last on shutdown, after every partition is flushed and closed.
pub fn mark_clean_shutdown(log_dir: &Path) -> io::Result<()> {
    let path = log_dir.join(CLEAN_SHUTDOWN_FILE);
    std::fs::write(&path, b"")?;
    std::fs::File::open(log_dir)?.sync_all()
}

/// Removed at start-up, before any write, so a crash from here on is seen as unclean.
pub fn clear_clean_shutdown(log_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(log_dir.join(CLEAN_SHUTDOWN_FILE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => std::fs::File::open(log_dir)?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names_round_trip_even_with_dashes_in_topics() {
        assert_eq!(partition_dir_name("my-topic", 3), "my-topic-3");
        assert_eq!(
            parse_partition_dir_name("my-topic-3"),
            Some(("my-topic", 3))
        );
        assert_eq!(parse_partition_dir_name("nodash"), None);
        // Kafka splits at the last '-': topic "t-", partition 1.
        assert_eq!(parse_partition_dir_name("t--1"), Some(("t-", 1)));
        assert_eq!(parse_partition_dir_name("-1"), None);
        assert_eq!(parse_partition_dir_name("t-"), None);
        assert_eq!(parse_partition_dir_name("t-x"), None);
    }
}
