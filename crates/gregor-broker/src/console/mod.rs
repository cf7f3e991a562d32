//! The built-in web console, under `/console` on the admin HTTP endpoint
//! (`gregor.admin.listener`): server-rendered HTML (maud, which escapes
//! every interpolated value) with htmx vendored into the binary.
//!
//! Layout of this module (see docs/console.md, "Adding a page"):
//! - [`state`]: what every page can reach ([`ConsoleState`]) and the console
//!   settings;
//! - [`ctx`]: [`Ctx`], the extractor every handler takes: it logs the user
//!   in (HTTP Basic against the SASL credential store when security is on)
//!   and runs Kafka requests through the broker's own handlers, with the
//!   same authorization as the Kafka API;
//! - [`error`]: [`ConsoleError`], the 4xx/5xx answer with a message;
//! - [`layout`]: the page frame and navigation ([`layout::NAV`]);
//! - [`gate`]: read-only mode and the cross-site check on mutations;
//! - [`form`]: query/form extractors whose bad input is a 400 page;
//! - [`fmt`]: number, size and time formatting;
//! - one module per page, each with `pub fn routes() -> Router<ConsoleState>`.

mod assets;
pub mod ctx;
pub mod error;
pub mod fmt;
pub mod form;
mod gate;
pub mod layout;
pub mod state;

mod decode;
mod filter;
mod messages;
mod overview;
mod records;
mod remote;
mod remote_records;
mod throughput;
mod topics;

mod acls;
pub mod call;
mod groups;
mod transactions;

pub use ctx::Ctx;
pub use error::ConsoleError;
pub use state::ConsoleState;

use crate::server::Broker;
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Every page's routes; a new page adds one line here and one in
/// [`layout::NAV`].
// One line per page, so pages added on different branches merge cleanly.
#[rustfmt::skip]
const PAGES: &[fn() -> Router<ConsoleState>] = &[
    assets::routes,
    overview::routes,
    topics::routes,
    messages::routes,
    groups::routes,
    transactions::routes,
    acls::routes,
];

async fn unknown_page(uri: axum::http::Uri) -> ConsoleError {
    ConsoleError::not_found(format!("no console page at {}", uri.path()))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ConsoleError {
    ConsoleError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The console's routes, merged into the admin endpoint's router.
pub fn router(broker: Arc<Broker>) -> Router {
    let state = ConsoleState::new(broker);
    let mut pages = Router::new()
        // Any other console path: a 404 page that says so.
        .route("/console/{*rest}", axum::routing::any(unknown_page));
    for page in PAGES {
        pages = pages.merge(page());
    }
    let pages = pages
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::mutations,
        ))
        .layer(axum::middleware::from_fn(error::frame));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .merge(pages)
        .with_state(state)
}
