//! Kafka's `TokenBucket` stat, which the controller mutation quota
//! (KIP-599) measures with, pure over explicit time: a bucket of
//! `samples * window * quota` tokens refilled at `quota` per second; a
//! mutation takes one token per partition and may drive the bucket below
//! zero, after which the quota is violated until it refills.

#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: i64,
    /// The bucket starts full: Kafka's starts empty at time 0 and its first
    /// refill (from epoch ms) fills it.
    started: bool,
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket::new()
    }
}

impl TokenBucket {
    pub fn new() -> TokenBucket {
        TokenBucket {
            tokens: 0.0,
            last_ms: 0,
            started: false,
        }
    }

    fn refill(&mut self, quota: f64, burst: f64, now_ms: i64) {
        if !self.started {
            self.tokens = burst;
            self.started = true;
        } else {
            let elapsed_s = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
            self.tokens = burst.min(self.tokens + quota * elapsed_s);
        }
        self.last_ms = now_ms;
    }

    /// The tokens left after refilling to `now_ms`.
    pub fn tokens(&mut self, quota: f64, burst: f64, now_ms: i64) -> f64 {
        self.refill(quota, burst, now_ms);
        self.tokens
    }

    /// Takes `permits` tokens (the bucket may go negative).
    pub fn take(&mut self, permits: f64, quota: f64, burst: f64, now_ms: i64) {
        self.refill(quota, burst, now_ms);
        self.tokens = burst.min(self.tokens - permits);
    }
}

/// Kafka's `ControllerMutationQuotaManager.throttleTimeMs`: how long until
/// a negative bucket is back at zero; 0 while tokens are left.
pub fn throttle_ms(tokens: f64, quota: f64) -> u64 {
    if tokens >= 0.0 || quota <= 0.0 {
        return 0;
    }
    (-tokens / quota * 1000.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_throttles_until_refilled() {
        // quota 2/s, 11 windows of 1 s: 22 tokens.
        let (quota, burst) = (2.0, 22.0);
        let mut bucket = TokenBucket::new();
        assert_eq!(bucket.tokens(quota, burst, 1_000), 22.0);
        bucket.take(30.0, quota, burst, 1_000);
        assert_eq!(bucket.tokens(quota, burst, 1_000), -8.0);
        assert_eq!(throttle_ms(-8.0, quota), 4_000);
        // Two seconds later four tokens are back.
        assert_eq!(bucket.tokens(quota, burst, 3_000), -4.0);
        // Never above the burst.
        assert_eq!(bucket.tokens(quota, burst, 100_000), 22.0);
        assert_eq!(throttle_ms(0.0, quota), 0);
    }
}
