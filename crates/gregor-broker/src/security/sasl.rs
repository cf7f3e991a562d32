//! SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners, as
//! Kafka's SaslServerAuthenticator: the connection's frames pass through a
//! [`SaslGate`] first. Until the client authenticates only ApiVersions,
//! SaslHandshake and SaslAuthenticate are served; anything else closes the
//! connection. Both handshake versions work: v1 carries the tokens in
//! SaslAuthenticate requests, v0 (old clients) as bare size-prefixed frames.
//!
//! Re-authentication (KIP-368): with `connections.max.reauth.ms` set, a
//! session lasts that long (SaslAuthenticate v1+ says so in
//! `session_lifetime_ms`); the client runs SaslHandshake/SaslAuthenticate
//! again on the open connection, and a connection whose session has
//! expired is closed at its next other request.
//!
//! The gate does not care whether TLS is underneath: it sees frames.

use super::oauthbearer::{OAuthHandle, OAuthServer, OAuthStep};
use super::plain;
use super::scram::{Mechanism, ScramServer, ScramStep};
use super::{Principal, Session};
use bytes::{BufMut, Bytes, BytesMut};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes::{
    ILLEGAL_SASL_STATE, NONE, SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM,
};
use gregor_protocol::request::{decode_request, encode_response, Request};
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The mechanisms Gregor implements as a server (GSSAPI is not).
pub const IMPLEMENTED: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// A SASL listener's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms` (or the listener's override), in order.
    pub mechanisms: Vec<String>,
    /// `connections.max.reauth.ms`; 0 means sessions never expire.
    pub max_reauth_ms: i64,
    /// `sasl.server.max.receive.size`: the largest frame taken before
    /// authentication, and the largest SASL frame at any time.
    pub max_receive_size: usize,
    /// PLAIN users of the listener's JAAS config (`user_<name>="password"`
    /// in `listener.name.<l>.plain.sasl.jaas.config`), as Kafka's PLAIN
    /// server has them: checked before the SCRAM store. They let nodes log
    /// in to a controller listener before any metadata (and so any SCRAM
    /// user) exists.
    pub plain_users: Vec<(String, String)>,
    /// OAUTHBEARER's token validation, when the listener enables it.
    pub oauth: Option<OAuthHandle>,
    /// `connection.failed.authentication.delay.ms`: how long a connection
    /// whose authentication failed stays open after the answer, as Kafka
    /// delays the close (a guessing client waits that long per attempt).
    pub failed_auth_delay: std::time::Duration,
}

// Passwords stay out of logs.
impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanisms", &self.mechanisms)
            .field("max_reauth_ms", &self.max_reauth_ms)
            .field("max_receive_size", &self.max_receive_size)
            .field("plain_users", &self.plain_users.len())
            .field("oauth", &self.oauth)
            .field("failed_auth_delay", &self.failed_auth_delay)
            .finish()
    }
}

/// What the connection does with a frame after the gate has seen it.
#[derive(Debug)]
pub enum Verdict {
    /// Serve it as usual (the client may send it).
    Serve(Bytes),
    /// The gate answered it: write these bytes and read on.
    Reply(Bytes),
    /// Write these bytes, then close (a failed authentication).
    ReplyThenClose(Bytes),
    /// Close without answering.
    Close,
}

enum Exchange {
    Plain,
    Scram(Box<ScramServer>),
    OAuthBearer(OAuthServer),
}

enum State {
    /// Waiting for SaslHandshake (ApiVersions may come first).
    Handshake,
    /// SaslHandshake accepted: tokens follow.
    Authenticate {
        mechanism: String,
        exchange: Exchange,
        /// SaslHandshake v0: the tokens come as bare frames.
        raw_tokens: bool,
    },
}

struct Authenticated {
    principal: Principal,
    mechanism: String,
    expires: Option<Instant>,
}

/// One connection's SASL state.
pub struct SaslGate {
    settings: Arc<SaslSettings>,
    state: State,
    authenticated: Option<Authenticated>,
}

/// The versions the gate answers (Kafka 4.4's).
const HANDSHAKE_VERSIONS: VersionRange = VersionRange { min: 0, max: 1 };
const AUTHENTICATE_VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

impl SaslGate {
    pub fn new(settings: Arc<SaslSettings>) -> SaslGate {
        SaslGate {
            settings,
            state: State::Handshake,
            authenticated: None,
        }
    }

    /// Looks at one frame. `image` gives the credential store; `session`
    /// takes the principal once the client authenticates.
    pub async fn on_frame(
        &mut self,
        frame: Bytes,
        image: impl FnOnce() -> Arc<MetadataImage>,
        session: &mut Session,
    ) -> Verdict {
        let too_large = frame.len() > self.settings.max_receive_size;
        if let State::Authenticate {
            raw_tokens: true, ..
        } = self.state
        {
            if too_large {
                return Verdict::Close;
            }
            return self.raw_token(frame, image(), session).await;
        }
        let Some(api_key) = peek_api_key(&frame) else {
            return Verdict::Close;
        };
        let is_sasl = matches!(api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
        // Kafka's guard against unauthenticated clients sending huge frames.
        if too_large && (is_sasl || self.authenticated.is_none()) {
            tracing::debug!(peer = %session.peer, size = frame.len(), "SASL frame too large; closing");
            return Verdict::Close;
        }
        if !is_sasl {
            let in_exchange = matches!(self.state, State::Authenticate { .. });
            return match &self.authenticated {
                // A session ends at the first other request after it expired
                // (Kafka's "expired-connections-killed").
                Some(a) if a.expires.is_some_and(|t| Instant::now() >= t) => {
                    tracing::info!(peer = %session.peer, principal = %a.principal, "SASL session expired; closing");
                    Verdict::Close
                }
                Some(_) => Verdict::Serve(frame),
                None if api_key == ApiKey::ApiVersions && !in_exchange => Verdict::Serve(frame),
                None => {
                    tracing::debug!(peer = %session.peer, ?api_key, "request before SASL authentication; closing");
                    Verdict::Close
                }
            };
        }
        let supported = |key| match key {
            ApiKey::SaslHandshake => Some(HANDSHAKE_VERSIONS),
            ApiKey::SaslAuthenticate => Some(AUTHENTICATE_VERSIONS),
            _ => None,
        };
        let Ok(request) = decode_request(frame, supported) else {
            return Verdict::Close;
        };
        match request.body {
            RequestKind::SaslHandshake(ref handshake) => {
                let mechanism = handshake.mechanism.to_string();
                self.handshake(&request, mechanism)
            }
            RequestKind::SaslAuthenticate(ref auth) => {
                let token = auth.auth_bytes.clone();
                self.authenticate(&request, token, image(), session).await
            }
            _ => Verdict::Close,
        }
    }

    fn handshake(&mut self, request: &Request, mechanism: String) -> Verdict {
        let enabled: Vec<StrBytes> = self
            .settings
            .mechanisms
            .iter()
            .map(|m| StrBytes::from_string(m.clone()))
            .collect();
        let respond = |code: i16| {
            ResponseKind::SaslHandshake(
                SaslHandshakeResponse::default()
                    .with_error_code(code)
                    .with_mechanisms(enabled.clone()),
            )
        };
        if matches!(self.state, State::Authenticate { .. }) {
            // A second handshake in the middle of an exchange.
            return reply_then_close(request, &respond(ILLEGAL_SASL_STATE));
        }
        let reauth_changes_mechanism = self
            .authenticated
            .as_ref()
            .is_some_and(|a| a.mechanism != mechanism);
        let exchange = match mechanism.as_str() {
            _ if !self.settings.mechanisms.contains(&mechanism) || reauth_changes_mechanism => {
                return reply_then_close(request, &respond(UNSUPPORTED_SASL_MECHANISM));
            }
            "PLAIN" => Exchange::Plain,
            "OAUTHBEARER" if self.settings.oauth.is_some() => {
                Exchange::OAuthBearer(OAuthServer::default())
            }
            other => match Mechanism::from_name(other) {
                Some(m) => Exchange::Scram(Box::new(ScramServer::new(m))),
                None => return reply_then_close(request, &respond(UNSUPPORTED_SASL_MECHANISM)),
            },
        };
        self.state = State::Authenticate {
            mechanism,
            exchange,
            raw_tokens: request.version() == 0,
        };
        reply(request, &respond(NONE))
    }

    async fn authenticate(
        &mut self,
        request: &Request,
        token: Bytes,
        image: Arc<MetadataImage>,
        session: &mut Session,
    ) -> Verdict {
        let failure = |code: i16, message: Option<String>| {
            ResponseKind::SaslAuthenticate(
                SaslAuthenticateResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string)),
            )
        };
        let State::Authenticate { .. } = self.state else {
            // No handshake yet: Kafka closes without answering.
            if self.authenticated.is_some() {
                // KafkaApis' answer on an authenticated connection.
                return reply(
                    request,
                    &failure(
                        ILLEGAL_SASL_STATE,
                        Some(
                            "SaslAuthenticate request received after successful authentication"
                                .into(),
                        ),
                    ),
                );
            }
            return Verdict::Close;
        };
        match self.evaluate(token, image).await {
            Err(message) => {
                tracing::info!(peer = %session.peer, "SASL authentication failed: {message}");
                reply_then_close(request, &failure(SASL_AUTHENTICATION_FAILED, Some(message)))
            }
            Ok(Evaluated::Continue(challenge)) => reply(
                request,
                &ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default()
                        .with_error_code(NONE)
                        .with_auth_bytes(Bytes::from(challenge)),
                ),
            ),
            Ok(Evaluated::Done {
                response,
                user,
                mechanism,
                expires_ms,
            }) => match self.complete(user, mechanism, expires_ms, session) {
                Err(message) => {
                    reply_then_close(request, &failure(SASL_AUTHENTICATION_FAILED, Some(message)))
                }
                Ok(lifetime_ms) => reply(
                    request,
                    &ResponseKind::SaslAuthenticate(
                        SaslAuthenticateResponse::default()
                            .with_error_code(NONE)
                            .with_auth_bytes(Bytes::from(response))
                            .with_session_lifetime_ms(lifetime_ms),
                    ),
                ),
            },
        }
    }

    /// SaslHandshake v0: a token as a bare frame, answered likewise; a
    /// failure closes the connection without a word (there is no error
    /// field), as in Kafka.
    async fn raw_token(
        &mut self,
        token: Bytes,
        image: Arc<MetadataImage>,
        session: &mut Session,
    ) -> Verdict {
        match self.evaluate(token, image).await {
            Err(message) => {
                tracing::info!(peer = %session.peer, "SASL authentication failed: {message}");
                Verdict::Close
            }
            Ok(Evaluated::Continue(challenge)) => Verdict::Reply(size_prefixed(&challenge)),
            Ok(Evaluated::Done {
                response,
                user,
                mechanism,
                expires_ms,
            }) => match self.complete(user, mechanism, expires_ms, session) {
                Err(_) => Verdict::Close,
                Ok(_) => Verdict::Reply(size_prefixed(&response)),
            },
        }
    }

    /// Runs the mechanism on a token. Key derivation is CPU work (PBKDF2
    /// for PLAIN), so it runs off the connection's runtime thread.
    async fn evaluate(
        &mut self,
        token: Bytes,
        image: Arc<MetadataImage>,
    ) -> Result<Evaluated, String> {
        let State::Authenticate {
            mechanism,
            exchange,
            raw_tokens,
        } = std::mem::replace(&mut self.state, State::Handshake)
        else {
            return Err("no SASL exchange in progress".into());
        };
        let (exchange, outcome) = match exchange {
            // Signature checks are cheap; a JWKS refresh awaits I/O.
            Exchange::OAuthBearer(mut server) => {
                let Some(oauth) = self.settings.oauth.clone() else {
                    return Err("OAUTHBEARER is not configured".into());
                };
                let outcome = match server.step(&oauth.0, &token).await {
                    Ok(OAuthStep::Challenge(c)) => Ok(Step::Continue(c)),
                    Ok(OAuthStep::Done { user, expires_ms }) => Ok(Step::Done {
                        response: Vec::new(),
                        user,
                        expires_ms: Some(expires_ms),
                    }),
                    Err(message) => Err(message),
                };
                (Exchange::OAuthBearer(server), outcome)
            }
            exchange => {
                // The exchange state moves into the blocking task and back.
                let settings = self.settings.clone();
                let task = tokio::task::spawn_blocking(move || {
                    let mut exchange = exchange;
                    let outcome = step(&mut exchange, &image, &settings.plain_users, &token);
                    (exchange, outcome)
                });
                let Ok(done) = task.await else {
                    return Err("authentication was interrupted".into());
                };
                done
            }
        };
        match outcome {
            Ok(Step::Continue(challenge)) => {
                self.state = State::Authenticate {
                    mechanism,
                    exchange,
                    raw_tokens,
                };
                Ok(Evaluated::Continue(challenge))
            }
            Ok(Step::Done {
                response,
                user,
                expires_ms,
            }) => Ok(Evaluated::Done {
                response,
                user,
                mechanism,
                expires_ms,
            }),
            Err(message) => Err(message),
        }
    }

    /// The exchange succeeded for `user`: the session's principal and how
    /// long it lasts (0: for ever). A re-authentication must keep the
    /// principal, as in Kafka. A credential that expires (an OAUTHBEARER
    /// token's `exp`, `credential_expires_ms`) bounds the session as in
    /// Kafka's SaslServerAuthenticator: the lifetime is the smaller of the
    /// token's remaining life and `connections.max.reauth.ms` (if set).
    fn complete(
        &mut self,
        user: String,
        mechanism: String,
        credential_expires_ms: Option<i64>,
        session: &mut Session,
    ) -> Result<i64, String> {
        let principal = Principal::user(user);
        if let Some(previous) = &self.authenticated {
            if previous.principal != principal {
                return Err(format!(
                    "Cannot change principals during re-authentication from {}: {}",
                    previous.principal, principal
                ));
            }
        }
        let lifetime_ms = session_lifetime_ms(
            self.settings.max_reauth_ms,
            credential_expires_ms,
            super::oauthbearer::now_ms(),
        );
        let expires = (lifetime_ms > 0 || credential_expires_ms.is_some())
            .then(|| Instant::now().checked_add(Duration::from_millis(lifetime_ms as u64)))
            .flatten();
        let reauthentication = self.authenticated.is_some();
        tracing::debug!(peer = %session.peer, %principal, %mechanism, reauthentication, "SASL authenticated");
        session.principal = principal.clone();
        self.authenticated = Some(Authenticated {
            principal,
            mechanism,
            expires,
        });
        Ok(lifetime_ms)
    }
}

/// What the connection does next with a frame the gate has seen.
pub enum Admit {
    /// Serve this frame as usual.
    Serve(Bytes),
    /// The gate answered; read the next frame.
    Handled,
    /// Close the connection.
    Close,
}

/// The connection's one call into SASL: passes `frame` through `gate` (none
/// on listeners without SASL) and writes the gate's own answers to `out`.
pub async fn admit<W: AsyncWrite + Unpin>(
    gate: Option<&mut SaslGate>,
    frame: Bytes,
    image: impl FnOnce() -> Arc<MetadataImage>,
    session: &mut Session,
    out: &mut W,
) -> Admit {
    let Some(gate) = gate else {
        return Admit::Serve(frame);
    };
    let failed_auth_delay = gate.settings.failed_auth_delay;
    match gate.on_frame(frame, image, session).await {
        Verdict::Serve(frame) => Admit::Serve(frame),
        // Flushed: TLS (SASL_SSL) holds written bytes until then.
        Verdict::Reply(bytes) => match write_flushed(out, &bytes).await {
            Ok(()) => Admit::Handled,
            Err(_) => Admit::Close,
        },
        Verdict::ReplyThenClose(bytes) => {
            // The client reads why before the connection goes.
            let _ = out.write_all(&bytes).await;
            let _ = out.flush().await;
            // Nothing more is read from this connection meanwhile.
            tokio::time::sleep(failed_auth_delay).await;
            Admit::Close
        }
        Verdict::Close => Admit::Close,
    }
}

async fn write_flushed<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes).await?;
    out.flush().await
}

/// One mechanism step on a token.
fn step(
    exchange: &mut Exchange,
    image: &MetadataImage,
    plain_users: &[(String, String)],
    token: &[u8],
) -> Result<Step, String> {
    match exchange {
        Exchange::Plain => plain::authenticate(image, plain_users, token)
            .map(|user| Step::Done {
                response: Vec::new(),
                user,
                expires_ms: None,
            })
            .map_err(|e| e.0),
        Exchange::Scram(server) => {
            let mechanism = server.mechanism().unwrap_or(Mechanism::Sha256);
            match server.step(image, token) {
                Ok(ScramStep::Continue(challenge)) => Ok(Step::Continue(challenge)),
                Ok(ScramStep::Authenticated { response, user }) => Ok(Step::Done {
                    response,
                    user,
                    expires_ms: None,
                }),
                Err(err) => {
                    // The client is told nothing more; the operator may be.
                    tracing::debug!(reason = ?err, "SCRAM exchange refused");
                    Err(err.to_client(mechanism))
                }
            }
        }
        // Handled in `SaslGate::evaluate` (it may await a JWKS fetch).
        Exchange::OAuthBearer(_) => Err("OAUTHBEARER is not configured".into()),
    }
}

/// Kafka's session lifetime: 0 (no expiry) unless re-authentication is on
/// or the credential expires; then the smaller bound, never negative.
fn session_lifetime_ms(max_reauth_ms: i64, credential_expires_ms: Option<i64>, now_ms: i64) -> i64 {
    let max_reauth = (max_reauth_ms > 0).then_some(max_reauth_ms);
    let credential = credential_expires_ms.map(|e| e.saturating_sub(now_ms));
    match (credential, max_reauth) {
        (None, None) => 0,
        (None, Some(m)) => m,
        (Some(c), None) => c.max(0),
        (Some(c), Some(m)) => c.min(m).max(0),
    }
}

enum Step {
    Continue(Vec<u8>),
    Done {
        response: Vec<u8>,
        user: String,
        expires_ms: Option<i64>,
    },
}

enum Evaluated {
    Continue(Vec<u8>),
    Done {
        response: Vec<u8>,
        user: String,
        mechanism: String,
        expires_ms: Option<i64>,
    },
}

/// The API key of a request frame, if it names one.
fn peek_api_key(frame: &[u8]) -> Option<ApiKey> {
    let key = i16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
    ApiKey::try_from(key).ok()
}

fn encode(request: &Request, response: &ResponseKind) -> Option<Bytes> {
    encode_response(
        request.api_key,
        request.version(),
        request.correlation_id(),
        response,
    )
    .ok()
}

fn reply(request: &Request, response: &ResponseKind) -> Verdict {
    encode(request, response).map_or(Verdict::Close, Verdict::Reply)
}

fn reply_then_close(request: &Request, response: &ResponseKind) -> Verdict {
    encode(request, response).map_or(Verdict::Close, Verdict::ReplyThenClose)
}

fn size_prefixed(token: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + token.len());
    out.put_u32(token.len() as u32);
    out.put_slice(token);
    out.freeze()
}

/// KafkaApis' answer to SaslHandshake where no exchange can start (a
/// PLAINTEXT or SSL listener).
pub fn handshake_not_expected() -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ILLEGAL_SASL_STATE)
}

/// KafkaApis' answer to SaslAuthenticate outside an exchange.
pub fn authenticate_not_expected() -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ILLEGAL_SASL_STATE)
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}

#[cfg(test)]
mod tests {
    use super::session_lifetime_ms;

    #[test]
    fn session_lifetime_is_kafkas() {
        // No re-authentication and a credential that never expires.
        assert_eq!(session_lifetime_ms(0, None, 1000), 0);
        assert_eq!(session_lifetime_ms(5000, None, 1000), 5000);
        // A token: its remaining life, capped by connections.max.reauth.ms.
        assert_eq!(session_lifetime_ms(0, Some(61_000), 1000), 60_000);
        assert_eq!(session_lifetime_ms(5000, Some(61_000), 1000), 5000);
        assert_eq!(session_lifetime_ms(90_000, Some(61_000), 1000), 60_000);
        // Already expired (within the clock skew): never negative.
        assert_eq!(session_lifetime_ms(0, Some(500), 1000), 0);
    }
}
