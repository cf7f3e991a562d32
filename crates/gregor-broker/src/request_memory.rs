//! `queued.max.request.bytes`: a bound on the bytes of requests read and not
//! yet handled, all connections together, as Kafka's network memory pool.
//!
//! A connection takes a request's bytes from the pool once it has read the
//! request's size, before reading its body, and gives them back when the
//! request has been answered. While the pool is empty, connections that want
//! to read a request wait, as Kafka mutes its channels under memory pressure:
//! the request bytes held by the broker stay near the bound however many
//! clients send large produces at once. Like Kafka's pool (not "strict"), a
//! request is admitted whenever any memory is left, so the bytes in use may
//! exceed the bound by less than one request (`socket.request.max.bytes`,
//! which is why Kafka requires the bound to be at least that).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

pub struct RequestMemory {
    max: i64,
    available: AtomicI64,
    freed: Notify,
}

/// A request's bytes taken from the pool; given back when dropped.
pub struct Lease {
    pool: Arc<RequestMemory>,
    size: i64,
}

impl RequestMemory {
    pub fn new(max_bytes: i64) -> Arc<RequestMemory> {
        Arc::new(RequestMemory {
            max: max_bytes,
            available: AtomicI64::new(max_bytes),
            freed: Notify::new(),
        })
    }

    /// Takes `size` bytes, waiting while none are left. Cancel-safe: a
    /// cancelled wait has taken nothing.
    pub async fn acquire(self: &Arc<Self>, size: usize) -> Lease {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        loop {
            // Registered before the check, so a release between the check
            // and the wait is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let available = self.available.load(Ordering::Acquire);
            if available > 0 {
                if self
                    .available
                    .compare_exchange(
                        available,
                        available - size,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    return Lease {
                        pool: self.clone(),
                        size,
                    };
                }
                continue;
            }
            freed.await;
        }
    }

    /// Bytes left (negative when the last admitted request went over).
    pub fn available(&self) -> i64 {
        self.available.load(Ordering::Acquire)
    }

    pub fn used(&self) -> i64 {
        self.max - self.available()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.available.fetch_add(self.size, Ordering::AcqRel);
        self.pool.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn requests_wait_while_the_pool_is_empty_and_go_on_when_bytes_come_back() {
        let pool = RequestMemory::new(100);
        // Admitted while any memory is left, even past the bound.
        let first = pool.acquire(60).await;
        let second = pool.acquire(60).await;
        assert_eq!(pool.available(), -20);
        assert_eq!(pool.used(), 120);

        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire(10).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "admitted with no memory left");
        drop(first);
        // 40 left: the waiting request goes on.
        let third = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken when memory came back")
            .unwrap();
        assert_eq!(pool.available(), 30);
        drop((second, third));
        assert_eq!(pool.available(), 100);
    }

    #[tokio::test]
    async fn a_cancelled_wait_takes_nothing() {
        let pool = RequestMemory::new(10);
        let held = pool.acquire(10).await;
        let cancelled = tokio::time::timeout(Duration::from_millis(20), pool.acquire(5)).await;
        assert!(cancelled.is_err());
        drop(held);
        assert_eq!(pool.available(), 10);
    }
}
