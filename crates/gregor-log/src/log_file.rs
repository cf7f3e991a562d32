//! A segment's `.log` file, opened on demand within a process-wide budget of
//! open segment files.
//!
//! Kafka keeps every segment file of every partition it has written open, so
//! a broker with 100,000 used partitions needs an open-file limit above
//! 100,000 and fails with "Too many open files" below it. Gregor keeps at most
//! [`set_max_open_segment_files`] of them open at once (the broker sets it
//! from `gregor.log.open.files.max`): past it, the files not used lately are
//! closed and reopened by name on their next use. Which to close is decided
//! by a clock sweep, so using a file only sets a flag; the sweep runs when a
//! file is opened past the budget.
//!
//! Closing a file never cuts a read short: fetches in flight hold their own
//! handle ([`crate::FileSlice`]). Closing one with unsynced writes loses
//! nothing either: the data stays in the page cache, and an fsync through a
//! later handle flushes the whole file.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// Every open segment file of the process: the descriptor limit is per
/// process, so the budget is too.
static BUDGET: Budget = Budget::unlimited();

/// Identities of log files, for telling a reopened segment from the one a
/// log clean read.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Keeps at most `max` segment files open at once (at least one); files
/// opened before the call count too. Without a call the budget is unlimited.
pub fn set_max_open_segment_files(max: usize) {
    BUDGET.set_max(max);
}

/// Segment files open right now.
pub fn open_segment_files() -> usize {
    BUDGET.open_files()
}

pub(crate) struct LogFile {
    path: PathBuf,
    id: u64,
    slot: Arc<Slot>,
    budget: &'static Budget,
}

/// What the budget can close behind the segment's back.
struct Slot {
    file: Mutex<Option<Arc<File>>>,
    /// Set on every use, cleared by the sweep: a file is closed only when a
    /// whole sweep passed it unused.
    used: AtomicBool,
}

impl LogFile {
    /// Creates the file, empty, replacing whatever was there.
    pub fn create(path: PathBuf) -> io::Result<LogFile> {
        LogFile::create_in(&BUDGET, path)
    }

    fn create_in(budget: &'static Budget, path: PathBuf) -> io::Result<LogFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(LogFile::holding(budget, path, file))
    }

    /// Opens an existing file.
    pub fn open(path: PathBuf) -> io::Result<LogFile> {
        let file = open_existing(&path)?;
        Ok(LogFile::holding(&BUDGET, path, file))
    }

    fn holding(budget: &'static Budget, path: PathBuf, file: File) -> LogFile {
        let slot = Arc::new(Slot {
            file: Mutex::new(Some(Arc::new(file))),
            used: AtomicBool::new(true),
        });
        budget.opened(&slot);
        LogFile {
            path,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slot,
            budget,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unique per `LogFile`: a segment replaced by a clean gets a new one
    /// even where the file name stays.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A handle to the file, reopened if the budget closed it.
    pub fn handle(&self) -> io::Result<Arc<File>> {
        self.slot.used.store(true, Ordering::Relaxed);
        let mut file = lock(&self.slot.file);
        if let Some(open) = file.as_ref() {
            return Ok(open.clone());
        }
        let reopened = Arc::new(open_existing(&self.path)?);
        *file = Some(reopened.clone());
        drop(file);
        self.budget.opened(&self.slot);
        Ok(reopened)
    }

    /// The file's metadata, without reopening a closed file for it.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let open = lock(&self.slot.file).clone();
        match open {
            Some(file) => file.metadata(),
            None => std::fs::metadata(&self.path),
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        if lock(&self.slot.file).take().is_some() {
            self.budget.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// A poisoned lock only means another thread panicked holding it; the
/// `Option` inside is whole either way.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Budget {
    max: AtomicUsize,
    open: AtomicUsize,
    ring: Mutex<Ring>,
}

/// The open files the sweep may close, in the order it visits them.
struct Ring {
    slots: Vec<Weak<Slot>>,
    hand: usize,
}

impl Budget {
    const fn unlimited() -> Budget {
        Budget {
            max: AtomicUsize::new(usize::MAX),
            open: AtomicUsize::new(0),
            ring: Mutex::new(Ring {
                slots: Vec::new(),
                hand: 0,
            }),
        }
    }

    fn set_max(&self, max: usize) {
        self.max.store(max.max(1), Ordering::Relaxed);
        self.shrink_to_budget();
    }

    fn open_files(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Counts a file just opened into the budget, closing others if it is
    /// now over.
    fn opened(&self, slot: &Arc<Slot>) {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let mut ring = lock(&self.ring);
        ring.slots.push(Arc::downgrade(slot));
        // Files dropped while open leave dead entries; clear them out now
        // and then so the ring stays about as long as the files open.
        if ring.slots.len() > 2 * open + 1024 {
            ring.slots.retain(|s| s.strong_count() > 0);
            ring.hand = 0;
        }
        let max = self.max.load(Ordering::Relaxed);
        if open > max {
            ring.close_unused(open - max, &self.open);
        }
    }

    fn shrink_to_budget(&self) {
        let open = self.open.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        if open > max {
            lock(&self.ring).close_unused(open - max, &self.open);
        }
    }
}

impl Ring {
    /// Closes up to `excess` files that have not been used since the sweep
    /// last passed them. Gives up after two turns (every file in use).
    fn close_unused(&mut self, mut excess: usize, open: &AtomicUsize) {
        let mut steps = 2 * self.slots.len();
        while excess > 0 && steps > 0 && !self.slots.is_empty() {
            steps -= 1;
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let Some(slot) = self.slots[self.hand].upgrade() else {
                self.slots.swap_remove(self.hand);
                continue;
            };
            if slot.used.swap(false, Ordering::Relaxed) {
                self.hand += 1;
                continue;
            }
            // A slot locked right now is being used: pass it by.
            let Ok(mut file) = slot.file.try_lock() else {
                self.hand += 1;
                continue;
            };
            let closed = file.take().is_some();
            drop(file);
            self.slots.swap_remove(self.hand);
            if closed {
                open.fetch_sub(1, Ordering::Relaxed);
                excess -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A budget of the test's own: the process's one is shared by every
    /// test that opens a segment.
    fn budget() -> &'static Budget {
        Box::leak(Box::new(Budget::unlimited()))
    }

    fn is_open(file: &LogFile) -> bool {
        lock(&file.slot.file).is_some()
    }

    #[test]
    fn files_over_the_budget_are_closed_and_reopened_on_use() {
        let budget = budget();
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<LogFile> = (0..20u8)
            .map(|i| {
                let file = LogFile::create_in(budget, dir.path().join(format!("{i}.log"))).unwrap();
                file.handle().unwrap().write_all_at(&[i; 4], 0).unwrap();
                file
            })
            .collect();
        assert_eq!(budget.open_files(), 20);

        budget.set_max(5);
        assert_eq!(budget.open_files(), 5);
        assert_eq!(files.iter().filter(|f| is_open(f)).count(), 5);
        // Every file still reads what was written, reopened where needed,
        // and the budget holds while they are.
        for (i, file) in files.iter().enumerate() {
            let mut buf = [0u8; 4];
            file.handle().unwrap().read_exact_at(&mut buf, 0).unwrap();
            assert_eq!(buf, [i as u8; 4]);
            assert!(budget.open_files() <= 5, "{}", budget.open_files());
        }
        // A handle held outside keeps working after its file is closed.
        let held = files[0].handle().unwrap();
        for file in &files[1..] {
            file.handle().unwrap();
        }
        assert!(!is_open(&files[0]));
        let mut buf = [0u8; 4];
        held.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(buf, [0; 4]);
        // Writes through a reopened handle land in the same file.
        files[3].handle().unwrap().write_all_at(&[9; 2], 4).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("3.log")).unwrap(),
            [3, 3, 3, 3, 9, 9]
        );
        // Metadata of a closed file does not reopen it.
        let closed = files.iter().find(|f| !is_open(f)).unwrap();
        let open_now = budget.open_files();
        assert_eq!(closed.metadata().unwrap().len(), 4);
        assert_eq!(budget.open_files(), open_now);
        assert!(!is_open(closed));
        // Dropped files leave the count, and the ring does not keep them.
        drop(files);
        assert_eq!(budget.open_files(), 0);
        for i in 0..3000 {
            LogFile::create_in(budget, dir.path().join(format!("x{i}.log"))).unwrap();
        }
        let ring_len = lock(&budget.ring).slots.len();
        assert!(ring_len <= 1024 + 20, "{ring_len}");
    }

    #[test]
    fn a_file_used_since_the_last_sweep_is_kept() {
        let budget = budget();
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<LogFile> = (0..4)
            .map(|i| LogFile::create_in(budget, dir.path().join(format!("{i}.log"))).unwrap())
            .collect();
        // One sweep clears every flag without closing: all were just used.
        budget.set_max(4);
        for f in &files {
            f.slot.used.store(false, Ordering::Relaxed);
        }
        files[2].handle().unwrap();
        budget.set_max(1);
        assert!(is_open(&files[2]));
        assert_eq!(budget.open_files(), 1);
    }

    #[test]
    fn a_file_deleted_while_closed_reports_not_found() {
        let budget = budget();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.log");
        let file = LogFile::create_in(budget, path.clone()).unwrap();
        let other = LogFile::create_in(budget, dir.path().join("other.log")).unwrap();
        assert_ne!(file.id(), other.id());
        budget.set_max(1);
        other.handle().unwrap();
        budget.set_max(1);
        assert!(!is_open(&file));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.handle().unwrap_err().kind(), io::ErrorKind::NotFound);
        // Not recreated empty behind the log's back.
        assert!(!path.exists());
    }
}
