//! Who is on the other end of a connection, and what they may do.
//!
//! A connection starts with the principal its transport gives it (a client
//! certificate's subject on SSL, `User:ANONYMOUS` otherwise); SASL replaces it
//! once the client authenticates. Handlers read the principal from the
//! [`Session`] to authorise each request.

pub mod api_acls;
pub mod audit;
pub mod authorizer;
pub mod dn;
pub mod jwks;
pub mod jwt;
pub mod oauthbearer;
pub mod plain;
pub mod principal;
pub mod sasl;
pub mod scram;
pub mod scram_bootstrap;
pub mod ssl_mapping;
pub mod tls;

pub use authorizer::{Audit, Authorizer};
pub use principal::Principal;

use crate::connection::ConnectionListener;
use std::net::SocketAddr;
use std::sync::Arc;

/// One connection's identity, as handlers see it.
#[derive(Debug, Clone)]
pub struct Session {
    pub peer: SocketAddr,
    pub listener: Arc<ConnectionListener>,
    pub principal: Principal,
}

impl Session {
    /// A connection nobody has authenticated yet.
    pub fn anonymous(peer: SocketAddr, listener: Arc<ConnectionListener>) -> Session {
        Session {
            peer,
            listener,
            principal: Principal::anonymous(),
        }
    }
}
