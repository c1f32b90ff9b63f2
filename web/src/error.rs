//! What can go wrong serving a request, and how each case is answered.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request (or the server) failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr} ({what}): {source} (is another program using it?)")]
    Bind {
        /// The config key naming the address.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing here.
    #[error("not found: {0}")]
    NotFound(String),
    /// Logged in, but the role does not allow it.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is wrong in a way the user can fix.
    #[error("{0}")]
    BadRequest(String),
    /// A form arrived without this session's anti-forgery token.
    #[error("the form has expired or did not come from this site: reload the page and try again")]
    Csrf,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ballotwatch_store::StoreError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] ballotwatch_index::IndexError),
    /// The request is larger than allowed (a report's files, fields or count): says which
    /// limit.
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests from this client address for now.
    #[error("{0}")]
    TooMany(String),
    /// The feature is not set up on this server.
    #[error("{0}")]
    Unavailable(String),
    /// Something else failed.
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::BadRequest(_)
            | WebError::Index(ballotwatch_index::IndexError::Query { .. }) => {
                StatusCode::BAD_REQUEST
            }
            WebError::Store(ballotwatch_store::StoreError::InvalidInput(_)) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown to the user: the whole error for their mistakes, a generic sentence
    /// for server faults (which are logged in full).
    pub fn public_message(&self) -> String {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
            "something went wrong on the server; the details are in the server log".to_string()
        } else {
            self.to_string()
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        (status, crate::pages::error_page(status, &message)).into_response()
    }
}
