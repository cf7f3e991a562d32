//! The connection against a scripted fake broker on a local socket: framing,
//! correlation ids, version negotiation and the failure paths.

use super::*;
use crate::fake_broker::{self, api_versions, every_version, Reply};
use gregor_protocol::request::Request;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::VersionRange;
use std::sync::Arc;

fn api_versions_up_to_2(key: ApiKey) -> Option<VersionRange> {
    match key {
        ApiKey::ApiVersions => Some(VersionRange { min: 0, max: 2 }),
        other => Some(other.valid_versions()),
    }
}

/// ApiVersions advertising Metadata v0..=9, then `then` for anything else.
fn handshake_or(request: &Request, then: fn() -> Reply) -> Reply {
    match request.api_key {
        ApiKey::ApiVersions => Reply::Body(api_versions(
            0,
            &[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 9)],
        )),
        _ => then(),
    }
}

fn metadata_answer() -> ResponseKind {
    ResponseKind::Metadata(MetadataResponse::default().with_brokers(vec![
        MetadataResponseBroker::default()
            .with_node_id(BrokerId(7))
            .with_host(StrBytes::from_static_str("broker-7"))
            .with_port(9092),
    ]))
}

fn metadata_request() -> RequestKind {
    RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![])))
}

async fn broker(
    served: fn(ApiKey) -> Option<VersionRange>,
    then: fn() -> Reply,
) -> (String, fake_broker::Seen) {
    fake_broker::start(served, Arc::new(move |r| handshake_or(r, then))).await
}

#[tokio::test]
async fn requests_round_trip_at_the_best_common_version() {
    let (address, seen) = broker(every_version, || Reply::Body(metadata_answer())).await;
    let mut connection = Connection::connect(&address).await.unwrap();
    assert_eq!(connection.version_for(ApiKey::Metadata, 12).unwrap(), 9);
    assert_eq!(connection.version_for(ApiKey::Metadata, 4).unwrap(), 4);
    assert!(connection.version_for(ApiKey::Produce, 9).is_err());
    for _ in 0..3 {
        let (response, version) = connection
            .send(ApiKey::Metadata, 12, metadata_request())
            .await
            .unwrap();
        assert_eq!(version, 9);
        let ResponseKind::Metadata(response) = response else {
            panic!("not a metadata answer")
        };
        assert_eq!(response.brokers[0].node_id, BrokerId(7));
        assert_eq!(response.brokers[0].host.as_str(), "broker-7");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], (ApiKey::ApiVersions, 3));
    assert_eq!(seen[1..], [(ApiKey::Metadata, 9); 3]);
}

/// A message type (here kafka-protocol's own; generated ones the same) is
/// encoded and decoded at the negotiated version, not a `RequestKind`.
#[tokio::test]
async fn a_message_goes_at_the_best_common_version_and_comes_back_typed() {
    let (address, seen) = broker(every_version, || Reply::Body(metadata_answer())).await;
    let mut connection = Connection::connect(&address).await.unwrap();
    let request = MetadataRequest::default().with_topics(Some(vec![]));
    let (response, version): (MetadataResponse, i16) = connection
        .send_message(ApiKey::Metadata, 12, &request)
        .await
        .unwrap();
    assert_eq!(version, 9);
    assert_eq!(response.brokers[0].node_id, BrokerId(7));
    assert_eq!(response.brokers[0].host.as_str(), "broker-7");
    assert_eq!(seen.lock().unwrap()[1..], [(ApiKey::Metadata, 9)]);
    // An API the broker does not advertise is refused before sending.
    let refused: anyhow::Result<(MetadataResponse, i16)> =
        connection.send_message(ApiKey::Produce, 9, &request).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn an_older_broker_is_asked_again_at_its_api_versions_version() {
    let (address, seen) = broker(api_versions_up_to_2, || Reply::Body(metadata_answer())).await;
    let mut connection = Connection::connect(&address).await.unwrap();
    assert_eq!(connection.version_for(ApiKey::Metadata, 12).unwrap(), 9);
    connection
        .send(ApiKey::Metadata, 12, metadata_request())
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (ApiKey::ApiVersions, 3),
            (ApiKey::ApiVersions, 2),
            (ApiKey::Metadata, 9)
        ]
    );
}

#[tokio::test]
async fn a_silent_broker_times_out_and_the_connection_is_retired() {
    let (address, _) = broker(every_version, || Reply::Silence).await;
    let mut connection = Connection::connect_with_timeout(&address, Duration::from_millis(200))
        .await
        .unwrap();
    let err = connection
        .send(ApiKey::Metadata, 12, metadata_request())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("did not answer Metadata within 200 ms"));
    assert!(!connection.is_usable());
    let err = connection
        .send(ApiKey::Metadata, 12, metadata_request())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("was lost"), "{err:#}");
}

#[tokio::test]
async fn a_connection_idle_past_the_limit_is_not_reused_and_use_keeps_it_fresh() {
    let (address, _) = broker(every_version, || Reply::Body(metadata_answer())).await;
    let mut connection = Connection::connect(&address).await.unwrap();
    connection.backdate(IDLE_LIMIT - Duration::from_secs(5));
    assert!(connection.is_usable());
    // An answered request is use: the idle clock starts again.
    connection
        .send(ApiKey::Metadata, 12, metadata_request())
        .await
        .unwrap();
    connection.backdate(IDLE_LIMIT - Duration::from_secs(5));
    assert!(connection.is_usable());
    connection.backdate(Duration::from_secs(10));
    assert!(!connection.is_usable(), "idle past the limit, still reused");
}

#[tokio::test]
async fn a_wrong_correlation_id_is_refused() {
    let (address, _) = broker(every_version, || Reply::WrongCorrelation(metadata_answer())).await;
    let mut connection = Connection::connect(&address).await.unwrap();
    let err = connection
        .send(ApiKey::Metadata, 12, metadata_request())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("correlation id"), "{err:#}");
    assert!(!connection.is_usable());
}

#[tokio::test]
async fn an_absurd_response_size_is_refused_without_allocating_it() {
    let (address, _) = broker(every_version, || Reply::Oversized).await;
    let mut connection = Connection::connect(&address).await.unwrap();
    let err = connection
        .send(ApiKey::Metadata, 12, metadata_request())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("2147483647 bytes"), "{err:#}");
}

#[tokio::test]
async fn an_unreachable_broker_is_named_in_the_error() {
    // Bind then drop, so the port is very likely closed.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let err = Connection::connect(&address).await.err().unwrap();
    assert!(format!("{err:#}").contains(&address), "{err:#}");
}

#[tokio::test]
async fn the_outgoing_socket_binds_to_the_given_local_ip() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accept = tokio::spawn(async move {
        let (_, peer) = listener.accept().await.unwrap();
        peer
    });
    let options = ConnectOptions {
        request_timeout: Duration::from_millis(200),
        local_ip: Some("127.0.0.2".parse().unwrap()),
        ..ConnectOptions::default()
    };
    // No handshake answer comes: only where the connection came from matters.
    let _ = Connection::connect_with(&address, &options).await;
    let peer = accept.await.unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.2");
}
