//! A node's durable state, laid out as Kafka's KRaft does it in the metadata
//! partition directory `__cluster_metadata-0`: the `quorum-state` JSON file
//! (epoch and vote) and the replicated log as an ordinary partition log of
//! record batches (see [`super::records`]).
//!
//! The driver carries out a step's [`Output`]s with [`Store::apply`]: a
//! `Persist` is on disk (written to a temporary file, fsynced, renamed over
//! the old one, directory fsynced) before the next output is looked at, and
//! the step's appends are fsynced before `apply` returns, so before any of
//! the step's messages leave or any commit is reported.
//!
//! Snapshots are KIP-630 checkpoint files next to the log,
//! `<end offset, 20 digits>-<epoch, 10 digits>.checkpoint`, written as
//! `.checkpoint.part`, fsynced and renamed; only the newest is kept. Once
//! one is durable the log start offset moves to its end offset (segments
//! wholly below it are deleted). At open the newest valid snapshot is read
//! and the log from its end offset on.

use super::log::{EpochEndOffset, LogEntry, MemLog, Snapshot};
use super::node::Output;
use super::records;
use super::state::QuorumState;
use super::NodeId;
use crate::METADATA_DIR;
use gregor_log::{LogConfig, PartitionLog};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// The quorum-state file's name, as Kafka's FileQuorumStateStore.
pub const QUORUM_STATE_FILE: &str = "quorum-state";
const QUORUM_STATE_TMP: &str = "quorum-state.tmp";
const CHECKPOINT_SUFFIX: &str = ".checkpoint";
const PARTIAL_SUFFIX: &str = ".checkpoint.part";

/// A snapshot's file name (Kafka's Snapshots.filenameFromSnapshotId).
pub fn snapshot_file_name(id: EpochEndOffset) -> String {
    format!("{:020}-{:010}{CHECKPOINT_SUFFIX}", id.end_offset, id.epoch)
}

/// The snapshot id a file name stands for.
fn parse_snapshot_file_name(name: &str) -> Option<EpochEndOffset> {
    let stem = name.strip_suffix(CHECKPOINT_SUFFIX)?;
    let (offset, epoch) = stem.split_once('-')?;
    if offset.len() != 20 || epoch.len() != 10 {
        return None;
    }
    Some(EpochEndOffset {
        end_offset: offset.parse().ok()?,
        epoch: epoch.parse().ok()?,
    })
}

/// How much of the log one read at open asks for.
const READ_CHUNK: usize = 1024 * 1024;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("metadata log: {0}")]
    Log(#[from] gregor_log::LogError),
    #[error("quorum state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("quorum state {path} is not valid: {message}")]
    BadQuorumState { path: PathBuf, message: String },
    #[error("corrupt metadata log at offset {offset}: {message}")]
    Corrupt { offset: u64, message: String },
}

/// Kafka's QuorumStateData at data_version 0, field names as Kafka writes
/// them. The node restarts from the epoch and the vote; the leader is only
/// shown (a restarted node relearns it).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct QuorumStateFile {
    #[serde(rename = "clusterId", default)]
    cluster_id: String,
    #[serde(rename = "leaderId")]
    leader_id: i32,
    #[serde(rename = "leaderEpoch")]
    leader_epoch: i32,
    #[serde(rename = "votedId")]
    voted_id: i32,
    #[serde(rename = "appliedOffset", default)]
    applied_offset: i64,
    #[serde(rename = "currentVoters", default)]
    current_voters: Option<Vec<Voter>>,
    data_version: i16,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Voter {
    #[serde(rename = "voterId")]
    voter_id: i32,
}

/// What a node restarts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub quorum: QuorumState,
    pub log: MemLog,
    /// The newest snapshot (the file's whole content); the log starts at
    /// its end offset.
    pub snapshot: Option<Snapshot>,
}

pub struct Store {
    dir: PathBuf,
    log: PartitionLog,
    voters: Vec<NodeId>,
    unflushed: bool,
    /// What `quorum-state` holds now.
    on_disk: (QuorumState, Option<NodeId>),
}

fn log_config() -> LogConfig {
    LogConfig {
        // Flushed explicitly once per step (Store::apply), not per append.
        flush_messages: i64::MAX,
        flush_ms: i64::MAX,
        segment_bytes: 64 * 1024 * 1024,
        segment_ms: i64::MAX,
        // Nothing is deleted by retention: only a snapshot moves the log
        // start (Store::install_snapshot).
        retention_ms: -1,
        retention_bytes: -1,
        max_message_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// Opens (creating) `<metadata_dir>/__cluster_metadata-0`, recovering the
    /// log (a torn tail is cut) and reading it and the quorum state back.
    pub fn open(metadata_dir: &Path, voters: &[NodeId]) -> Result<(Store, Restored), StoreError> {
        let dir = metadata_dir.join(METADATA_DIR);
        // Always recover: the log is small, and a crash leaves no marker.
        let log = PartitionLog::open(&dir, log_config(), true)?;
        let mut log = log;
        let (quorum, leader) = read_quorum_state(&dir)?;
        let snapshot = read_latest_snapshot(&dir)?;
        if let Some(s) = &snapshot {
            // A crash may have come between storing a fetched snapshot and
            // emptying the log: keep the log only if it agrees with it.
            let end = s.id.end_offset;
            let start = u64::try_from(log.log_start_offset()).unwrap_or(0);
            let log_end = u64::try_from(log.log_end_offset()).unwrap_or(0);
            let keep = if start >= end {
                true
            } else if log_end < end {
                false
            } else {
                read_log(&log, end - 1)?
                    .first()
                    .is_some_and(|e| e.epoch == s.id.epoch)
            };
            align_log_start(&mut log, end, keep)?;
        }
        let from = snapshot.as_ref().map_or(0, |s| s.id.end_offset);
        let entries = read_log(&log, from)?;
        let store = Store {
            dir,
            log,
            voters: voters.to_vec(),
            unflushed: false,
            on_disk: (quorum, leader),
        };
        Ok((
            store,
            Restored {
                quorum,
                log: match &snapshot {
                    Some(s) => MemLog::after_snapshot(s.id, entries),
                    None => MemLog::from_entries(entries),
                },
                snapshot,
            },
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Carries out a step's disk outputs in order (sends are skipped) and
    /// fsyncs the appends before returning.
    pub fn apply(&mut self, outputs: &[Output]) -> Result<(), StoreError> {
        for output in outputs {
            match output {
                Output::Persist(state) => self.persist(*state)?,
                Output::Append { offset, entry } => self.append(*offset, entry)?,
                Output::Truncate { end_offset } => self.truncate(*end_offset)?,
                Output::InstallSnapshot { snapshot, keep_log } => {
                    // The appends before it are durable first: the log
                    // must hold what the snapshot's id says it covers.
                    self.flush()?;
                    self.install_snapshot(snapshot, *keep_log)?
                }
                Output::Send { .. } => {}
            }
        }
        self.flush()
    }

    /// Records the leader the node knows in its epoch in `quorum-state`
    /// (as Kafka's file shows it), when that changed without a `Persist`.
    /// Only informational: a restarted node relearns its leader.
    pub fn note_leader(&mut self, leader: Option<NodeId>) -> Result<(), StoreError> {
        let state = self.on_disk.0;
        if self.on_disk.1 == leader {
            return Ok(());
        }
        self.write_quorum_state(state, leader)
    }

    /// Writes the quorum state atomically and durably, keeping the leader
    /// last recorded if the epoch is the same.
    pub fn persist(&mut self, state: QuorumState) -> Result<(), StoreError> {
        let leader = if state.epoch == self.on_disk.0.epoch {
            self.on_disk.1
        } else {
            None
        };
        self.write_quorum_state(state, leader)
    }

    fn write_quorum_state(
        &mut self,
        state: QuorumState,
        leader: Option<NodeId>,
    ) -> Result<(), StoreError> {
        let file = QuorumStateFile {
            cluster_id: String::new(),
            leader_id: leader.unwrap_or(-1),
            leader_epoch: i32::try_from(state.epoch).unwrap_or(i32::MAX),
            voted_id: state.voted_for.unwrap_or(-1),
            applied_offset: 0,
            current_voters: Some(self.voters.iter().map(|v| Voter { voter_id: *v }).collect()),
            data_version: 0,
        };
        let json = serde_json::to_vec(&file).map_err(|e| StoreError::BadQuorumState {
            path: self.dir.join(QUORUM_STATE_FILE),
            message: e.to_string(),
        })?;
        let tmp = self.dir.join(QUORUM_STATE_TMP);
        let target = self.dir.join(QUORUM_STATE_FILE);
        let mut f = File::create(&tmp).map_err(io_error(&tmp))?;
        f.write_all(&json).map_err(io_error(&tmp))?;
        f.sync_all().map_err(io_error(&tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(io_error(&target))?;
        // The rename itself is durable only once the directory is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        self.on_disk = (state, leader);
        Ok(())
    }

    /// Appends one entry at `offset` (must be the log end); durable after
    /// the next [`flush`](Self::flush).
    pub fn append(&mut self, offset: u64, entry: &LogEntry) -> Result<(), StoreError> {
        let end = self.end_offset();
        if offset != end {
            return Err(StoreError::Corrupt {
                offset,
                message: format!("append is not at the log end {end}"),
            });
        }
        let now = now_ms();
        let batch = records::encode_entry(offset, entry, &self.voters, now)
            .map_err(|message| StoreError::Corrupt { offset, message })?;
        self.log.append_replicated(&batch, now)?;
        self.unflushed = true;
        Ok(())
    }

    /// Drops every entry at or after `end_offset` (durably).
    pub fn truncate(&mut self, end_offset: u64) -> Result<(), StoreError> {
        let offset = i64::try_from(end_offset).unwrap_or(i64::MAX);
        self.log.truncate_to(offset)?;
        Ok(())
    }

    /// Writes the snapshot file durably (temporary file, fsync, rename,
    /// directory fsync), then moves the log start to its end offset
    /// (restarting the log empty there unless `keep_log`) and deletes older
    /// snapshot files.
    pub fn install_snapshot(
        &mut self,
        snapshot: &Snapshot,
        keep_log: bool,
    ) -> Result<(), StoreError> {
        let name = snapshot_file_name(snapshot.id);
        let target = self.dir.join(&name);
        let tmp = self.dir.join(format!(
            "{}{PARTIAL_SUFFIX}",
            name.trim_end_matches(CHECKPOINT_SUFFIX)
        ));
        let mut f = File::create(&tmp).map_err(io_error(&tmp))?;
        f.write_all(&snapshot.data).map_err(io_error(&tmp))?;
        f.sync_all().map_err(io_error(&tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(io_error(&target))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        align_log_start(&mut self.log, snapshot.id.end_offset, keep_log)?;
        for (id, path) in snapshot_files(&self.dir)? {
            if id != snapshot.id {
                fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(())
    }

    /// fsyncs the appends made since the last flush.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if self.unflushed {
            self.log.flush()?;
            self.unflushed = false;
        }
        Ok(())
    }

    pub fn end_offset(&self) -> u64 {
        u64::try_from(self.log.log_end_offset()).unwrap_or(0)
    }

    /// Flushes and closes cleanly.
    pub fn close(self) -> Result<(), StoreError> {
        Ok(self.log.close()?)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn read_quorum_state(dir: &Path) -> Result<(QuorumState, Option<NodeId>), StoreError> {
    let path = dir.join(QUORUM_STATE_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((QuorumState::default(), None))
        }
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let bad = |message: String| StoreError::BadQuorumState {
        path: path.clone(),
        message,
    };
    let file: QuorumStateFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let epoch = u32::try_from(file.leader_epoch)
        .map_err(|_| bad(format!("negative leaderEpoch {}", file.leader_epoch)))?;
    let state = QuorumState {
        epoch,
        voted_for: (file.voted_id >= 0).then_some(file.voted_id),
    };
    Ok((state, (file.leader_id >= 0).then_some(file.leader_id)))
}

/// Moves the log start to a snapshot's end offset: segments wholly below
/// it go; a log that ends before it (or whose tail is not to be kept)
/// restarts empty there.
fn align_log_start(
    log: &mut PartitionLog,
    end_offset: u64,
    keep_log: bool,
) -> Result<(), StoreError> {
    let offset = i64::try_from(end_offset).unwrap_or(i64::MAX);
    if !keep_log || offset > log.log_end_offset() {
        log.truncate_fully_and_start_at(offset)?;
    } else {
        log.advance_log_start_offset(offset)?;
    }
    Ok(())
}

/// The snapshot files in `dir` (leftover partial ones are removed).
fn snapshot_files(dir: &Path) -> Result<Vec<(EpochEndOffset, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for item in fs::read_dir(dir).map_err(io_error(dir))? {
        let item = item.map_err(io_error(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(PARTIAL_SUFFIX) {
            let path = item.path();
            fs::remove_file(&path).map_err(io_error(&path))?;
        } else if let Some(id) = parse_snapshot_file_name(name) {
            found.push((id, item.path()));
        }
    }
    found.sort_by_key(|(id, _)| (id.end_offset, id.epoch));
    Ok(found)
}

/// The newest snapshot whose content is whole (header to footer).
fn read_latest_snapshot(dir: &Path) -> Result<Option<Snapshot>, StoreError> {
    for (id, path) in snapshot_files(dir)?.into_iter().rev() {
        let data = fs::read(&path).map_err(io_error(&path))?;
        match records::decode_snapshot(&data) {
            Ok(_) => {
                return Ok(Some(Snapshot {
                    id,
                    data: data.into(),
                }))
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "ignoring an invalid snapshot file")
            }
        }
    }
    Ok(None)
}

/// Every entry of the log from `from` on (0, or the snapshot's end offset,
/// where the log must then start at or before).
fn read_log(log: &PartitionLog, from: u64) -> Result<Vec<LogEntry>, StoreError> {
    let start = u64::try_from(log.log_start_offset()).unwrap_or(0);
    let end = log.log_end_offset();
    if start > from {
        return Err(StoreError::Corrupt {
            offset: start,
            message: format!("the log starts after {from} and no snapshot covers the gap"),
        });
    }
    let mut entries = Vec::new();
    let mut next = i64::try_from(from).unwrap_or(i64::MAX);
    while next < end {
        let read = log.read(next, READ_CHUNK, end, true)?;
        let offset = u64::try_from(next).unwrap_or(0);
        let decoded = records::decode_entries(&read.records)
            .map_err(|message| StoreError::Corrupt { offset, message })?;
        let before = next;
        for (offset, entry) in decoded {
            let expected = from + entries.len() as u64;
            if offset < expected {
                continue;
            }
            if offset != expected {
                return Err(StoreError::Corrupt {
                    offset,
                    message: format!("expected offset {expected}"),
                });
            }
            entries.push(entry);
            next = offset as i64 + 1;
        }
        if next == before {
            return Err(StoreError::Corrupt {
                offset,
                message: "reading the log made no progress".into(),
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kraft::log::Payload;
    use bytes::Bytes;

    fn data(epoch: u32, text: &'static str) -> LogEntry {
        LogEntry {
            epoch,
            payload: Payload::Data(Bytes::from_static(text.as_bytes())),
        }
    }

    fn leader_change(epoch: u32, leader: NodeId) -> LogEntry {
        LogEntry {
            epoch,
            payload: Payload::LeaderChange { leader },
        }
    }

    fn append_all(store: &mut Store, entries: &[LogEntry]) {
        let base = store.end_offset();
        let outputs: Vec<Output> = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| Output::Append {
                offset: base + i as u64,
                entry: entry.clone(),
            })
            .collect();
        store.apply(&outputs).unwrap();
    }

    #[test]
    fn a_fresh_store_is_empty_in_epoch_zero() {
        let dir = tempfile::tempdir().unwrap();
        let (_, restored) = Store::open(dir.path(), &[1, 2, 3]).unwrap();
        assert_eq!(restored.quorum, QuorumState::default());
        assert!(restored.log.entries().is_empty());
    }

    #[test]
    fn state_and_entries_survive_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path(), &[1, 2, 3]).unwrap();
        let entries = vec![leader_change(2, 1), data(2, "a"), data(2, "b")];
        store
            .apply(&[Output::Persist(QuorumState {
                epoch: 2,
                voted_for: Some(1),
            })])
            .unwrap();
        append_all(&mut store, &entries);
        drop(store); // no close: a crash

        let (mut store, restored) = Store::open(dir.path(), &[1, 2, 3]).unwrap();
        assert_eq!(
            restored.quorum,
            QuorumState {
                epoch: 2,
                voted_for: Some(1)
            }
        );
        assert_eq!(restored.log.entries(), &entries[..]);

        // A follower truncates a diverged suffix and appends the leader's.
        store
            .apply(&[
                Output::Persist(QuorumState {
                    epoch: 3,
                    voted_for: None,
                }),
                Output::Truncate { end_offset: 2 },
                Output::Append {
                    offset: 2,
                    entry: leader_change(3, 2),
                },
            ])
            .unwrap();
        drop(store);
        let (store, restored) = Store::open(dir.path(), &[1, 2, 3]).unwrap();
        assert_eq!(restored.quorum.epoch, 3);
        assert_eq!(restored.quorum.voted_for, None);
        assert_eq!(
            restored.log.entries(),
            &[leader_change(2, 1), data(2, "a"), leader_change(3, 2)]
        );
        store.close().unwrap();
    }

    #[test]
    fn the_quorum_state_file_is_kafkas_json() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path(), &[1, 2]).unwrap();
        store
            .persist(QuorumState {
                epoch: 7,
                voted_for: Some(2),
            })
            .unwrap();
        let path = dir.path().join(METADATA_DIR).join(QUORUM_STATE_FILE);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["leaderEpoch"], 7);
        assert_eq!(json["votedId"], 2);
        assert_eq!(json["leaderId"], -1);
        // The leader it then follows is shown too, and kept by a Persist of
        // the same epoch.
        store.note_leader(Some(2)).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            (json["leaderId"].as_i64(), json["leaderEpoch"].as_i64()),
            (Some(2), Some(7))
        );
        assert_eq!(json["data_version"], 0);
        assert_eq!(json["currentVoters"][1]["voterId"], 2);
        assert!(!dir
            .path()
            .join(METADATA_DIR)
            .join(QUORUM_STATE_TMP)
            .exists());

        // A file written by Kafka reads back too.
        std::fs::write(
            &path,
            br#"{"clusterId":"","leaderId":3,"leaderEpoch":9,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":3}],"data_version":0}"#,
        )
        .unwrap();
        drop(store);
        let (_, restored) = Store::open(dir.path(), &[1, 2]).unwrap();
        assert_eq!(
            restored.quorum,
            QuorumState {
                epoch: 9,
                voted_for: None
            }
        );
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            Store::open(dir.path(), &[1, 2]),
            Err(StoreError::BadQuorumState { .. })
        ));
    }

    #[test]
    fn a_torn_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path(), &[1]).unwrap();
        append_all(
            &mut store,
            &[leader_change(1, 1), data(1, "a"), data(1, "b")],
        );
        drop(store);
        let segment = dir.path().join(METADATA_DIR).join(format!("{:020}.log", 0));
        let len = std::fs::metadata(&segment).unwrap().len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap();
        file.set_len(len - 3).unwrap();
        drop(file);

        let (mut store, restored) = Store::open(dir.path(), &[1]).unwrap();
        assert_eq!(restored.log.entries(), &[leader_change(1, 1), data(1, "a")]);
        assert_eq!(store.end_offset(), 2);
        append_all(&mut store, &[data(1, "c")]);
        drop(store);
        let (_, restored) = Store::open(dir.path(), &[1]).unwrap();
        assert_eq!(
            restored.log.entries(),
            &[leader_change(1, 1), data(1, "a"), data(1, "c")]
        );
    }

    #[test]
    fn a_single_voter_metadata_log_reads_back_as_epoch_zero_entries() {
        // What the broker wrote before the quorum runtime: several records
        // per batch, partitionLeaderEpoch 0, no quorum-state file.
        let dir = tempfile::tempdir().unwrap();
        let mut old = crate::MetadataLog::open(dir.path(), false, |_, _| Ok(())).unwrap();
        old.commit(&[Bytes::from_static(b"a"), Bytes::from_static(b"b")])
            .unwrap();
        old.commit(&[Bytes::from_static(b"c")]).unwrap();
        old.close().unwrap();
        let (mut store, restored) = Store::open(dir.path(), &[1]).unwrap();
        assert_eq!(restored.quorum, QuorumState::default());
        assert_eq!(
            restored.log.entries(),
            &[data(0, "a"), data(0, "b"), data(0, "c")]
        );
        // The quorum goes on after them.
        append_all(&mut store, &[leader_change(1, 1)]);
        drop(store);
        let (_, restored) = Store::open(dir.path(), &[1]).unwrap();
        assert_eq!(restored.log.end_offset(), 4);
    }

    fn snapshot(end_offset: u64, epoch: u32, text: &'static str) -> Snapshot {
        let data =
            records::encode_snapshot(epoch, &Bytes::from_static(text.as_bytes()), 0).unwrap();
        Snapshot {
            id: EpochEndOffset { epoch, end_offset },
            data,
        }
    }

    #[test]
    fn a_snapshot_moves_the_log_start_and_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path(), &[1]).unwrap();
        let entries = vec![
            leader_change(1, 1),
            data(1, "a"),
            data(1, "b"),
            data(1, "c"),
        ];
        append_all(&mut store, &entries);
        store
            .apply(&[Output::InstallSnapshot {
                snapshot: snapshot(3, 1, "ab"),
                keep_log: true,
            }])
            .unwrap();
        drop(store);
        let (mut store, restored) = Store::open(dir.path(), &[1]).unwrap();
        let s = restored.snapshot.clone().unwrap();
        assert_eq!(
            s.id,
            EpochEndOffset {
                epoch: 1,
                end_offset: 3
            }
        );
        assert_eq!(records::decode_snapshot(&s.data).unwrap(), "ab");
        assert_eq!(restored.log.start_offset(), 3);
        assert_eq!(restored.log.entries(), &[data(1, "c")]);
        assert_eq!(restored.log.end_offset(), 4);

        // A follower's fetched snapshot past its log end restarts the log
        // there; the older snapshot file goes.
        store
            .apply(&[Output::InstallSnapshot {
                snapshot: snapshot(10, 2, "abcdefg"),
                keep_log: false,
            }])
            .unwrap();
        append_all(&mut store, &[data(2, "h")]);
        drop(store);
        let (_, restored) = Store::open(dir.path(), &[1]).unwrap();
        assert_eq!(restored.snapshot.unwrap().id.end_offset, 10);
        assert_eq!(restored.log.start_offset(), 10);
        assert_eq!(restored.log.entries(), &[data(2, "h")]);
        let files: Vec<_> = std::fs::read_dir(dir.path().join(METADATA_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".checkpoint"))
            .collect();
        assert_eq!(
            files,
            [snapshot_file_name(EpochEndOffset {
                epoch: 2,
                end_offset: 10
            })]
        );
    }

    #[test]
    fn a_torn_or_diverged_snapshot_state_is_repaired_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path(), &[1]).unwrap();
        append_all(
            &mut store,
            &[leader_change(1, 1), data(1, "a"), data(1, "b")],
        );
        drop(store);
        let meta = dir.path().join(METADATA_DIR);
        // A crash after the snapshot file, before the log was emptied: the
        // log's entry below the snapshot's end is of another epoch, so the
        // log restarts at the snapshot.
        let s = snapshot(2, 3, "x");
        std::fs::write(meta.join(snapshot_file_name(s.id)), &s.data).unwrap();
        // A partial newer file is ignored and removed.
        std::fs::write(
            meta.join("00000000000000000009-0000000003.checkpoint.part"),
            b"half",
        )
        .unwrap();
        // A torn newer file (no footer) is ignored.
        let torn = snapshot(5, 3, "y");
        std::fs::write(
            meta.join(snapshot_file_name(torn.id)),
            &torn.data[..torn.data.len() - 10],
        )
        .unwrap();
        let (_, restored) = Store::open(dir.path(), &[1]).unwrap();
        assert_eq!(restored.snapshot.unwrap().id, s.id);
        assert_eq!(restored.log.start_offset(), 2);
        assert!(restored.log.entries().is_empty());
        assert!(!meta
            .join("00000000000000000009-0000000003.checkpoint.part")
            .exists());
    }

    #[test]
    fn an_append_off_the_log_end_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path(), &[1]).unwrap();
        assert!(matches!(
            store.append(3, &data(1, "x")),
            Err(StoreError::Corrupt { offset: 3, .. })
        ));
    }
}
