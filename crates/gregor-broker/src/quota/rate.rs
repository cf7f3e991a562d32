//! Kafka's sampled `Rate` and the throttle time of a quota violation
//! (`QuotaUtils.throttleTime`), pure over explicit time.

use std::collections::VecDeque;

/// A value per second over the last `samples` windows of `window_ms`.
/// As Kafka's `Rate`, the elapsed time counts at least `samples - 1` full
/// windows, so a client's first burst is measured over the whole span.
#[derive(Debug, Clone)]
pub struct SampledRate {
    /// (window start, total recorded in it), oldest first.
    windows: VecDeque<(i64, f64)>,
    samples: usize,
    window_ms: i64,
}

impl SampledRate {
    pub fn new(samples: usize, window_ms: i64) -> SampledRate {
        SampledRate {
            windows: VecDeque::new(),
            samples: samples.max(1),
            window_ms: window_ms.max(1),
        }
    }

    /// Drops windows older than `samples` windows (Kafka's purge of
    /// obsolete samples).
    fn purge(&mut self, now_ms: i64) {
        let expire = self.samples as i64 * self.window_ms;
        while self
            .windows
            .front()
            .is_some_and(|(start, _)| now_ms - *start >= expire)
        {
            self.windows.pop_front();
        }
    }

    /// Adds `value` (negative to take back what was recorded).
    pub fn record(&mut self, value: f64, now_ms: i64) {
        self.purge(now_ms);
        match self.windows.back_mut() {
            Some((start, total)) if now_ms - *start < self.window_ms => *total += value,
            _ => {
                if self.windows.len() >= self.samples {
                    self.windows.pop_front();
                }
                self.windows.push_back((now_ms, value));
            }
        }
    }

    /// The span the rate is measured over, in ms (Kafka's `Rate.windowSize`).
    pub fn window_size_ms(&mut self, now_ms: i64) -> i64 {
        self.purge(now_ms);
        let oldest = self.windows.front().map_or(now_ms, |(start, _)| *start);
        let mut elapsed = now_ms - oldest;
        let full = elapsed / self.window_ms;
        let min_full = self.samples as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * self.window_ms;
        }
        elapsed.max(1)
    }

    /// Nothing recorded within the last `samples` windows.
    pub fn is_idle(&mut self, now_ms: i64) -> bool {
        self.purge(now_ms);
        self.windows.is_empty()
    }

    /// Per second.
    pub fn rate(&mut self, now_ms: i64) -> f64 {
        let span = self.window_size_ms(now_ms);
        let total: f64 = self.windows.iter().map(|(_, v)| v).sum();
        total * 1000.0 / span as f64
    }

    /// Kafka's throttle time for an upper bound: 0 within it, else how long
    /// the client must stay quiet for the rate to fall back to the bound:
    /// `(rate - bound) / bound * window size`.
    pub fn throttle_ms(&mut self, bound: f64, now_ms: i64) -> u64 {
        let rate = self.rate(now_ms);
        throttle_time_ms(rate, bound, self.window_size_ms(now_ms))
    }
}

/// `QuotaUtils.throttleTime`: pure so it can be checked against Kafka's.
pub fn throttle_time_ms(rate: f64, bound: f64, window_size_ms: i64) -> u64 {
    if rate <= bound || bound <= 0.0 || !rate.is_finite() {
        return 0;
    }
    ((rate - bound) / bound * window_size_ms as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_span_is_at_least_samples_minus_one_windows() {
        let mut rate = SampledRate::new(11, 1000);
        rate.record(10_000.0, 0);
        // 10000 bytes over 10 s.
        assert_eq!(rate.window_size_ms(0), 10_000);
        assert!((rate.rate(0) - 1000.0).abs() < 1e-9);
        // Past the minimum span, the real elapsed time counts.
        rate.record(0.0, 10_500);
        assert_eq!(rate.window_size_ms(10_500), 10_500);
    }

    #[test]
    fn old_windows_expire() {
        let mut rate = SampledRate::new(11, 1000);
        rate.record(5000.0, 0);
        assert!(rate.rate(10_999) > 0.0);
        assert_eq!(rate.rate(11_000), 0.0);
    }

    #[test]
    fn at_most_samples_windows_are_kept() {
        let mut rate = SampledRate::new(3, 1000);
        for t in 0..5 {
            rate.record(1000.0, t * 1000);
        }
        // Windows at 2, 3 and 4 s: 3000 over 2 s (the minimum span).
        assert_eq!(rate.window_size_ms(4000), 2000);
        assert!((rate.rate(4000) - 1500.0).abs() < 1e-9);
    }

    #[test]
    fn throttle_time_is_kafkas() {
        // Kafka's QuotaUtilsTest: rate equal to the bound -> 0.
        assert_eq!(throttle_time_ms(16.5, 16.5, 1000), 0);
        // Twice the bound -> one more window.
        assert_eq!(throttle_time_ms(200.0, 100.0, 10_000), 10_000);
        assert_eq!(throttle_time_ms(150.0, 100.0, 10_000), 5000);
        assert_eq!(throttle_time_ms(50.0, 100.0, 10_000), 0);
        // A producer that sent 2 s worth of its quota at once over the
        // 10 s minimum span is within it; 20 s worth waits 10 s.
        let mut rate = SampledRate::new(11, 1000);
        rate.record(200.0, 0);
        assert_eq!(rate.throttle_ms(100.0, 0), 0);
        rate.record(1800.0, 0);
        assert_eq!(rate.throttle_ms(100.0, 0), 10_000);
    }

    #[test]
    fn taking_back_a_record_restores_the_rate() {
        let mut rate = SampledRate::new(11, 1000);
        rate.record(100.0, 0);
        rate.record(5000.0, 0);
        rate.record(-5000.0, 0);
        assert!((rate.rate(0) - 10.0).abs() < 1e-9);
    }
}
