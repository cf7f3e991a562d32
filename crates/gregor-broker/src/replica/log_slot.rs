//! A hosted partition's log, opened on first use.
//!
//! Creating a partition asks nothing of the disk: its directory and files
//! appear when something first reads or writes it. A broker told to host
//! ten thousand new partitions (one CreateTopics) therefore answers as fast
//! as the metadata is committed, and partitions nobody uses cost no file
//! descriptors. The metadata log, not the directory, says a partition
//! exists, so a crash before the first use loses nothing: the next start
//! hosts the partition again from the image, still unopened.
//!
//! Only a partition whose directory does not exist yet starts unopened: its
//! log is known to be empty (offsets 0..0), which is what the questions
//! that must not open it (log end, bounds, size) are answered from. A
//! directory left by an earlier run is opened at once, as before, since
//! its bounds are only known from its files.

use gregor_log::{LogConfig, LogError, PartitionLog};
use std::path::PathBuf;

pub enum LogSlot {
    /// Not opened yet; the log is empty.
    Unopened { dir: PathBuf, config: LogConfig },
    /// Boxed: the slot of an unopened partition stays small.
    Open(Box<PartitionLog>),
    /// Closed for good (topic deleted, partition moved away, shutdown).
    Closed,
}

impl LogSlot {
    /// The opened log, opening an unopened one first (creating its
    /// directory and empty first segment). `opened` runs once on a log
    /// just opened, before anyone else sees it (the leader assigns its
    /// epoch there).
    pub fn open(
        &mut self,
        opened: impl FnOnce(&mut PartitionLog) -> Result<(), LogError>,
    ) -> Result<Option<&mut PartitionLog>, LogError> {
        if let LogSlot::Unopened { dir, config } = self {
            let mut log = PartitionLog::open(dir, config.clone(), false)?;
            opened(&mut log)?;
            *self = LogSlot::Open(Box::new(log));
        }
        Ok(match self {
            LogSlot::Open(log) => Some(log.as_mut()),
            _ => None,
        })
    }

    /// True while the log is known empty without opening it.
    pub fn is_unopened(&self) -> bool {
        matches!(self, LogSlot::Unopened { .. })
    }

    /// The log's config, open or not.
    pub fn config(&self) -> Option<&LogConfig> {
        match self {
            LogSlot::Unopened { config, .. } => Some(config),
            LogSlot::Open(log) => Some(log.config()),
            LogSlot::Closed => None,
        }
    }

    /// Applies a topic config change, to the log or to how it will open.
    pub fn set_config(&mut self, new: &LogConfig) {
        match self {
            LogSlot::Unopened { config, .. } if config != new => *config = new.clone(),
            LogSlot::Open(log) if log.config() != new => log.set_config(new.clone()),
            _ => {}
        }
    }

    /// Closes the slot; the log if it was open (to close or delete).
    pub fn take(&mut self) -> Option<PartitionLog> {
        match std::mem::replace(self, LogSlot::Closed) {
            LogSlot::Open(log) => Some(*log),
            _ => None,
        }
    }
}
