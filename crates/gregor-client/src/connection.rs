//! One TCP connection to a broker: framing, correlation ids, and the
//! ApiVersions handshake that decides which version of each API to use.

use anyhow::{anyhow, bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single request may take before the client gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Responses larger than this are refused rather than allocated.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

pub struct Connection {
    address: String,
    stream: TcpStream,
    next_correlation_id: i32,
    /// api key -> (min, max) the broker serves.
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects and asks the broker which API versions it serves.
    pub async fn connect(address: &str) -> anyhow::Result<Connection> {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(address))
            .await
            .map_err(|_| anyhow!("cannot connect to {address}: timed out"))?
            .with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        let mut connection = Connection {
            address: address.to_string(),
            stream,
            next_correlation_id: 0,
            versions: HashMap::new(),
        };
        let response = connection
            .exchange(
                ApiKey::ApiVersions,
                3,
                RequestKind::ApiVersions(api_versions_request()),
            )
            .await?;
        let ResponseKind::ApiVersions(response) = response else {
            bail!("unexpected answer to ApiVersions")
        };
        if response.error_code != 0 {
            bail!(
                "{address} refused ApiVersions (error {})",
                response.error_code
            );
        }
        connection.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(connection)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The highest version of `key` both sides speak, capped at `preferred`.
    pub fn version_for(&self, key: ApiKey, preferred: i16) -> anyhow::Result<i16> {
        let (min, max) = self
            .versions
            .get(&(key as i16))
            .copied()
            .ok_or_else(|| anyhow!("{} does not support {key:?}", self.address))?;
        let version = preferred.min(max);
        if version < min {
            bail!(
                "{} needs {key:?} v{min} or newer; this client speaks up to v{preferred}",
                self.address
            );
        }
        Ok(version)
    }

    /// Sends a request at the best common version (at most `preferred`) and
    /// returns the decoded response and the version used.
    pub async fn send(
        &mut self,
        key: ApiKey,
        preferred: i16,
        body: RequestKind,
    ) -> anyhow::Result<(ResponseKind, i16)> {
        let version = self.version_for(key, preferred)?;
        Ok((self.exchange(key, version, body).await?, version))
    }

    /// Sends a request that gets no response (produce with acks=0).
    pub async fn send_no_response(
        &mut self,
        key: ApiKey,
        preferred: i16,
        body: RequestKind,
    ) -> anyhow::Result<()> {
        let version = self.version_for(key, preferred)?;
        let frame = self.frame(key, version, &body)?;
        self.stream
            .write_all(&frame)
            .await
            .with_context(|| format!("lost connection to {}", self.address))
    }

    fn frame(&mut self, key: ApiKey, version: i16, body: &RequestKind) -> anyhow::Result<Bytes> {
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.next_correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("gregor-cli")))
            .encode(&mut buf, key.request_header_version(version))?;
        body.encode(&mut buf, version)?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Ok(buf.freeze())
    }

    async fn exchange(
        &mut self,
        key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> anyhow::Result<ResponseKind> {
        let frame = self.frame(key, version, &body)?;
        let expected = self.next_correlation_id;
        let address = self.address.clone();
        let io = async {
            self.stream.write_all(&frame).await?;
            let size = self.stream.read_i32().await?;
            if size < 0 || size as usize > MAX_RESPONSE_BYTES {
                return Err(std::io::Error::other(format!("response of {size} bytes")));
            }
            let mut body = vec![0u8; size as usize];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Bytes::from(body))
        };
        let mut response = tokio::time::timeout(REQUEST_TIMEOUT, io)
            .await
            .map_err(|_| {
                anyhow!(
                    "{address} did not answer {key:?} within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )
            })?
            .with_context(|| format!("lost connection to {address} during {key:?}"))?;
        let header = ResponseHeader::decode(&mut response, key.response_header_version(version))?;
        if header.correlation_id != expected {
            bail!(
                "{address} answered correlation id {} instead of {expected}",
                header.correlation_id
            );
        }
        let decoded = ResponseKind::decode(key, &mut response, version)?;
        if response.has_remaining() {
            tracing::debug!(
                remaining = response.remaining(),
                ?key,
                "trailing bytes in response"
            );
        }
        Ok(decoded)
    }
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("gregor"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
}
