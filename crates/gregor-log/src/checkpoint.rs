//! Small per-partition checkpoint files (log start offset), written
//! atomically: temp file, fsync, rename, fsync of the directory. A reader
//! therefore sees either the old or the new value, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Kafka keeps one `log-start-offset-checkpoint` per log dir; one file per
/// partition keeps partitions independent of each other.
pub(crate) const LOG_START_OFFSET_FILE: &str = "log-start-offset";
const VERSION: &str = "0";

/// Reads a checkpointed offset; `None` if absent or unreadable (a damaged
/// checkpoint only loses the advance, the segments still bound the log).
pub(crate) fn read_offset(dir: &Path, name: &str) -> io::Result<Option<i64>> {
    let Some(lines) = read_lines(dir, name)? else {
        return Ok(None);
    };
    Ok(lines
        .first()
        .and_then(|l| l.trim().parse::<i64>().ok())
        .filter(|o| *o >= 0))
}

pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> io::Result<()> {
    write_lines(dir, name, &[offset.to_string()])
}

/// The lines after the version line; `None` if the file is absent or has
/// another version.
pub(crate) fn read_lines(dir: &Path, name: &str) -> io::Result<Option<Vec<String>>> {
    Ok(read_versioned_lines(dir, name)?.and_then(|(version, lines)| {
        if version == VERSION {
            Some(lines)
        } else {
            tracing::warn!(dir = %dir.display(), name, "ignoring checkpoint with unknown version");
            None
        }
    }))
}

/// The version line and the lines after it, for files whose format has
/// several versions; `None` if the file is absent or not text.
pub(crate) fn read_versioned_lines(
    dir: &Path,
    name: &str,
) -> io::Result<Option<(String, Vec<String>)>> {
    let text = match fs::read_to_string(dir.join(name)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default().to_string();
    Ok(Some((version, lines.map(str::to_string).collect())))
}

/// Atomically replaces the file with the version line and `lines`.
pub(crate) fn write_lines(dir: &Path, name: &str, lines: &[String]) -> io::Result<()> {
    write_versioned_lines(dir, name, VERSION, lines)
}

/// Like [`write_lines`] with another version line.
pub(crate) fn write_versioned_lines(
    dir: &Path,
    name: &str,
    version: &str,
    lines: &[String],
) -> io::Result<()> {
    write_versioned(dir, name, version, lines, true)
}

/// Like [`write_lines`] without the fsyncs: for a checkpoint whose loss
/// in a machine crash costs nothing because it is derived again at open
/// (a process crash keeps it: it is in the page cache). Still atomic
/// against a torn file: written aside and renamed.
pub(crate) fn write_lines_unsynced(dir: &Path, name: &str, lines: &[String]) -> io::Result<()> {
    write_versioned(dir, name, VERSION, lines, false)
}

fn write_versioned(
    dir: &Path,
    name: &str,
    version: &str,
    lines: &[String],
    durable: bool,
) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut text = format!("{version}\n");
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        file.write_all(text.as_bytes())?;
        if durable {
            file.sync_all()?;
        }
    }
    fs::rename(&tmp, dir.join(name))?;
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_garbage_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_offset(dir.path(), LOG_START_OFFSET_FILE).unwrap(),
            None
        );
        write_offset(dir.path(), LOG_START_OFFSET_FILE, 42).unwrap();
        assert_eq!(
            read_offset(dir.path(), LOG_START_OFFSET_FILE).unwrap(),
            Some(42)
        );
        write_offset(dir.path(), LOG_START_OFFSET_FILE, 43).unwrap();
        assert_eq!(
            read_offset(dir.path(), LOG_START_OFFSET_FILE).unwrap(),
            Some(43)
        );
        std::fs::write(dir.path().join(LOG_START_OFFSET_FILE), "0\nnope\n").unwrap();
        assert_eq!(
            read_offset(dir.path(), LOG_START_OFFSET_FILE).unwrap(),
            None
        );
    }
}
