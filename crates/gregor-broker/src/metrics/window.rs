//! The quantiles of Kafka's request time histograms (`TotalTimeMs` and its
//! parts), which the JMX exporter shows as `quantile="0.50"` ... `"0.999"`
//! series.
//!
//! Kafka's Yammer histograms keep an exponentially decaying sample of 1028
//! values biased towards the last five minutes. This keeps the last
//! [`WINDOW`] values instead (a ring buffer): the same sample size, no bias
//! to simulate, and quantiles that are exact over those values. After a
//! burst followed by silence the quantiles stay those of the burst, as
//! Kafka's do until its sample decays.

use std::sync::Mutex;

/// Kafka's reservoir size (Yammer's `ExponentiallyDecayingReservoir`).
pub const WINDOW: usize = 1028;

/// The quantiles the JMX exporter exposes, with their label values.
pub const QUANTILES: [(f64, &str); 6] = [
    (0.50, "0.50"),
    (0.75, "0.75"),
    (0.95, "0.95"),
    (0.98, "0.98"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

/// The last [`WINDOW`] values recorded, and how many were ever recorded.
#[derive(Default)]
pub struct Window {
    inner: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    values: Vec<f64>,
    next: usize,
    count: u64,
}

impl Window {
    /// One value. The lock is held for a store and an increment.
    pub fn record(&self, value: f64) {
        let Ok(mut ring) = self.inner.lock() else {
            return;
        };
        ring.count += 1;
        if ring.values.len() < WINDOW {
            ring.values.push(value);
        } else {
            let at = ring.next;
            ring.values[at] = value;
        }
        ring.next = (ring.next + 1) % WINDOW;
    }

    /// The values ever recorded and the [`QUANTILES`] of the window (all
    /// zero while it is empty, as an unused Yammer histogram's are).
    pub fn snapshot(&self) -> (u64, [f64; QUANTILES.len()]) {
        let (count, mut values) = match self.inner.lock() {
            Ok(ring) => (ring.count, ring.values.clone()),
            Err(_) => return (0, [0.0; QUANTILES.len()]),
        };
        values.sort_by(f64::total_cmp);
        let mut out = [0.0; QUANTILES.len()];
        for (slot, (q, _)) in out.iter_mut().zip(QUANTILES) {
            *slot = quantile(&values, q);
        }
        (count, out)
    }
}

/// Yammer's `Snapshot.getValue`: linear interpolation between the two
/// values around position `q * (n + 1)` of the sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
        return 0.0;
    };
    let pos = q * (sorted.len() as f64 + 1.0);
    if pos < 1.0 {
        return *first;
    }
    if pos >= sorted.len() as f64 {
        return *last;
    }
    let lower = sorted[pos as usize - 1];
    let upper = sorted[pos as usize];
    lower + (pos - pos.floor()) * (upper - lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_window_reads_zero() {
        assert_eq!(Window::default().snapshot(), (0, [0.0; 6]));
    }

    #[test]
    fn quantiles_of_one_to_a_hundred() {
        let window = Window::default();
        for v in 1..=100 {
            window.record(f64::from(v));
        }
        let (count, q) = window.snapshot();
        assert_eq!(count, 100);
        assert!((q[0] - 50.5).abs() < 1e-9, "{q:?}");
        assert!((q[2] - 95.95).abs() < 1e-9, "{q:?}");
        assert_eq!(q[5], 100.0);
    }

    #[test]
    fn only_the_last_values_count() {
        let window = Window::default();
        for _ in 0..WINDOW {
            window.record(1000.0);
        }
        for _ in 0..WINDOW {
            window.record(1.0);
        }
        let (count, q) = window.snapshot();
        assert_eq!(count, 2 * WINDOW as u64);
        assert_eq!(q, [1.0; 6]);
    }
}
