//! Opening and closing many partition logs at once, on a few threads.
//!
//! At start-up every partition with files from an earlier run is opened
//! before the broker serves (after an unclean stop each open re-reads and
//! checks the log's unflushed segment); at a clean shutdown every log is
//! flushed and closed, a few fsyncs each. Kafka spreads both over
//! `num.recovery.threads.per.data.dir` threads; so does this.

use gregor_log::{LogConfig, LogError, PartitionLog};
use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Mutex;

/// Opens every `(key, dir, config)` job on up to `threads` threads; each
/// key's outcome. A failed open fails only its own key.
pub fn open_all<K: Hash + Eq + Send>(
    jobs: Vec<(K, PathBuf, LogConfig)>,
    recover: bool,
    threads: usize,
) -> HashMap<K, Result<PartitionLog, LogError>> {
    on_threads(jobs, threads, |(key, dir, config)| {
        let log = PartitionLog::open(&dir, config, recover);
        (key, log)
    })
    .into_iter()
    .collect()
}

/// Runs `work` on every job, on up to `threads` threads; the outcomes, in
/// no particular order.
pub fn on_threads<J: Send, R: Send>(
    jobs: Vec<J>,
    threads: usize,
    work: impl Fn(J) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, jobs.len().max(1));
    if threads == 1 {
        return jobs.into_iter().map(work).collect();
    }
    // Workers take the next job until none is left: a partition with a
    // large segment to recover does not hold up the others.
    let results = Mutex::new(Vec::with_capacity(jobs.len()));
    let queue = Mutex::new(jobs.into_iter());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let job = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(job) = job else {
                    break;
                };
                let outcome = work(job);
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(outcome);
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_log_is_opened_once_whatever_the_thread_count() {
        let root = tempfile::tempdir().unwrap();
        for threads in [1, 2, 5] {
            let jobs: Vec<_> = (0..7)
                .map(|i| {
                    let dir = root.path().join(format!("t{threads}-{i}"));
                    (i, dir, LogConfig::default())
                })
                .collect();
            let opened = open_all(jobs, false, threads);
            assert_eq!(opened.len(), 7);
            for (i, log) in opened {
                let log = log.unwrap();
                assert!(log.dir().ends_with(format!("t{threads}-{i}")));
            }
        }
    }

    #[test]
    fn every_job_runs_once() {
        for threads in [1, 3, 64] {
            let mut done = on_threads((0..100).collect(), threads, |i: u32| i * 2);
            done.sort_unstable();
            assert_eq!(done, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}
