//! `log.cleaner.io.max.bytes.per.second`: the cleaner threads together
//! read and write no faster than this, pausing inside a clean as Kafka's
//! `Throttler` does (so one large clean is spread out, not followed by a
//! long rest).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Kafka's Throttler measures the rate over windows of this length.
const WINDOW: Duration = Duration::from_millis(300);
/// A pause is slept in slices this long, so shutdown is never held up.
const SLICE: Duration = Duration::from_millis(100);

pub struct Throttler {
    bytes_per_second: f64,
    window: Mutex<(Instant, f64)>,
}

impl Throttler {
    pub fn new(bytes_per_second: f64) -> Throttler {
        Throttler {
            bytes_per_second,
            window: Mutex::new((Instant::now(), 0.0)),
        }
    }

    fn unlimited(&self) -> bool {
        !self.bytes_per_second.is_finite() || self.bytes_per_second >= f64::MAX
    }

    /// Counts `bytes` and, once a window is over, sleeps (on the calling
    /// cleaner thread) as long as it takes to bring the rate down to the
    /// limit. `stop` cuts the sleep short.
    pub fn maybe_throttle(&self, bytes: u64, stop: &dyn Fn() -> bool) {
        if self.unlimited() {
            return;
        }
        let pause = {
            let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
            window.1 += bytes as f64;
            let elapsed = window.0.elapsed();
            let due = Duration::from_secs_f64((window.1 / self.bytes_per_second).min(3600.0));
            // Checked once per window, or early when a burst is already a
            // window ahead of the limit.
            if elapsed < WINDOW && due < elapsed + WINDOW {
                return;
            }
            *window = (Instant::now() + due.saturating_sub(elapsed), 0.0);
            due.saturating_sub(elapsed)
        };
        let until = Instant::now() + pause;
        while !stop() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_rate_to_the_limit() {
        let throttler = Throttler::new(100_000.0);
        let started = Instant::now();
        // 60 KB at 100 KB/s: at least ~0.6 s, minus the last open window.
        for _ in 0..60 {
            throttler.maybe_throttle(1_000, &|| false);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn no_limit_never_sleeps() {
        let throttler = Throttler::new(f64::MAX);
        let started = Instant::now();
        throttler.maybe_throttle(u64::MAX, &|| false);
        assert!(started.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn stop_cuts_a_pause_short() {
        let throttler = Throttler::new(1.0);
        std::thread::sleep(WINDOW);
        let started = Instant::now();
        throttler.maybe_throttle(1_000_000, &|| true);
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
