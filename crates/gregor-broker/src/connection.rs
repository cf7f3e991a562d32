//! One client connection: read a frame, decode it, answer it, in order.
//!
//! Like the Java broker, a connection handles one request at a time, so
//! responses leave in the order requests arrived even for pipelining clients.

use crate::handlers;
use crate::server::Broker;
use bytes::BytesMut;
use gregor_protocol::frame::{frame_length, LENGTH_PREFIX_LEN};
use gregor_protocol::request::{decode_request, encode_response, RequestError};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max = broker.config.socket_request_max_bytes;
    loop {
        let mut prefix = [0u8; LENGTH_PREFIX_LEN];
        tokio::select! {
            _ = shutdown.changed() => return,
            read = stream.read_exact(&mut prefix) => {
                if read.is_err() {
                    return; // peer closed
                }
            }
        }
        let size = match frame_length(prefix, max) {
            Ok(size) => size,
            Err(err) => {
                tracing::warn!(%peer, %err, "closing connection");
                return;
            }
        };
        let mut frame = BytesMut::zeroed(size);
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let request = match decode_request(frame.freeze(), handlers::api_versions::supported) {
            Ok(request) => request,
            Err(RequestError::UnsupportedVersion {
                api_key,
                version,
                correlation_id,
            }) if api_key == kafka_protocol::messages::ApiKey::ApiVersions => {
                // KIP-511: answer in v0 with the versions we do serve.
                let response = handlers::api_versions::unsupported_version_response();
                let Ok(bytes) = encode_response(api_key, 0, correlation_id, &response) else {
                    return;
                };
                tracing::debug!(%peer, version, "ApiVersions at unsupported version");
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                continue;
            }
            Err(err) => {
                tracing::warn!(%peer, %err, "closing connection");
                return;
            }
        };
        let api_key = request.api_key;
        let version = request.version();
        let correlation_id = request.correlation_id();
        let Some(response) = handlers::handle(&broker, request, peer).await else {
            continue; // acks=0 produce: no response
        };
        let bytes = match encode_response(api_key, version, correlation_id, &response) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::error!(%peer, ?api_key, version, %err, "cannot encode response; closing connection");
                return;
            }
        };
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}
