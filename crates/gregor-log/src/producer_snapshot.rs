//! Producer-state snapshot files, named like Kafka's (`<offset>.snapshot`,
//! 20 digits): the state of every producer after all batches below
//! `offset`. Written atomically with the other checkpoints (temp file,
//! fsync, rename), so a reader sees a whole file or none.
//!
//! Unlike Kafka's binary snapshot, which keeps only each producer's last
//! batch, ours keeps all five cached batches so that every retry still in
//! flight across a broker restart is recognised as a duplicate. Format,
//! after the version line: the producer count, then one line per producer.
//!
//! Version 1 (written now): `pid epoch coordinator_epoch txn_first_offset
//! last_timestamp n` followed by `n` groups of `first_seq last_seq
//! first_offset last_offset timestamp`; `txn_first_offset` is -1 when the
//! producer has no open transaction.
//!
//! Version 0 (written before transactions, still read): `pid epoch n`
//! followed by the `n` groups; its producers have no open transaction, no
//! coordinator epoch, and their last batch's timestamp.

use crate::checkpoint;
use crate::producer_state::{
    BatchMeta, ProducerEntry, ProducerStateMap, BATCHES_TO_RETAIN, NO_COORDINATOR_EPOCH,
    NO_TIMESTAMP,
};
use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::Path;

pub(crate) const SNAPSHOT_SUFFIX: &str = "snapshot";

/// Versions of the format (see the module comment).
const V0: &str = "0";
const V1: &str = "1";

fn file_name(offset: i64) -> String {
    format!("{offset:020}.{SNAPSHOT_SUFFIX}")
}

/// Offsets of the snapshots in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some((stem, suffix)) = name.to_str().and_then(|n| n.split_once('.')) else {
            continue;
        };
        if suffix != SNAPSHOT_SUFFIX || stem.len() != 20 {
            continue;
        }
        if let Ok(offset) = stem.parse::<i64>() {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

pub(crate) fn write(dir: &Path, offset: i64, state: &ProducerStateMap) -> io::Result<()> {
    let mut lines = Vec::with_capacity(state.len() + 1);
    lines.push(state.len().to_string());
    for (pid, entry) in state.entries() {
        let mut line = format!(
            "{pid} {} {} {} {} {}",
            entry.epoch,
            entry.coordinator_epoch,
            entry.current_txn_first_offset.unwrap_or(-1),
            entry.last_timestamp,
            entry.batches.len()
        );
        for b in &entry.batches {
            line.push_str(&format!(
                " {} {} {} {} {}",
                b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.timestamp
            ));
        }
        lines.push(line);
    }
    checkpoint::write_versioned_lines(dir, &file_name(offset), V1, &lines)
}

/// The snapshot at `offset`; `None` if it is missing or damaged.
pub(crate) fn read(dir: &Path, offset: i64) -> io::Result<Option<ProducerStateMap>> {
    let Some((version, lines)) = checkpoint::read_versioned_lines(dir, &file_name(offset))? else {
        return Ok(None);
    };
    let parsed = match version.as_str() {
        V0 | V1 => parse(&lines, version == V1),
        _ => None,
    };
    if parsed.is_none() {
        tracing::warn!(dir = %dir.display(), offset, version, "ignoring damaged producer state snapshot");
    }
    Ok(parsed)
}

fn parse(lines: &[String], v1: bool) -> Option<ProducerStateMap> {
    let (count, entries) = lines.split_first()?;
    if count.trim().parse::<usize>().ok()? != entries.len() {
        return None;
    }
    let mut state = ProducerStateMap::new();
    let mut txn_starts = std::collections::BTreeSet::new();
    for line in entries {
        let (pid, entry) = parse_entry(line, v1)?;
        // Two transactions cannot start at one offset: the file is damaged.
        if let Some(first) = entry.current_txn_first_offset {
            if !txn_starts.insert(first) {
                return None;
            }
        }
        state.insert(pid, entry);
    }
    Some(state)
}

fn parse_entry(line: &str, v1: bool) -> Option<(i64, ProducerEntry)> {
    let mut fields = line.split_whitespace();
    let pid: i64 = fields.next()?.parse().ok()?;
    let epoch: i16 = fields.next()?.parse().ok()?;
    let (coordinator_epoch, txn_first_offset, last_timestamp) = if v1 {
        let coordinator_epoch: i32 = fields.next()?.parse().ok()?;
        let txn: i64 = fields.next()?.parse().ok()?;
        let last_timestamp: i64 = fields.next()?.parse().ok()?;
        if txn < -1 {
            return None;
        }
        (
            coordinator_epoch,
            (txn >= 0).then_some(txn),
            Some(last_timestamp),
        )
    } else {
        (NO_COORDINATOR_EPOCH, None, None)
    };
    let n: usize = fields.next()?.parse().ok()?;
    if pid < 0 || n > BATCHES_TO_RETAIN {
        return None;
    }
    let mut batches = VecDeque::with_capacity(n);
    for _ in 0..n {
        batches.push_back(BatchMeta {
            first_seq: fields.next()?.parse().ok()?,
            last_seq: fields.next()?.parse().ok()?,
            first_offset: fields.next()?.parse().ok()?,
            last_offset: fields.next()?.parse().ok()?,
            timestamp: fields.next()?.parse().ok()?,
        });
    }
    if fields.next().is_some() {
        return None;
    }
    let last_timestamp = last_timestamp.unwrap_or_else(|| {
        batches
            .back()
            .map_or(NO_TIMESTAMP, |b: &BatchMeta| b.timestamp)
    });
    let entry = ProducerEntry {
        epoch,
        batches,
        coordinator_epoch,
        current_txn_first_offset: txn_first_offset,
        last_timestamp,
    };
    Some((pid, entry))
}

pub(crate) fn delete(dir: &Path, offset: i64) -> io::Result<()> {
    match fs::remove_file(dir.join(file_name(offset))) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Deletes the snapshots whose offset `doomed` selects.
pub(crate) fn delete_where(dir: &Path, doomed: impl Fn(i64) -> bool) -> io::Result<()> {
    for offset in list(dir)?.into_iter().filter(|o| doomed(*o)) {
        delete(dir, offset)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::batch::BatchHeader;

    fn header(pid: i64, epoch: i16, seq: i32, offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset: offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 1,
            base_timestamp: 10,
            max_timestamp: 11,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: 2,
        }
    }

    #[test]
    fn round_trips_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ProducerStateMap::new();
        for i in 0..7 {
            state.record(&header(3, 1, i * 2, i64::from(i) * 2));
        }
        state.record(&header(9, 0, 0, 14));
        write(dir.path(), 16, &state).unwrap();
        write(dir.path(), 4, &ProducerStateMap::new()).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![4, 16]);
        assert_eq!(read(dir.path(), 16).unwrap(), Some(state));
        assert_eq!(read(dir.path(), 4).unwrap(), Some(ProducerStateMap::new()));
        assert_eq!(read(dir.path(), 5).unwrap(), None);
        delete_where(dir.path(), |o| o < 10).unwrap();
        assert_eq!(list(dir.path()).unwrap(), vec![16]);
    }

    #[test]
    fn damaged_snapshots_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "0\n2\n1 0 0\n",
            "0\n1\n1 0 1 0 0 0\n",
            "0\n1\n1 0 0 extra\n",
            "0\n1\n1 0 6 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
            "0\n1\n-4 0 0\n",
            "0\n1\n1 99999 0\n",
        ] {
            fs::write(dir.path().join(file_name(7)), text).unwrap();
            assert_eq!(read(dir.path(), 7).unwrap(), None, "{text:?}");
        }
    }

    #[test]
    fn open_transactions_and_coordinator_epochs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ProducerStateMap::new();
        let mut open = header(3, 1, 0, 10);
        open.attributes = gregor_protocol::batch::ATTR_TRANSACTIONAL;
        state.record(&open);
        // A producer known only from a marker: no batches, a coordinator
        // epoch and a timestamp.
        state.insert(
            4,
            ProducerEntry {
                epoch: 2,
                batches: VecDeque::new(),
                coordinator_epoch: 9,
                current_txn_first_offset: None,
                last_timestamp: 77,
            },
        );
        write(dir.path(), 12, &state).unwrap();
        let text = fs::read_to_string(dir.path().join(file_name(12))).unwrap();
        assert!(text.starts_with("1\n2\n3 1 -1 10 11 1 "), "{text}");
        let read_back = read(dir.path(), 12).unwrap().unwrap();
        assert_eq!(read_back, state);
        assert_eq!(read_back.first_unstable_offset(), Some(10));
        let described = read_back.describe();
        assert_eq!(described[0].current_txn_start_offset, 10);
        assert_eq!(
            (described[1].coordinator_epoch, described[1].last_timestamp),
            (9, 77)
        );
    }

    #[test]
    fn version_0_snapshots_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(file_name(5)),
            "0\n2\n3 1 1 0 1 0 1 44\n8 0 0\n",
        )
        .unwrap();
        let state = read(dir.path(), 5).unwrap().unwrap();
        let described = state.describe();
        assert_eq!(described.len(), 2);
        assert_eq!(
            (
                described[0].last_sequence,
                described[0].last_timestamp,
                described[0].coordinator_epoch,
                described[0].current_txn_start_offset
            ),
            (1, 44, -1, -1)
        );
        assert_eq!(described[1].last_timestamp, -1);
        assert_eq!(state.first_unstable_offset(), None);
    }

    #[test]
    fn damaged_version_1_snapshots_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            // Too few fields for version 1 (a version 0 line).
            "1\n1\n1 0 0\n",
            "1\n1\n1 0 -1 -5 0 0\n",
            "1\n1\n1 0 x -1 0 0\n",
            // Two transactions open at the same offset.
            "1\n2\n1 0 0 4 0 0\n2 0 0 4 0 0\n",
            "7\n0\n",
        ] {
            fs::write(dir.path().join(file_name(7)), text).unwrap();
            assert_eq!(read(dir.path(), 7).unwrap(), None, "{text:?}");
        }
        fs::write(dir.path().join(file_name(7)), "1\n1\n1 0 3 4 9 0\n").unwrap();
        assert_eq!(
            read(dir.path(), 7)
                .unwrap()
                .unwrap()
                .first_unstable_offset(),
            Some(4)
        );
    }
}
