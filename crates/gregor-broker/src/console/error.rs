//! [`ConsoleError`]: a status and a message a person can act on. It renders
//! as a small `<div class="error" role="alert">` fragment, which htmx 4
//! swaps into the page like any answer (it swaps 4xx/5xx by default); for a
//! plain navigation [`frame`] puts the fragment in the console's frame.

use super::layout;
use axum::extract::Request;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

#[derive(Debug, Clone)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub message: String,
}

/// Marks a response as a [`ConsoleError`] fragment, for [`frame`].
#[derive(Clone)]
struct ErrorFragment(String);

impl ConsoleError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is malformed (bad number, bad filter, ...).
    pub fn bad_request(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such topic, partition, group, ...
    pub fn not_found(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::NOT_FOUND, message)
    }

    /// 403: the Authorizer said no.
    pub fn forbidden(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn read_only() -> ConsoleError {
        ConsoleError::forbidden(
            "The console is read-only (gregor.console.read.only=true): changes are refused.",
        )
    }

    pub fn unauthorized(message: &str) -> ConsoleError {
        ConsoleError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn internal(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A Kafka error code from a handler's answer, with its message: the
    /// status follows the error's kind, the text is Kafka's.
    pub fn kafka(code: i16, message: Option<&str>) -> ConsoleError {
        use gregor_protocol::error_codes as e;
        let status = match code {
            e::TOPIC_AUTHORIZATION_FAILED
            | e::CLUSTER_AUTHORIZATION_FAILED
            | e::GROUP_AUTHORIZATION_FAILED
            | e::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => StatusCode::FORBIDDEN,
            e::UNKNOWN_TOPIC_OR_PARTITION | e::UNKNOWN_TOPIC_ID | e::GROUP_ID_NOT_FOUND => {
                StatusCode::NOT_FOUND
            }
            e::TOPIC_ALREADY_EXISTS => StatusCode::CONFLICT,
            e::THROTTLING_QUOTA_EXCEEDED => StatusCode::TOO_MANY_REQUESTS,
            e::NOT_CONTROLLER | e::REQUEST_TIMED_OUT | e::COORDINATOR_NOT_AVAILABLE => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let name = match kafka_protocol::error::ResponseError::try_from_code(code) {
            Some(error) => format!("{error:?}"),
            None => format!("error code {code}"),
        };
        let text = match message {
            Some(m) if !m.is_empty() => format!("{name}: {m}"),
            _ => name.to_string(),
        };
        ConsoleError::new(status, text)
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let body = html! {
            div.error role="alert" {
                strong { (self.status.as_u16()) " " (self.status.canonical_reason().unwrap_or("")) }
                ": " (self.message)
            }
        };
        let mut response = (self.status, Html(body.into_string())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Basic realm=\"Gregor console\", charset=\"UTF-8\"",
                ),
            );
        }
        response
            .extensions_mut()
            .insert(ErrorFragment(self.message));
        response
    }
}

/// Puts an error fragment in the console's frame unless htmx asked (htmx
/// swaps the bare fragment where the answer was meant to go).
pub async fn frame(request: Request, next: Next) -> Response {
    let htmx = request.headers().contains_key("hx-request");
    let response = next.run(request).await;
    if htmx {
        return response;
    }
    let Some(ErrorFragment(message)) = response.extensions().get::<ErrorFragment>().cloned() else {
        return response;
    };
    let status = response.status();
    let mut framed = (
        status,
        Html(layout::error_page(status, &message).into_string()),
    )
        .into_response();
    if let Some(challenge) = response.headers().get(WWW_AUTHENTICATE) {
        framed
            .headers_mut()
            .insert(WWW_AUTHENTICATE, challenge.clone());
    }
    framed
}
