//! DescribeLogDirs (`kafka-log-dirs --describe`): the one log directory,
//! the size of each partition in it, and the file system's total and usable
//! bytes. A single node has no followers and no future logs, so every
//! offset lag is 0 and nothing is a future replica.

use super::str_bytes;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub fn handle(broker: &Broker, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // None = every partition; otherwise only the listed ones that exist.
    let wanted: Option<BTreeSet<(String, i32)>> = request.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.to_string(), p)))
            .collect()
    });
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for partition in broker.replicas.all_partitions() {
        let key = (partition.topic.clone(), partition.index);
        if wanted.as_ref().is_some_and(|w| !w.contains(&key)) {
            continue;
        }
        // A partition closed by a concurrent delete is simply left out.
        let Ok(size) = partition.size_bytes() else {
            continue;
        };
        by_topic.entry(key.0).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(partition.index)
                .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                .with_offset_lag(0)
                .with_is_future_key(false),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(str_bytes(&name)))
                .with_partitions(partitions)
        })
        .collect();
    let dir = broker.replicas.log_dir();
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let (total, usable) = disk_space(dir).unwrap_or((-1, -1));
    let result = DescribeLogDirsResult::default()
        .with_error_code(error_codes::NONE)
        .with_log_dir(str_bytes(&absolute.to_string_lossy()))
        .with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable);
    DescribeLogDirsResponse::default()
        .with_error_code(error_codes::NONE)
        .with_results(vec![result])
}

/// (total, usable) bytes of the file system holding `dir`, as Java's
/// `FileStore.getTotalSpace` / `getUsableSpace` report them.
fn disk_space(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `stats` points to
    // writable memory of the right type; it is read only on success.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    let fragment = stats.f_frsize;
    let total = stats.f_blocks.saturating_mul(fragment);
    let usable = stats.f_bavail.saturating_mul(fragment);
    Some((
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(usable).unwrap_or(i64::MAX),
    ))
}
