//! The console's static files, embedded in the binary (no Node build).
//! Served with a long cache lifetime: the htmx file name carries its
//! version, so an upgrade changes the URL.

use super::state::ConsoleState;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub const HTMX_PATH: &str = "/console/assets/htmx-4.0.1.min.js";
pub const CSS_PATH: &str = "/console/assets/console.css";

const HTMX: &str = include_str!("assets/htmx-4.0.1.min.js");
const CSS: &str = include_str!("assets/console.css");

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route(
            HTMX_PATH,
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (CACHE_CONTROL, "max-age=31536000, immutable"),
                    ],
                    HTMX,
                )
                    .into_response()
            }),
        )
        .route(
            CSS_PATH,
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/css; charset=utf-8"),
                        (CACHE_CONTROL, "max-age=300"),
                    ],
                    CSS,
                )
                    .into_response()
            }),
        )
}
