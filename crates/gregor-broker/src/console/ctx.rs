//! [`Ctx`]: who is asking, and the way to the broker for them.
//!
//! Taking a `Ctx` argument is what logs a request in: when the broker has an
//! authorizer or a SASL listener, the request must carry HTTP Basic
//! credentials of a user of the SASL credential store (SCRAM users, or a
//! listener's static PLAIN users), checked as SASL/PLAIN checks them; the
//! user is then `User:<name>` for every ACL check. Without security every
//! request is `User:ANONYMOUS` and everything is allowed, as on the Kafka
//! port.

use super::error::ConsoleError;
use super::layout;
use super::state::ConsoleState;
use crate::handlers::{self, Reply};
use crate::security::{Audit, Principal, Session};
use crate::server::Broker;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_protocol::request::Request;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use maud::Markup;
use std::net::SocketAddr;
use std::sync::Arc;

/// The client id the console's Kafka requests carry (quotas, audit).
pub const CLIENT_ID: &str = "gregor-console";

pub struct Ctx {
    pub state: ConsoleState,
    /// The logged-in user as the Kafka API sees a SASL client.
    pub session: Session,
    /// The request came from htmx (`HX-Request`): answer with a fragment.
    pub htmx: bool,
    /// The password of the HTTP Basic login, to log in as the same user on
    /// another broker of the cluster (see [`super::remote`]).
    pub(crate) password: Option<String>,
    /// Connections to other brokers opened for this HTTP request, reused
    /// by its later calls (a browse sends many Fetches to one leader).
    pub(crate) remotes: super::remote::Remotes,
}

impl FromRequestParts<ConsoleState> for Ctx {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Ctx, ConsoleError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
        let (principal, password) = if state.login_required {
            let (user, password) = login(parts, state).await?;
            (Principal::user(user), Some(password))
        } else {
            (Principal::anonymous(), None)
        };
        let htmx = parts.headers.contains_key("hx-request");
        Ok(Ctx {
            state: state.clone(),
            session: Session {
                peer,
                listener: state.listener.clone(),
                principal,
            },
            htmx,
            password,
            remotes: Default::default(),
        })
    }
}

/// The user name and password of valid HTTP Basic credentials, or a 401
/// that makes the browser ask for them.
async fn login(parts: &Parts, state: &ConsoleState) -> Result<(String, String), ConsoleError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ConsoleError::unauthorized("Log in with a Kafka (SASL) user."))?;
    let encoded = header.strip_prefix("Basic ").ok_or_else(|| {
        ConsoleError::unauthorized("Only HTTP Basic authentication is supported.")
    })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| ConsoleError::unauthorized("Malformed Basic credentials."))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| ConsoleError::unauthorized("Malformed Basic credentials."))?;
    // The SASL/PLAIN check itself: the same stores, the same answers. Off
    // the async workers: the SCRAM key derivation takes milliseconds.
    let token = format!("\u{0}{user}\u{0}{password}");
    let (user, password) = (user.to_string(), password.to_string());
    let image = state.broker.controller.image();
    let static_users = state.static_users.clone();
    tokio::task::spawn_blocking(move || {
        crate::security::plain::authenticate(&image, &static_users, token.as_bytes())
    })
    .await
    .map_err(|e| ConsoleError::internal(format!("login check failed: {e}")))?
    .map_err(|e| ConsoleError::unauthorized(&e.0))?;
    Ok((user, password))
}

impl Ctx {
    pub fn broker(&self) -> &Arc<Broker> {
        &self.state.broker
    }

    /// The logged-in principal, e.g. `User:alice`.
    pub fn principal(&self) -> String {
        self.session.principal.to_string()
    }

    /// Runs a Kafka request through the broker's own handler, exactly as
    /// one from a client logged in as this user: the same authorization,
    /// forwarding to the controller, quotas and error codes. `version` is
    /// the API version to speak.
    pub async fn kafka(
        &self,
        api_key: ApiKey,
        version: i16,
        body: RequestKind,
    ) -> Result<ResponseKind, ConsoleError> {
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
        match handlers::handle(self.broker(), request, &self.session).await {
            Some(Reply::Message(response)) => Ok(response),
            _ => Err(ConsoleError::internal(format!(
                "{api_key:?} gave no answer the console can show"
            ))),
        }
    }

    /// Whether the user may do `operation` on a resource, by the same
    /// Authorizer (and audit trail) as the Kafka API; `api` is the Kafka
    /// API the action corresponds to, for the audit record.
    pub fn allowed(
        &self,
        api: ApiKey,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let image = self.broker().controller.image();
        self.broker().authorizer.allows(
            &image,
            &self.session,
            api,
            Action::new(operation, resource_type, name),
            Audit::Record,
        )
    }

    /// [`Self::allowed`] or a 403 page.
    pub fn authorize(
        &self,
        api: ApiKey,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), ConsoleError> {
        if self.allowed(api, operation, resource_type, name) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(format!(
                "{} is not authorized to {operation:?} {resource_type:?} '{name}'.",
                self.principal()
            )))
        }
    }

    /// A 403 in read-only mode, for handlers of mutating actions (the gate
    /// refuses their POSTs already; this is the second lock).
    pub fn require_writable(&self) -> Result<(), ConsoleError> {
        if self.state.read_only {
            Err(ConsoleError::read_only())
        } else {
            Ok(())
        }
    }

    /// A whole page in the console's frame, or just `body` for htmx.
    pub fn page(&self, title: &str, active: &str, body: Markup) -> Response {
        if self.htmx {
            return Html(body.into_string()).into_response();
        }
        Html(layout::page(self, title, active, body).into_string()).into_response()
    }

    /// Just `body`, for htmx swaps.
    pub fn fragment(&self, body: Markup) -> Response {
        (StatusCode::OK, Html(body.into_string())).into_response()
    }
}
