//! Swapping cleaned segments in, crash-safely, as Kafka does with its
//! `.cleaned` and `.swap` suffixes.
//!
//! A clean writes `<base>.log.cleaned` (and `<base>.txnindex.cleaned` when
//! it keeps aborted transactions), fsyncs them, renames the index then the
//! log to `.swap`, renames the files of the segments it replaces to
//! `<name>.deleted` (removed after the partition's lock is released: freeing
//! a big file takes time), and renames the swap files to their final names. Its offset and time indexes, written with
//! the log as `<base>.index.cleaned` and `<base>.timeindex.cleaned`, are
//! renamed into place last; they are no part of the commit: a crash that
//! leaves them behind removes them, and opening the segment rebuilds
//! whichever index is missing.
//!
//! The rename of `<base>.log.cleaned` to `<base>.log.swap` is the commit
//! point. At open, [`recover`] undoes a clean that had not reached it (any
//! `.cleaned` file) and completes one that had (a `.log.swap` file: the
//! segments it covers are deleted, the swap files renamed); every
//! `.deleted` file left is removed.

use crate::partition::sync_dir;
use crate::scan::{HeaderScanner, Step};
use crate::segment::{segment_path, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::txn_index::TXN_INDEX_SUFFIX;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

pub(crate) const CLEANED: &str = "cleaned";
pub(crate) const SWAP: &str = "swap";
/// A replaced segment's file, renamed under the lock and removed after it.
pub(crate) const DELETED: &str = "deleted";

/// `<base>.<suffix>.<stage>`.
pub(crate) fn staged_path(dir: &Path, base: i64, suffix: &str, stage: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}.{stage}"))
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes a segment's four files.
pub(crate) fn remove_segment_files(dir: &Path, base: i64) -> io::Result<()> {
    for suffix in [
        LOG_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        TXN_INDEX_SUFFIX,
    ] {
        remove_if_exists(&segment_path(dir, base, suffix))?;
    }
    Ok(())
}

/// Step two, first half: the transaction index goes first so a committed
/// swap always has it.
pub(crate) fn commit_index(dir: &Path, base: i64) -> io::Result<()> {
    rename_if_exists(
        &staged_path(dir, base, TXN_INDEX_SUFFIX, CLEANED),
        &staged_path(dir, base, TXN_INDEX_SUFFIX, SWAP),
    )
}

/// Step two, second half: the commit point.
pub(crate) fn commit_log(dir: &Path, base: i64) -> io::Result<()> {
    fs::rename(
        staged_path(dir, base, LOG_SUFFIX, CLEANED),
        staged_path(dir, base, LOG_SUFFIX, SWAP),
    )?;
    sync_dir(dir)
}

/// Last step, after the replaced segments are gone: the log first, so a
/// leftover index swap without a log swap or a cleaned log means "finish".
pub(crate) fn install_log(dir: &Path, base: i64) -> io::Result<()> {
    fs::rename(
        staged_path(dir, base, LOG_SUFFIX, SWAP),
        segment_path(dir, base, LOG_SUFFIX),
    )
}

pub(crate) fn install_index(dir: &Path, base: i64) -> io::Result<()> {
    rename_if_exists(
        &staged_path(dir, base, TXN_INDEX_SUFFIX, SWAP),
        &segment_path(dir, base, TXN_INDEX_SUFFIX),
    )?;
    sync_dir(dir)
}

/// After the log and its transaction index: the offset and time indexes
/// written with the cleaned log, so opening it needs no rebuild.
pub(crate) fn install_offset_indexes(dir: &Path, base: i64) -> io::Result<()> {
    for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        fs::rename(
            staged_path(dir, base, suffix, CLEANED),
            segment_path(dir, base, suffix),
        )?;
    }
    Ok(())
}

/// Removes a group's staged files (an abandoned or failed clean, or a
/// recovery rolling it back).
pub(crate) fn remove_staged(dir: &Path, base: i64) -> io::Result<()> {
    for suffix in [
        LOG_SUFFIX,
        TXN_INDEX_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
    ] {
        remove_if_exists(&staged_path(dir, base, suffix, CLEANED))?;
    }
    Ok(())
}

/// Offset after the last whole batch of a log file.
fn next_offset_of(path: &Path, base: i64) -> io::Result<i64> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut scanner = HeaderScanner::new(&file, 0, len);
    let mut next = base;
    while let Step::Batch { header, .. } = scanner.next_step()? {
        next = header.last_offset() + 1;
    }
    Ok(next)
}

/// Finishes or rolls back the cleans a crash interrupted (see the module doc).
pub(crate) fn recover(dir: &Path) -> io::Result<()> {
    let mut cleaned = BTreeSet::new();
    let mut staged_indexes = BTreeSet::new();
    let mut retired = Vec::new();
    let mut log_swaps = BTreeSet::new();
    let mut index_swaps = BTreeSet::new();
    let mut segments = BTreeSet::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let mut parts = name.splitn(3, '.');
        let (Some(stem), Some(suffix)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(base) = parse_base(stem) else {
            continue;
        };
        match (suffix, parts.next()) {
            (_, Some(DELETED)) => retired.push(dir.join(name)),
            (INDEX_SUFFIX | TIME_INDEX_SUFFIX, Some(CLEANED)) => {
                staged_indexes.insert(base);
            }
            (_, Some(CLEANED)) => {
                cleaned.insert(base);
            }
            (LOG_SUFFIX, Some(SWAP)) => {
                log_swaps.insert(base);
            }
            (TXN_INDEX_SUFFIX, Some(SWAP)) => {
                index_swaps.insert(base);
            }
            (LOG_SUFFIX, None) => {
                segments.insert(base);
            }
            _ => {}
        }
    }
    // Segments a clean replaced, left by a crash before their removal.
    for path in &retired {
        remove_if_exists(path)?;
    }
    if cleaned.is_empty()
        && log_swaps.is_empty()
        && index_swaps.is_empty()
        && staged_indexes.is_empty()
    {
        return Ok(());
    }
    // Rebuildable: a segment whose index is missing rebuilds it at open.
    for &base in &staged_indexes {
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            remove_if_exists(&staged_path(dir, base, suffix, CLEANED))?;
        }
    }
    for &base in &cleaned {
        // Not committed: the old segments are intact.
        tracing::warn!(dir = %dir.display(), base, "rolling back an interrupted log clean");
        for suffix in [LOG_SUFFIX, TXN_INDEX_SUFFIX] {
            remove_if_exists(&staged_path(dir, base, suffix, CLEANED))?;
            remove_if_exists(&staged_path(dir, base, suffix, SWAP))?;
        }
    }
    for &base in log_swaps.iter().filter(|b| !cleaned.contains(b)) {
        tracing::warn!(dir = %dir.display(), base, "completing an interrupted log clean");
        let next = next_offset_of(&staged_path(dir, base, LOG_SUFFIX, SWAP), base)?;
        for &old in segments.range(base..next.max(base + 1)) {
            remove_segment_files(dir, old)?;
        }
        install_log(dir, base)?;
        install_index(dir, base)?;
    }
    for &base in index_swaps
        .iter()
        .filter(|b| !cleaned.contains(b) && !log_swaps.contains(b))
    {
        // The log was already installed; only its index was left.
        fs::rename(
            staged_path(dir, base, TXN_INDEX_SUFFIX, SWAP),
            segment_path(dir, base, TXN_INDEX_SUFFIX),
        )?;
    }
    sync_dir(dir)
}

fn parse_base(stem: &str) -> Option<i64> {
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}
