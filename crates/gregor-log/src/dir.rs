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

/// Written last on shutdown, after every partition is flushed and closed,
/// with the broker epoch the process ran at (Kafka's layout; -1 for a node
/// that is no broker): the next start names it in its registration
/// (PreviousBrokerEpoch), which tells the controller the shutdown was clean.
pub fn mark_clean_shutdown(log_dir: &Path, broker_epoch: i64) -> io::Result<()> {
    let path = log_dir.join(CLEAN_SHUTDOWN_FILE);
    std::fs::write(
        &path,
        format!("{{\"version\":0,\"brokerEpoch\":{broker_epoch}}}"),
    )?;
    std::fs::File::open(log_dir)?.sync_all()
}

/// The broker epoch the last clean shutdown recorded; -1 without one (a
/// crash, a fresh dir, or a marker from before epochs were recorded).
pub fn clean_shutdown_broker_epoch(log_dir: &Path) -> i64 {
    std::fs::read_to_string(log_dir.join(CLEAN_SHUTDOWN_FILE))
        .ok()
        .and_then(|text| parse_broker_epoch(&text))
        .unwrap_or(-1)
}

fn parse_broker_epoch(text: &str) -> Option<i64> {
    const KEY: &str = "\"brokerEpoch\"";
    let rest = &text[text.find(KEY)? + KEY.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| c != '-' && !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
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
    fn the_clean_shutdown_marker_carries_the_broker_epoch() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(clean_shutdown_broker_epoch(dir.path()), -1);
        mark_clean_shutdown(dir.path(), 42).unwrap();
        assert!(is_clean_shutdown(dir.path()));
        assert_eq!(clean_shutdown_broker_epoch(dir.path()), 42);
        clear_clean_shutdown(dir.path()).unwrap();
        assert_eq!(clean_shutdown_broker_epoch(dir.path()), -1);
        // An older, empty marker: clean for recovery, but no epoch.
        std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), b"").unwrap();
        assert_eq!(clean_shutdown_broker_epoch(dir.path()), -1);
        assert_eq!(
            parse_broker_epoch("{\"version\": 0, \"brokerEpoch\": 7 }"),
            Some(7)
        );
    }

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
