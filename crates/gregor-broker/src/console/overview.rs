//! `/console`: the cluster at a glance. Brokers come from DescribeCluster
//! and topics from Metadata, both through the broker's handlers (so a user
//! sees only the topics they may Describe); sizes and offsets from the
//! partitions this broker hosts.

use super::ctx::Ctx;
use super::error::ConsoleError;
use super::fmt;
use super::state::ConsoleState;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterRequest, MetadataRequest, MetadataResponse, RequestKind, ResponseKind,
};
use maud::html;

pub fn routes() -> Router<ConsoleState> {
    Router::new().route("/console", get(page))
}

/// Metadata for every topic the user may describe, through the handler.
pub async fn metadata(ctx: &Ctx) -> Result<MetadataResponse, ConsoleError> {
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    match ctx
        .kafka(ApiKey::Metadata, 12, RequestKind::Metadata(request))
        .await?
    {
        ResponseKind::Metadata(response) => Ok(response),
        _ => Err(ConsoleError::internal("unexpected answer to Metadata")),
    }
}

/// Totals over the partitions hosted here: (bytes on disk, records below
/// the high watermarks, log end offsets summed).
fn local_totals(ctx: &Ctx) -> (u64, i64) {
    let mut bytes = 0;
    let mut records = 0;
    for partition in ctx.broker().replicas.all_partitions() {
        bytes += partition.size_bytes().unwrap_or(0);
        if let Ok((start, high_watermark)) = partition.offsets() {
            records += (high_watermark - start).max(0);
        }
    }
    (bytes, records)
}

async fn page(ctx: Ctx) -> Result<Response, ConsoleError> {
    let cluster = match ctx
        .kafka(
            ApiKey::DescribeCluster,
            1,
            RequestKind::DescribeCluster(DescribeClusterRequest::default().with_endpoint_type(1)),
        )
        .await?
    {
        ResponseKind::DescribeCluster(response) => response,
        _ => {
            return Err(ConsoleError::internal(
                "unexpected answer to DescribeCluster",
            ))
        }
    };
    if cluster.error_code != 0 {
        return Err(ConsoleError::kafka(
            cluster.error_code,
            cluster.error_message.as_deref(),
        ));
    }
    let metadata = metadata(&ctx).await?;
    let topics = metadata.topics.iter().filter(|t| t.error_code == 0);
    let (mut topic_count, mut partitions, mut under_replicated, mut offline) = (0, 0, 0, 0);
    for topic in topics {
        topic_count += 1;
        for p in &topic.partitions {
            partitions += 1;
            if p.isr_nodes.len() < p.replica_nodes.len() {
                under_replicated += 1;
            }
            if p.leader_id.0 < 0 {
                offline += 1;
            }
        }
    }
    let controller = ctx.broker().controller.active_controller();
    let (bytes, records) = local_totals(&ctx);
    let throughput = super::throughput::rates(ctx.broker());
    let body = html! {
        div.cards {
            div.card { div.value #brokers { (cluster.brokers.len()) } div.label { "brokers" } }
            div.card { div.value #topics { (topic_count) } div.label { "topics" } }
            div.card { div.value #partitions { (partitions) } div.label { "partitions" } }
            div.card { div.value #urp { (under_replicated) } div.label { "under-replicated" } }
            div.card { div.value #offline { (offline) } div.label { "offline" } }
            div.card { div.value { (fmt::bytes(bytes)) } div.label { "log size on this broker" } }
            div.card { div.value { (records) } div.label { "records on this broker" } }
            @match &throughput {
                Some(t) => {
                    div.card { div.value #bytes-in { (fmt::bytes(t.bytes_in)) } div.label { "bytes in (total)" } }
                    div.card { div.value #bytes-out { (fmt::bytes(t.bytes_out)) } div.label { "bytes out (total)" } }
                }
                None => {}
            }
        }
        p.muted {
            "Cluster " code { (cluster.cluster_id.as_str()) }
            " · active controller: "
            @match controller { Some(id) => { "node " (id) }, None => { "none" } }
        }
        h2 { "Brokers" }
        table #broker-list {
            thead { tr { th { "Id" } th { "Host" } th.num { "Port" } th { "Rack" } } }
            tbody {
                @for b in &cluster.brokers {
                    tr {
                        td { (b.broker_id.0) @if b.broker_id.0 == ctx.broker().config.node_id { " (this broker)" } }
                        td { (b.host.as_str()) }
                        td.num { (b.port) }
                        td { (b.rack.as_deref().unwrap_or("-")) }
                    }
                }
            }
        }
    };
    Ok(ctx.page("Overview", "Overview", body))
}
