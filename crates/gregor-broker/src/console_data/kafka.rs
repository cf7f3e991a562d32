//! Runs a Kafka request through the broker's own handlers, as a principal,
//! without a network round trip: the same authorization (ACLs, audit),
//! validation and persistence as a client's request.

use super::ConsoleError;
use crate::connection::ConnectionListener;
use crate::handlers::{self, api_versions, Reply};
use crate::security::{Principal, Session};
use crate::server::Broker;
use gregor_protocol::request::Request;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// The client id the console's requests carry (audit log, quotas).
pub const CLIENT_ID: &str = "gregor-console";

/// Sends requests as one principal from one address.
pub struct KafkaCaller {
    broker: Arc<Broker>,
    session: Session,
}

impl KafkaCaller {
    /// `principal` is who the console authenticated (anonymous without
    /// security); `peer` the browser's address, for the audit trail.
    pub fn new(broker: Arc<Broker>, principal: Principal, peer: SocketAddr) -> KafkaCaller {
        let listener = Arc::new(ConnectionListener {
            name: "CONSOLE".to_string(),
            is_controller: false,
            protocol: crate::config::SecurityProtocol::Plaintext,
            sasl: None,
            failed_auth_delay: std::time::Duration::ZERO,
        });
        KafkaCaller {
            broker,
            session: Session {
                peer,
                listener,
                principal,
            },
        }
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Sends `body` at the newest version the broker serves and returns the
    /// response; a request the handlers drop unanswered is a 500.
    pub async fn call(&self, body: RequestKind) -> Result<ResponseKind, ConsoleError> {
        let api_key = api_key_of(&body)?;
        let version = api_versions::supported(api_key)
            .map(|range| range.max)
            .ok_or_else(|| ConsoleError::bad_request(format!("{api_key:?} is not served")))?;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let request = Request {
            api_key,
            header,
            body,
            marker_txn_versions: Vec::new(),
        };
        match handlers::handle(&self.broker, request, &self.session).await {
            Some(Reply::Message(response)) => Ok(response),
            _ => Err(ConsoleError {
                status: 500,
                message: format!("{api_key:?} gave no response"),
            }),
        }
    }
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
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::ListTransactions(_) => ApiKey::ListTransactions,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::DescribeProducers(_) => ApiKey::DescribeProducers,
        RequestKind::WriteTxnMarkers(_) => ApiKey::WriteTxnMarkers,
        RequestKind::DescribeAcls(_) => ApiKey::DescribeAcls,
        RequestKind::CreateAcls(_) => ApiKey::CreateAcls,
        RequestKind::DeleteAcls(_) => ApiKey::DeleteAcls,
        RequestKind::DescribeUserScramCredentials(_) => ApiKey::DescribeUserScramCredentials,
        RequestKind::AlterUserScramCredentials(_) => ApiKey::AlterUserScramCredentials,
        _ => return Err(ConsoleError::bad_request("request not used by the console")),
    })
}
