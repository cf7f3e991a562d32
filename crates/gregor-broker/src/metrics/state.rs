//! Every family read from broker and controller state, built when
//! `/metrics` is scraped.

use crate::server::Broker;
use prometheus_client::registry::Registry;

/// The registries of one scrape. A dedicated controller hosts no
/// partitions or groups: it reports the controller families only.
pub fn registries(broker: &Broker) -> Vec<Registry> {
    let mut out = vec![super::controller::registry(&broker.controller)];
    if broker.config.quorum.broker {
        let lags = super::lag::consumer_lag(&broker.groups, &broker.replicas);
        out.push(super::replication::registry(&broker.replicas));
        out.push(super::exporter::topics_registry(
            &broker.controller.image(),
            &broker.replicas,
        ));
        out.push(super::exporter::groups_registry(&lags));
    }
    out
}
