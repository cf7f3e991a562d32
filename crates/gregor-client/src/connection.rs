//! One TCP connection to a broker: framing, correlation ids, and the
//! ApiVersions handshake that decides which version of each API to use.

use crate::connector::Connector;
use crate::error::error_name;
use crate::sasl::{SaslClient, SaslCredentials};
use crate::tls::ClientStream;
use anyhow::{anyhow, bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use gregor_protocol::error_codes::{NONE, UNSUPPORTED_VERSION};
use gregor_protocol::write_txn_markers_v2::{self, MarkersV2};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, RequestKind, ResponseHeader,
    ResponseKind, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long any single request may take before the client gives up.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection unused this long is not reused: brokers close connections
/// idle for `connections.max.idle.ms` (10 minutes by default), so, as
/// Kafka's clients (`connections.max.idle.ms` 9 minutes), give it up first
/// rather than send into one the broker may be closing.
pub const IDLE_LIMIT: Duration = Duration::from_secs(9 * 60);
/// How long establishing the TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses larger than this are refused rather than allocated.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// The client id requests carry unless told otherwise.
const DEFAULT_CLIENT_ID: &str = "gregor-cli";
/// The newest ApiVersions this client speaks (v3 adds the client name).
const API_VERSIONS_MAX: i16 = 3;

/// How to open a [`Connection`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// For every request, the handshake included.
    pub request_timeout: Duration,
    /// For establishing the TCP connection.
    pub connect_timeout: Duration,
    /// Bind the outgoing socket to this local address (any port) so the
    /// peer, and firewall rules, see the connection come from it.
    pub local_ip: Option<IpAddr>,
    /// The client id in every request header.
    pub client_id: String,
    /// TLS for a peer's SSL listener, and a SASL login right after
    /// ApiVersions (again before the session runs out) for a SASL one.
    pub connector: Connector,
    /// The host name the peer's certificate must be valid for, when it is
    /// not the host of the address (a resolved voter address).
    pub tls_server_name: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: CONNECT_TIMEOUT,
            local_ip: None,
            client_id: DEFAULT_CLIENT_ID.to_string(),
            connector: Connector::default(),
            tls_server_name: None,
        }
    }
}

pub struct Connection {
    address: String,
    client_id: StrBytes,
    stream: Box<dyn ClientStream>,
    next_correlation_id: i32,
    /// api key -> (min, max) the broker serves.
    versions: HashMap<i16, (i16, i16)>,
    request_timeout: Duration,
    /// Set when a request failed half-way (timeout, short read): the stream
    /// may hold a stale response, so it must not be used again.
    broken: bool,
    sasl: Option<SaslCredentials>,
    /// When to re-authenticate (KIP-368): before the server's session ends.
    reauthenticate_at: Option<Instant>,
    /// When the last request was answered (or the connection opened).
    last_used: Instant,
}

impl Connection {
    /// Connects and asks the broker which API versions it serves.
    pub async fn connect(address: &str) -> anyhow::Result<Connection> {
        Self::connect_with_timeout(address, DEFAULT_REQUEST_TIMEOUT).await
    }

    /// As `connect`, with `request_timeout` for every request (the handshake
    /// included).
    pub async fn connect_with_timeout(
        address: &str,
        request_timeout: Duration,
    ) -> anyhow::Result<Connection> {
        let options = ConnectOptions {
            request_timeout,
            ..ConnectOptions::default()
        };
        Self::connect_with(address, &options).await
    }

    /// Connects as `options` say and asks the broker which API versions it
    /// serves.
    pub async fn connect_with(
        address: &str,
        options: &ConnectOptions,
    ) -> anyhow::Result<Connection> {
        let request_timeout = options.request_timeout;
        let stream = tokio::time::timeout(
            options.connect_timeout,
            open_stream(address, options.local_ip),
        )
        .await
        .map_err(|_| anyhow!("cannot connect to {address}: timed out"))?
        .with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        let stream: Box<dyn ClientStream> = match options.connector.tls() {
            None => Box::new(stream),
            Some(tls) => {
                let name = options.tls_server_name.as_deref().unwrap_or(address);
                let handshake = tls.connect(stream, name);
                let tls_stream = tokio::time::timeout(options.connect_timeout, handshake)
                    .await
                    .map_err(|_| anyhow!("TLS handshake with {address} timed out"))?
                    .with_context(|| format!("TLS handshake with {address} failed"))?;
                Box::new(tls_stream)
            }
        };
        let mut connection = Connection {
            address: address.to_string(),
            client_id: StrBytes::from_string(options.client_id.clone()),
            stream,
            next_correlation_id: 0,
            versions: HashMap::new(),
            request_timeout,
            broken: false,
            sasl: options.connector.sasl().cloned(),
            reauthenticate_at: None,
            last_used: Instant::now(),
        };
        connection.handshake().await?;
        connection.authenticate().await?;
        Ok(connection)
    }

    /// SaslHandshake v1 and SaslAuthenticate until the mechanism is done;
    /// nothing without credentials.
    async fn authenticate(&mut self) -> anyhow::Result<()> {
        let Some(credentials) = self.sasl.clone() else {
            return Ok(());
        };
        let handshake = RequestKind::SaslHandshake(
            SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_string(credentials.mechanism.clone())),
        );
        let ResponseKind::SaslHandshake(handshake) =
            self.exchange(ApiKey::SaslHandshake, 1, handshake).await?
        else {
            bail!("{} sent no SaslHandshake answer", self.address);
        };
        if handshake.error_code != NONE {
            let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
            bail!(
                "{} refused SASL mechanism {} ({}); it offers {}",
                self.address,
                credentials.mechanism,
                error_name(handshake.error_code),
                offered.join(",")
            );
        }
        let mut client = SaslClient::new(&credentials.mechanism)?;
        let mut token = client.first(&credentials)?;
        let version = self.version_for(ApiKey::SaslAuthenticate, 2)?;
        loop {
            let request = RequestKind::SaslAuthenticate(
                SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            );
            let ResponseKind::SaslAuthenticate(answer) = self
                .exchange(ApiKey::SaslAuthenticate, version, request)
                .await?
            else {
                bail!("{} sent no SaslAuthenticate answer", self.address);
            };
            if answer.error_code != NONE {
                // An OAUTHBEARER login has no user name to show.
                let who = match credentials.username.as_str() {
                    "" => credentials.mechanism.clone(),
                    name => format!("{name} with {}", credentials.mechanism),
                };
                bail!(
                    "{} refused SASL authentication as {who} ({}): {}",
                    self.address,
                    error_name(answer.error_code),
                    answer.error_message.as_deref().unwrap_or("")
                );
            }
            match client.next(&credentials, &answer.auth_bytes)? {
                Some(next) => token = next,
                None => {
                    // Kafka's clients re-authenticate at 85-95% of the
                    // lifetime; 85% leaves room for a slow exchange.
                    let lifetime = u64::try_from(answer.session_lifetime_ms).unwrap_or(0);
                    self.reauthenticate_at = (lifetime > 0)
                        .then(|| Instant::now() + Duration::from_millis(lifetime * 85 / 100));
                    return Ok(());
                }
            }
        }
    }

    /// Re-authenticates when the session is about to end.
    async fn reauthenticate_if_due(&mut self) -> anyhow::Result<()> {
        if self
            .reauthenticate_at
            .is_some_and(|at| Instant::now() >= at)
        {
            self.authenticate().await?;
        }
        Ok(())
    }

    /// One request and its decoded answer, at exactly `version`.
    async fn exchange(
        &mut self,
        key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> anyhow::Result<ResponseKind> {
        let mut payload = self.roundtrip(key, version, &body.into()).await?;
        ResponseKind::decode(key, &mut payload, version)
            .with_context(|| format!("{} sent a malformed {key:?} answer", self.address))
    }

    /// ApiVersions at our newest version; a broker that only knows older ones
    /// says so (UNSUPPORTED_VERSION, v0 body) and we ask again at its newest.
    async fn handshake(&mut self) -> anyhow::Result<()> {
        let mut response = self.api_versions(API_VERSIONS_MAX).await?;
        if response.error_code == UNSUPPORTED_VERSION {
            let theirs = response
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map_or(0, |k| k.max_version);
            response = self.api_versions(theirs.clamp(0, API_VERSIONS_MAX)).await?;
        }
        if response.error_code != NONE {
            bail!(
                "{} refused ApiVersions ({})",
                self.address,
                error_name(response.error_code)
            );
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    async fn api_versions(&mut self, version: i16) -> anyhow::Result<ApiVersionsResponse> {
        let key = ApiKey::ApiVersions;
        let body = RequestBody::Kind(RequestKind::ApiVersions(api_versions_request()));
        let mut payload = self.roundtrip(key, version, &body).await?;
        // The error answer is always v0, whatever version was asked, so look
        // at the error code before choosing how to decode the rest.
        let error_code = payload
            .get(..2)
            .map_or(0, |b| i16::from_be_bytes([b[0], b[1]]));
        let decode_version = if error_code == UNSUPPORTED_VERSION {
            0
        } else {
            version
        };
        ApiVersionsResponse::decode(&mut payload, decode_version)
            .with_context(|| format!("{} sent a malformed ApiVersions answer", self.address))
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// False once a request failed mid-way (such a connection must be
    /// dropped), or once it sat unused for [`IDLE_LIMIT`] (the broker may be
    /// closing it).
    pub fn is_usable(&self) -> bool {
        !self.broken && self.last_used.elapsed() < IDLE_LIMIT
    }

    /// Pretends the last use was `by` earlier (tests of the idle limit).
    #[cfg(test)]
    fn backdate(&mut self, by: Duration) {
        self.last_used -= by;
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
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
        body: impl Into<RequestBody>,
    ) -> anyhow::Result<(ResponseKind, i16)> {
        self.reauthenticate_if_due().await?;
        let version = self.version_for(key, preferred)?;
        let body = body.into();
        if let RequestBody::WriteTxnMarkersV2(_) = body {
            if version != write_txn_markers_v2::VERSION {
                bail!("{} does not speak WriteTxnMarkers v2", self.address);
            }
        }
        let mut payload = self.roundtrip(key, version, &body).await?;
        let body_version = write_txn_markers_v2::crate_version(key, version);
        let decoded = ResponseKind::decode(key, &mut payload, body_version)
            .with_context(|| format!("{} sent a malformed {key:?} answer", self.address))?;
        if payload.has_remaining() {
            tracing::debug!(
                remaining = payload.remaining(),
                ?key,
                "trailing bytes in response"
            );
        }
        Ok((decoded, version))
    }

    /// Sends `request` at the best common version (at most `preferred`)
    /// and decodes the answer as `Rs`: for message types kafka-protocol
    /// has no `RequestKind` for at every version (types generated from
    /// Kafka's schemas), or where the caller wants the response type itself.
    pub async fn send_message<Rq: Encodable, Rs: Decodable>(
        &mut self,
        key: ApiKey,
        preferred: i16,
        request: &Rq,
    ) -> anyhow::Result<(Rs, i16)> {
        self.reauthenticate_if_due().await?;
        let version = self.version_for(key, preferred)?;
        let mut encoded = BytesMut::new();
        request.encode(&mut encoded, version)?;
        let body = RequestBody::Encoded(encoded.freeze());
        let mut payload = self.roundtrip(key, version, &body).await?;
        let decoded = Rs::decode(&mut payload, version)
            .with_context(|| format!("{} sent a malformed {key:?} answer", self.address))?;
        Ok((decoded, version))
    }

    /// Sends a request that gets no response (produce with acks=0).
    pub async fn send_no_response(
        &mut self,
        key: ApiKey,
        preferred: i16,
        body: RequestKind,
    ) -> anyhow::Result<()> {
        self.ensure_usable()?;
        self.reauthenticate_if_due().await?;
        let version = self.version_for(key, preferred)?;
        let frame = self.frame(key, version, &body.into())?;
        let stream = &mut self.stream;
        let write = async {
            stream.write_all(&frame).await?;
            stream.flush().await
        };
        let result = tokio::time::timeout(self.request_timeout, write).await;
        match result {
            Ok(Ok(())) => {
                self.last_used = Instant::now();
                Ok(())
            }
            Ok(Err(err)) => {
                self.broken = true;
                Err(err).with_context(|| format!("lost connection to {}", self.address))
            }
            Err(_) => {
                self.broken = true;
                bail!("{} did not accept {key:?} in time", self.address)
            }
        }
    }

    fn ensure_usable(&self) -> anyhow::Result<()> {
        if self.broken {
            bail!("connection to {} was lost", self.address);
        }
        Ok(())
    }

    /// Length prefix, request header (of the version `key` needs), body.
    fn frame(&mut self, key: ApiKey, version: i16, body: &RequestBody) -> anyhow::Result<Bytes> {
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0); // patched below once the size is known
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.next_correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(&mut buf, key.request_header_version(version))?;
        match body {
            RequestBody::Kind(kind) => kind.encode(&mut buf, version)?,
            RequestBody::WriteTxnMarkersV2(markers) => {
                write_txn_markers_v2::encode(markers, &mut buf)?
            }
            RequestBody::Encoded(body) => buf.put_slice(body),
        }
        let size = i32::try_from(buf.len() - 4)
            .map_err(|_| anyhow!("{key:?} request of {} bytes is too large", buf.len()))?;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Ok(buf.freeze())
    }

    /// Writes one request and reads its response; returns the response body
    /// after the header, checked against the correlation id.
    async fn roundtrip(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &RequestBody,
    ) -> anyhow::Result<Bytes> {
        self.ensure_usable()?;
        let frame = self.frame(key, version, body)?;
        let expected = self.next_correlation_id;
        let timeout = self.request_timeout;
        let stream = &mut self.stream;
        let io = async {
            stream.write_all(&frame).await?;
            // TLS holds what was written until flushed.
            stream.flush().await?;
            let size = stream.read_i32().await?;
            if size < 0 || size as usize > MAX_RESPONSE_BYTES {
                return Err(std::io::Error::other(format!(
                    "announced a response of {size} bytes"
                )));
            }
            let mut body = vec![0u8; size as usize];
            stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Bytes::from(body))
        };
        let outcome = tokio::time::timeout(timeout, io).await;
        let mut response = match outcome {
            Ok(Ok(response)) => {
                self.last_used = Instant::now();
                response
            }
            Ok(Err(err)) => {
                self.broken = true;
                return Err(err).with_context(|| {
                    format!("lost connection to {} during {key:?}", self.address)
                });
            }
            Err(_) => {
                self.broken = true;
                bail!(
                    "{} did not answer {key:?} within {} ms",
                    self.address,
                    timeout.as_millis()
                );
            }
        };
        let header = ResponseHeader::decode(&mut response, key.response_header_version(version))
            .with_context(|| format!("{} sent a malformed response header", self.address))?;
        if header.correlation_id != expected {
            // Responses arrive in order; a mismatch means the stream is out of step.
            self.broken = true;
            bail!(
                "{} answered correlation id {} instead of {expected}",
                self.address,
                header.correlation_id
            );
        }
        Ok(response)
    }
}

/// What a request carries: a body kafka-protocol encodes, a
/// WriteTxnMarkers v2 (KIP-1228), which it cannot, or a body already
/// encoded at the version it is sent at ([`Connection::send_message`]).
#[derive(Debug, Clone)]
pub enum RequestBody {
    Kind(RequestKind),
    WriteTxnMarkersV2(MarkersV2),
    Encoded(Bytes),
}

impl From<RequestKind> for RequestBody {
    fn from(kind: RequestKind) -> Self {
        RequestBody::Kind(kind)
    }
}

/// A TCP connection to `address`, from `local_ip` when given.
async fn open_stream(address: &str, local_ip: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(local_ip) = local_ip else {
        return TcpStream::connect(address).await;
    };
    let mut last_error = None;
    for target in tokio::net::lookup_host(address).await? {
        // Only a target of the local address's family can be reached from it.
        if target.is_ipv4() != local_ip.is_ipv4() {
            continue;
        }
        let socket = if local_ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(local_ip, 0))?;
        match socket.connect(target).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{address} has no address reachable from {local_ip}"),
        )
    }))
}

fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("gregor"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests;
