//! SASL/OAUTHBEARER (RFC 7628, Kafka's KIP-255/KIP-768), as Kafka's
//! OAuthBearerSaslServer with the JWKS-validating handler: the client's
//! first message carries `auth=Bearer <JWT>`; a valid token authenticates
//! the user its `sub` claim names. A bad token is answered with RFC 7628's
//! JSON error `{"status":"invalid_token"}` as a challenge; the client
//! acknowledges it with `\x01`, and only then does the exchange fail with
//! that JSON as the error message.

use super::jwks::JwksCache;
use super::jwt::{self, JwtError, Rules};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The listener's OAUTHBEARER settings.
pub struct OAuthSettings {
    pub rules: Rules,
    /// `None` only in unsecured (development) mode without a JWKS.
    pub jwks: Option<Arc<JwksCache>>,
}

/// Shared settings; equal only to themselves (the cache has no value to
/// compare).
#[derive(Clone)]
pub struct OAuthHandle(pub Arc<OAuthSettings>);

impl PartialEq for OAuthHandle {
    fn eq(&self, other: &OAuthHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for OAuthHandle {}

impl std::fmt::Debug for OAuthHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("rules", &self.0.rules)
            .field("jwks", &self.0.jwks.is_some())
            .finish()
    }
}

/// RFC 7628's error for a token that did not validate.
pub const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

/// The parts of a client's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    pub authzid: String,
    pub token: String,
    /// `key=value` pairs other than `auth` (SASL extensions, KIP-342).
    pub extensions: Vec<(String, String)>,
}

/// Parses `gs2-header \x01 auth=Bearer <token> \x01 [key=value \x01]* \x01`.
pub fn parse_client_first(message: &[u8]) -> Option<ClientFirst> {
    let message = std::str::from_utf8(message).ok()?;
    // gs2 header: no channel binding ("n", or "y": client could but server
    // does not), an optional authzid.
    let rest = message
        .strip_prefix("n,")
        .or_else(|| message.strip_prefix("y,"))?;
    let (authzid, rest) = rest.split_once(',')?;
    let authzid = match authzid {
        "" => "",
        a => a.strip_prefix("a=")?,
    };
    let inner = rest.strip_prefix('\u{1}')?.strip_suffix("\u{1}\u{1}")?;
    let mut token = None;
    let mut extensions = Vec::new();
    for pair in inner.split('\u{1}') {
        let (key, value) = pair.split_once('=')?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        if key == "auth" {
            let (scheme, value) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_some() {
                return None;
            }
            let value = value.trim_matches(' ');
            if value.is_empty() {
                return None;
            }
            token = Some(value.to_string());
        } else {
            extensions.push((key.to_string(), value.to_string()));
        }
    }
    Some(ClientFirst {
        authzid: authzid.replace("=2C", ",").replace("=3D", "="),
        token: token?,
        extensions,
    })
}

/// One exchange's state.
#[derive(Default)]
pub struct OAuthServer {
    /// The JSON error sent as a challenge, awaiting the client's `\x01`.
    error_sent: Option<String>,
}

/// What a step came to.
pub enum OAuthStep {
    /// Send this challenge (the JSON error) and wait for `\x01`.
    Challenge(Vec<u8>),
    /// Authenticated `user`, whose token expires at `expires_ms`.
    Done { user: String, expires_ms: i64 },
}

impl OAuthServer {
    /// Takes one client message. `Err` carries the message the client is
    /// told with SASL_AUTHENTICATION_FAILED.
    pub async fn step(
        &mut self,
        settings: &OAuthSettings,
        message: &[u8],
    ) -> Result<OAuthStep, String> {
        if let Some(error) = self.error_sent.take() {
            // The client acknowledged our error: Kafka fails the exchange
            // with the JSON error as the message. Anything else is read as
            // a new client first message, as Kafka does.
            if message == b"\x01" {
                return Err(error);
            }
        }
        let Some(first) = parse_client_first(message) else {
            tracing::debug!("malformed OAUTHBEARER client first message");
            return Err(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"
                    .into(),
            );
        };
        let token = match validate(settings, &first.token).await {
            Ok(token) => token,
            Err(why) => {
                // Why is for the operator only.
                tracing::info!("OAUTHBEARER token refused: {why}");
                self.error_sent = Some(INVALID_TOKEN.to_string());
                return Ok(OAuthStep::Challenge(INVALID_TOKEN.as_bytes().to_vec()));
            }
        };
        if !first.authzid.is_empty() && first.authzid != token.principal {
            return Err(format!(
                "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                first.authzid, token.principal
            ));
        }
        // Extensions nobody validates are ignored, as in Kafka.
        Ok(OAuthStep::Done {
            user: token.principal,
            expires_ms: token.expires_ms,
        })
    }
}

async fn validate(settings: &OAuthSettings, token: &str) -> Result<jwt::Token, JwtError> {
    let mut keys = settings.jwks.as_ref().map(|j| j.keys()).unwrap_or_default();
    // No keys yet (the start-up fetch failed): try again, rate-limited.
    if let (true, Some(jwks)) = (keys.is_empty(), &settings.jwks) {
        keys = jwks.on_unknown_kid("(no keys yet)").await;
    }
    match jwt::validate(token, &keys, &settings.rules, now_ms()) {
        Err(JwtError::UnknownKey(kid)) => match &settings.jwks {
            Some(jwks) => {
                let keys = jwks.on_unknown_kid(&kid).await;
                jwt::validate(token, &keys, &settings.rules, now_ms())
            }
            None => Err(JwtError::UnknownKey(kid)),
        },
        other => other,
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_first_messages() {
        assert_eq!(
            parse_client_first(b"n,,\x01auth=Bearer abc.def.ghi\x01\x01"),
            Some(ClientFirst {
                authzid: String::new(),
                token: "abc.def.ghi".into(),
                extensions: vec![],
            })
        );
        assert_eq!(
            parse_client_first(b"n,a=alice,\x01host=h\x01auth=bearer t\x01traceId=1\x01\x01"),
            Some(ClientFirst {
                authzid: "alice".into(),
                token: "t".into(),
                extensions: vec![("host".into(), "h".into()), ("traceId".into(), "1".into())],
            })
        );
        for bad in [
            &b""[..],
            b"\x01",
            b"n,,auth=Bearer t\x01\x01",
            b"n,,\x01auth=Bearer t\x01",
            b"p=x,,\x01auth=Bearer t\x01\x01",
            b"n,b=x,\x01auth=Bearer t\x01\x01",
            b"n,,\x01auth=Basic t\x01\x01",
            b"n,,\x01auth=Bearer \x01\x01",
            b"n,,\x01k=v\x01\x01",
            b"n,,\x01auth=Bearer t\x01bad key=v\x01\x01",
            b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
            b"n,,\x01\xff\x01\x01",
        ] {
            assert_eq!(parse_client_first(bad), None, "{bad:?}");
        }
    }

    fn unsecured() -> OAuthSettings {
        OAuthSettings {
            rules: Rules {
                allow_unsecured: true,
                ..Rules::default()
            },
            jwks: None,
        }
    }

    fn none_token(sub: &str, exp: i64) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{sub}","exp":{exp}}}"#))
        )
    }

    #[tokio::test]
    async fn exchange() {
        let settings = unsecured();
        let exp = now_ms() / 1000 + 60;
        let message = format!("n,,\x01auth=Bearer {}\x01\x01", none_token("alice", exp));
        let mut server = OAuthServer::default();
        match server.step(&settings, message.as_bytes()).await {
            Ok(OAuthStep::Done { user, expires_ms }) => {
                assert_eq!((user.as_str(), expires_ms), ("alice", exp * 1000));
            }
            _ => panic!("not authenticated"),
        }
        // authzid must be the token's principal.
        let message = format!(
            "n,a=bob,\x01auth=Bearer {}\x01\x01",
            none_token("alice", exp)
        );
        let err = OAuthServer::default()
            .step(&settings, message.as_bytes())
            .await
            .err()
            .unwrap();
        assert!(err.contains("authorization id (bob)"), "{err}");
    }

    #[tokio::test]
    async fn bad_token_then_ack() {
        let settings = unsecured();
        let message = format!("n,,\x01auth=Bearer {}\x01\x01", none_token("alice", 1));
        let mut server = OAuthServer::default();
        match server.step(&settings, message.as_bytes()).await {
            Ok(OAuthStep::Challenge(c)) => assert_eq!(c, INVALID_TOKEN.as_bytes()),
            _ => panic!("expected the invalid_token challenge"),
        }
        assert_eq!(
            server.step(&settings, b"\x01").await.err(),
            Some(INVALID_TOKEN.to_string())
        );
        // Not an acknowledgement: a new attempt.
        let fresh = format!(
            "n,,\x01auth=Bearer {}\x01\x01",
            none_token("bob", now_ms() / 1000 + 60)
        );
        assert!(matches!(
            server.step(&settings, message.as_bytes()).await,
            Ok(OAuthStep::Challenge(_))
        ));
        assert!(matches!(
            server.step(&settings, fresh.as_bytes()).await,
            Ok(OAuthStep::Done { .. })
        ));
        let err = OAuthServer::default()
            .step(&settings, b"garbage")
            .await
            .err();
        assert!(err.unwrap().contains("OAUTHBEARER"));
    }
}
