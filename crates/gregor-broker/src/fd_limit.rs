//! The process's open-file limit, raised to its hard limit at start-up.
//!
//! A broker holds a descriptor per client connection and per open segment
//! file, so the usual soft limit of 1024 runs out long before the machine
//! does. The JVM raises its soft limit to the hard limit by itself on Linux
//! (`-XX:+MaxFDLimit`, on by default), so a Kafka broker started by hand gets
//! the hard limit; Gregor does the same so it runs under the same `ulimit -Hn`.

/// How many segment files the broker keeps open at once: `configured`, or
/// when it is 0 half the open-file limit, so client connections, sockets
/// to other brokers and every other file keep the other half.
pub fn segment_file_budget(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    let limit = current_limit().map_or(1024, |l| usize::try_from(l.rlim_cur).unwrap_or(usize::MAX));
    (limit / 2).max(64)
}

fn current_limit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns the limit in
/// force afterwards, or `None` when it cannot be read.
pub fn raise_open_files_limit() -> Option<u64> {
    let limit = current_limit()?;
    if limit.rlim_cur >= limit.rlim_max {
        return Some(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        tracing::warn!(
            soft = limit.rlim_cur,
            hard = limit.rlim_max,
            "could not raise the open-file limit to its hard limit"
        );
        return Some(limit.rlim_cur);
    }
    tracing::info!(
        from = limit.rlim_cur,
        to = limit.rlim_max,
        "raised the open-file limit to its hard limit"
    );
    Some(limit.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_segment_file_budget_is_the_setting_or_half_the_limit() {
        assert_eq!(segment_file_budget(37), 37);
        // At the hard limit already, so a test raising it meanwhile changes nothing.
        raise_open_files_limit();
        let soft = current_limit().unwrap().rlim_cur as usize;
        assert_eq!(segment_file_budget(0), (soft / 2).max(64));
    }

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let now = raise_open_files_limit().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(now, limit.rlim_cur);
    }
}
