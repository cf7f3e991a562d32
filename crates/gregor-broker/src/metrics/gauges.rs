//! Small helpers to build the families read from state at scrape time:
//! each value is set once into a registry made for that scrape.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Label pairs in the order they are written.
pub type Labels = Vec<(String, String)>;
pub type GaugeFamily = Family<Labels, Gauge>;
pub type FloatGaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;

/// One unlabelled gauge.
pub fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    registry.register(name, help, ConstGauge::new(value));
}

/// One unlabelled counter; `name` without `_total`, which the encoder adds.
pub fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    registry.register(name, help, ConstCounter::new(value));
}

/// A labelled gauge family registered in `registry`, to be filled.
pub fn family(registry: &mut Registry, name: &str, help: &str) -> GaugeFamily {
    let family = GaugeFamily::default();
    registry.register(name, help, family.clone());
    family
}

pub fn float_family(registry: &mut Registry, name: &str, help: &str) -> FloatGaugeFamily {
    let family = FloatGaugeFamily::default();
    registry.register(name, help, family.clone());
    family
}

/// Labels from (name, value) pairs.
pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sets `value` on the series `labels` of `family`.
pub fn set(family: &GaugeFamily, labels: Labels, value: i64) {
    family.get_or_create(&labels).set(value);
}
