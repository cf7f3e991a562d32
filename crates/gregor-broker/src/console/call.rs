//! Helpers of the group, transaction and ACL pages over [`Ctx::kafka`]:
//! a request at the newest version the broker serves (so every field is
//! there), and Kafka error codes as console errors with what was being
//! done.

use super::{ConsoleError, Ctx};
use crate::handlers::api_versions;
use axum::http::StatusCode;
use gregor_protocol::error_codes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

/// Sends `body` at the newest version the broker serves.
pub async fn call(ctx: &Ctx, body: RequestKind) -> Result<ResponseKind, ConsoleError> {
    let api_key = api_key_of(&body)?;
    let version = api_versions::supported(api_key)
        .map(|range| range.max)
        .ok_or_else(|| ConsoleError::internal(format!("{api_key:?} is not served")))?;
    ctx.kafka(api_key, version, body).await
}

/// [`call`] on broker `node` of the cluster (a group's coordinator, a
/// partition's leader) as the same user; see [`super::remote`].
pub async fn call_at(
    ctx: &Ctx,
    node: i32,
    body: RequestKind,
) -> Result<ResponseKind, ConsoleError> {
    let api_key = api_key_of(&body)?;
    let mut version = api_versions::supported(api_key)
        .map(|range| range.max)
        .ok_or_else(|| ConsoleError::internal(format!("{api_key:?} is not served")))?;
    if api_key == ApiKey::WriteTxnMarkers && node != ctx.broker().config.node_id {
        // v2 (KIP-1228) has its own encoding; v1 carries the same abort.
        version = version.min(1);
    }
    ctx.kafka_at(node, api_key, version, body).await
}

/// The brokers of the cluster that serve clients (registered, not
/// fenced): where requests that every broker answers for its own share
/// (ListGroups, ListTransactions) go.
pub fn live_brokers(ctx: &Ctx) -> Vec<i32> {
    let image = ctx.broker().controller.image();
    let me = ctx.broker().config.node_id;
    let mut nodes: Vec<i32> = image
        .brokers
        .iter()
        .filter(|(id, b)| **id == me || !b.fenced)
        .map(|(id, _)| *id)
        .collect();
    if !nodes.contains(&me) {
        nodes.push(me);
    }
    nodes.sort_unstable();
    nodes
}

/// A Kafka error code, as Kafka's tools print it, after what the console
/// was doing: `deleting group g: NON_EMPTY_GROUP (68)`. The status is the
/// framework's for the code, plus: a group with members is a 409, a
/// coordinator that cannot answer yet a 503.
pub fn kafka_error(code: i16, doing: &str) -> ConsoleError {
    let status = match code {
        error_codes::NON_EMPTY_GROUP | error_codes::CONCURRENT_TRANSACTIONS => StatusCode::CONFLICT,
        error_codes::TRANSACTIONAL_ID_NOT_FOUND => StatusCode::NOT_FOUND,
        error_codes::COORDINATOR_LOAD_IN_PROGRESS
        | error_codes::NOT_COORDINATOR
        | error_codes::NOT_LEADER_OR_FOLLOWER
        | error_codes::LEADER_NOT_AVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ => ConsoleError::kafka(code, None).status,
    };
    ConsoleError::new(
        status,
        format!("{doing}: {} ({code})", gregor_client::error_name(code)),
    )
}

/// 409: the request conflicts with the current state (a reset of an
/// active group).
pub fn conflict(message: impl Into<String>) -> ConsoleError {
    ConsoleError::new(StatusCode::CONFLICT, message)
}

/// A handler answered with another response type than its request's.
pub fn unexpected(api: &str) -> ConsoleError {
    ConsoleError::internal(format!("{api} answered with another response type"))
}

fn api_key_of(body: &RequestKind) -> Result<ApiKey, ConsoleError> {
    Ok(match body {
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        RequestKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        RequestKind::ConsumerGroupDescribe(_) => ApiKey::ConsumerGroupDescribe,
        RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        RequestKind::ListOffsets(_) => ApiKey::ListOffsets,
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::ListTransactions(_) => ApiKey::ListTransactions,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::DescribeProducers(_) => ApiKey::DescribeProducers,
        RequestKind::WriteTxnMarkers(_) => ApiKey::WriteTxnMarkers,
        RequestKind::DescribeAcls(_) => ApiKey::DescribeAcls,
        RequestKind::CreateAcls(_) => ApiKey::CreateAcls,
        RequestKind::DeleteAcls(_) => ApiKey::DeleteAcls,
        RequestKind::DescribeUserScramCredentials(_) => ApiKey::DescribeUserScramCredentials,
        RequestKind::AlterUserScramCredentials(_) => ApiKey::AlterUserScramCredentials,
        _ => {
            return Err(ConsoleError::internal(
                "a request the console pages do not send",
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_read_as_the_tools_print_them() {
        let err = kafka_error(68, "deleting group g");
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert_eq!(err.message, "deleting group g: NON_EMPTY_GROUP (68)");
        assert_eq!(kafka_error(30, "x").status, StatusCode::FORBIDDEN);
        assert_eq!(kafka_error(69, "x").status, StatusCode::NOT_FOUND);
        assert_eq!(kafka_error(14, "x").status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
