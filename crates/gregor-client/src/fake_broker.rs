//! A scripted fake broker on a local socket, for unit tests of the client's
//! framing, negotiation and retry logic. Real-broker tests live in
//! crates/gregor/tests.

use bytes::Bytes;
use gregor_protocol::request::{decode_request, encode_response, Request, RequestError};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake broker does with one request.
pub enum Reply {
    /// Answer with this body, at the request's version and correlation id.
    Body(ResponseKind),
    /// Answer with this body but the wrong correlation id.
    WrongCorrelation(ResponseKind),
    /// Announce a response far over the client's limit.
    Oversized,
    /// Read the request and never answer.
    Silence,
}

pub type Script = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// The requests a fake broker saw, in order, over all connections.
pub type Seen = Arc<Mutex<Vec<(ApiKey, i16)>>>;

pub fn api_versions(error_code: i16, keys: &[(ApiKey, i16, i16)]) -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(
                keys.iter()
                    .map(|(key, min, max)| {
                        ApiVersion::default()
                            .with_api_key(*key as i16)
                            .with_min_version(*min)
                            .with_max_version(*max)
                    })
                    .collect(),
            ),
    )
}

pub fn every_version(key: ApiKey) -> Option<VersionRange> {
    Some(key.valid_versions())
}

/// Starts a fake broker accepting any number of connections. `served`
/// limits the versions it parses (others get Kafka's v0
/// UNSUPPORTED_VERSION answer to ApiVersions); `script` decides each reply.
pub async fn start(served: fn(ApiKey) -> Option<VersionRange>, script: Script) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, served, script.clone(), log.clone()));
        }
    });
    (address, seen)
}

async fn serve(
    mut stream: TcpStream,
    served: fn(ApiKey) -> Option<VersionRange>,
    script: Script,
    seen: Seen,
) {
    while let Some(frame) = read_frame(&mut stream).await {
        let request = match decode_request(frame, served) {
            Ok(request) => request,
            Err(RequestError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                version,
                correlation_id,
            }) => {
                seen.lock().unwrap().push((ApiKey::ApiVersions, version));
                let body = api_versions(35, &[(ApiKey::ApiVersions, 0, 2)]);
                let out = encode_response(ApiKey::ApiVersions, 0, correlation_id, &body);
                stream.write_all(&out.unwrap()).await.unwrap();
                continue;
            }
            Err(err) => panic!("fake broker got a bad request: {err}"),
        };
        assert_eq!(request.client_id(), "gregor-cli");
        seen.lock()
            .unwrap()
            .push((request.api_key, request.version()));
        let (body, correlation_id) = match script(&request) {
            Reply::Body(body) => (body, request.correlation_id()),
            Reply::WrongCorrelation(body) => (body, request.correlation_id() + 100),
            Reply::Oversized => {
                stream.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
                continue;
            }
            Reply::Silence => continue,
        };
        let out = encode_response(request.api_key, request.version(), correlation_id, &body);
        if stream.write_all(&out.unwrap()).await.is_err() {
            return;
        }
    }
}

async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let size = stream.read_i32().await.ok()?;
    let mut frame = vec![0u8; size as usize];
    stream.read_exact(&mut frame).await.ok()?;
    Some(Bytes::from(frame))
}
