//! Every family read from broker and controller state, built when
//! `/metrics` is scraped.

use super::lag::GroupLag;
use crate::server::Broker;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// The consumer lag of the groups coordinated here: read from the local
/// logs off the async workers (it takes the group and partition locks and
/// decodes batches), then from other brokers for partitions with no
/// replica here (see [`super::remote_lag`]). Empty on a dedicated
/// controller, which coordinates no groups.
pub async fn lags(broker: &Arc<Broker>) -> Vec<GroupLag> {
    if !broker.config.quorum.broker {
        return Vec::new();
    }
    let local = {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || {
            super::lag::consumer_lag(&broker.groups, &broker.replicas)
        })
    };
    let mut lags = match local.await {
        Ok(lags) => lags,
        Err(err) => {
            tracing::warn!(%err, "reading consumer lag failed");
            return Vec::new();
        }
    };
    super::remote_lag::fill(broker, &mut lags).await;
    lags
}

/// The registries of one scrape, with `lags` from [`lags`]. A dedicated
/// controller hosts no partitions or groups: it reports the controller
/// families only.
pub fn registries(broker: &Broker, lags: &[GroupLag]) -> Vec<Registry> {
    let mut out = vec![super::controller::registry(&broker.controller)];
    if let Some(memory) = &broker.request_memory {
        // Without queued.max.request.bytes there is no pool to show.
        let mut registry = Registry::default();
        super::gauges::gauge(
            &mut registry,
            "kafka_network_socketserver_memorypoolavailable",
            "Bytes of queued.max.request.bytes left (negative past the bound).",
            memory.available(),
        );
        super::gauges::gauge(
            &mut registry,
            "kafka_network_socketserver_memorypoolused",
            "Bytes of requests read and not yet answered.",
            memory.used(),
        );
        out.push(registry);
    }
    if broker.config.quorum.broker {
        out.push(super::replication::registry(&broker.replicas));
        out.push(super::exporter::topics_registry(
            &broker.controller.image(),
            &broker.replicas,
        ));
        out.push(super::exporter::groups_registry(lags));
    }
    out
}
