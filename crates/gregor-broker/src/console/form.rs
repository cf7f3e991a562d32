//! Query-string and form extractors whose bad input is a 400
//! [`ConsoleError`] with the parser's message (axum's own answer a plain
//! text 400/422).

use super::error::ConsoleError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `?a=1&b=x` into `T`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ConsoleError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ConsoleError::bad_request(e.body_text()))
    }
}

/// An `application/x-www-form-urlencoded` body into `T`.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ConsoleError> {
        axum::extract::Form::<T>::from_request(request, state)
            .await
            .map(|f| Form(f.0))
            .map_err(|e| ConsoleError::bad_request(e.body_text()))
    }
}

/// A path segment into `T` (`/topics/{name}/partitions/{p}`).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ConsoleError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ConsoleError::bad_request(e.body_text()))
    }
}
