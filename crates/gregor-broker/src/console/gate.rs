//! The gate every console request passes: in read-only mode only GET and
//! HEAD get through, so no mutating action can run whatever a page shows;
//! and a mutation must come from the console's own pages (the browser
//! resends Basic credentials to any site's form posting here).

use super::error::ConsoleError;
use super::state::ConsoleState;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn mutations(
    State(state): State<ConsoleState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method();
    if method == Method::GET || method == Method::HEAD {
        return next.run(request).await;
    }
    if state.read_only {
        return ConsoleError::read_only().into_response();
    }
    if let Some(refusal) = cross_site(&request) {
        return refusal.into_response();
    }
    next.run(request).await
}

/// A 403 when the browser says the request comes from another site:
/// `Sec-Fetch-Site` (sent by current browsers) or an `Origin` whose host
/// is not the `Host` asked. Non-browser clients send neither.
fn cross_site(request: &Request) -> Option<ConsoleError> {
    let headers = request.headers();
    let refused = || Some(ConsoleError::forbidden("Cross-site request refused."));
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return refused();
        }
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (None, _) | (Some("null"), None) => None,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            if origin_host != host {
                refused()
            } else {
                None
            }
        }
        (Some(_), None) => refused(),
    }
}
