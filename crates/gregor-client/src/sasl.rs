//! The client side of SASL/PLAIN, SCRAM-SHA-256/512 (RFC 5802) and
//! OAUTHBEARER with a token given up front (RFC 7628), for
//! connections to SASL_PLAINTEXT/SASL_SSL listeners: the token exchange,
//! independent of framing ([`crate::Connection`] carries the tokens in
//! SaslHandshake v1 / SaslAuthenticate).

use anyhow::{anyhow, bail};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

/// Who to authenticate as, and how.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub mechanism: String,
    pub username: String,
    /// The password; for OAUTHBEARER, the token (a JWT).
    pub password: String,
}

impl SaslCredentials {
    /// OAUTHBEARER with a token obtained elsewhere (Gregor fetches none).
    pub fn oauthbearer(token: String) -> SaslCredentials {
        SaslCredentials {
            mechanism: "OAUTHBEARER".into(),
            username: String::new(),
            password: token,
        }
    }
}

// The password stays out of logs.
impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Iterations a server may ask for: Kafka's minimum, and a cap so a rogue
/// server cannot make the client spin.
const MIN_ITERATIONS: u32 = 4096;
const MAX_ITERATIONS: u32 = 1_000_000;

/// One exchange in progress.
pub enum SaslClient {
    Plain,
    /// `refused` once the server sent its error challenge (RFC 7628 §3.2.3).
    OAuthBearer {
        refused: bool,
    },
    Scram {
        sha512: bool,
        state: ScramState,
    },
}

pub enum ScramState {
    Start,
    SentFirst { bare: String },
    SentFinal { expected_server_signature: Vec<u8> },
    Done,
}

impl SaslClient {
    pub fn new(mechanism: &str) -> anyhow::Result<SaslClient> {
        Ok(match mechanism {
            "PLAIN" => SaslClient::Plain,
            "OAUTHBEARER" => SaslClient::OAuthBearer { refused: false },
            "SCRAM-SHA-256" => SaslClient::Scram {
                sha512: false,
                state: ScramState::Start,
            },
            "SCRAM-SHA-512" => SaslClient::Scram {
                sha512: true,
                state: ScramState::Start,
            },
            other => bail!("SASL mechanism {other} is not supported by this client"),
        })
    }

    /// The first token.
    pub fn first(&mut self, credentials: &SaslCredentials) -> anyhow::Result<Vec<u8>> {
        match self {
            SaslClient::Plain => {
                Ok(format!("\0{}\0{}", credentials.username, credentials.password).into_bytes())
            }
            // RFC 7628's initial client response: no authzid, the bearer
            // token, no extensions.
            SaslClient::OAuthBearer { .. } => {
                Ok(format!("n,,\x01auth=Bearer {}\x01\x01", credentials.password).into_bytes())
            }
            SaslClient::Scram { state, .. } => {
                let name = credentials.username.replace('=', "=3D").replace(',', "=2C");
                let mut nonce = [0u8; 24];
                SystemRandom::new()
                    .fill(&mut nonce)
                    .map_err(|_| anyhow!("no random numbers for a SCRAM nonce"))?;
                let bare = format!("n={name},r={}", BASE64.encode(nonce));
                let message = format!("n,,{bare}");
                *state = ScramState::SentFirst { bare };
                Ok(message.into_bytes())
            }
        }
    }

    /// The answer to a server challenge; `None` once the exchange is done
    /// (the server's last message checked).
    pub fn next(
        &mut self,
        credentials: &SaslCredentials,
        challenge: &[u8],
    ) -> anyhow::Result<Option<Vec<u8>>> {
        if let SaslClient::OAuthBearer { refused } = self {
            // An empty answer is success; anything else is the server's
            // JSON error, which the client acknowledges with one 0x01 so the
            // server can fail the exchange (it then answers with an error).
            if challenge.is_empty() {
                return Ok(None);
            }
            if *refused {
                bail!("OAUTHBEARER exchange out of order");
            }
            *refused = true;
            return Ok(Some(vec![0x01]));
        }
        let SaslClient::Scram { sha512, state } = self else {
            return Ok(None);
        };
        let sha512 = *sha512;
        match std::mem::replace(state, ScramState::Done) {
            ScramState::SentFirst { bare } => {
                let server_first = std::str::from_utf8(challenge)
                    .map_err(|_| anyhow!("SCRAM server-first is not UTF-8"))?;
                let (last, expected) = client_final(sha512, credentials, &bare, server_first)?;
                *state = ScramState::SentFinal {
                    expected_server_signature: expected,
                };
                Ok(Some(last.into_bytes()))
            }
            ScramState::SentFinal {
                expected_server_signature,
            } => {
                let text = std::str::from_utf8(challenge)
                    .map_err(|_| anyhow!("SCRAM server-final is not UTF-8"))?;
                if let Some(error) = text.strip_prefix("e=") {
                    bail!("SCRAM authentication failed: {error}");
                }
                let signature = text
                    .strip_prefix("v=")
                    .and_then(|v| BASE64.decode(v).ok())
                    .ok_or_else(|| anyhow!("malformed SCRAM server-final"))?;
                if signature != expected_server_signature {
                    bail!("the server's SCRAM signature is wrong: it does not know the password");
                }
                Ok(None)
            }
            ScramState::Start | ScramState::Done => bail!("SCRAM exchange out of order"),
        }
    }
}

fn hmac_of(sha512: bool, key: &[u8], data: &[u8]) -> Vec<u8> {
    let alg = if sha512 {
        hmac::HMAC_SHA512
    } else {
        hmac::HMAC_SHA256
    };
    hmac::sign(&hmac::Key::new(alg, key), data)
        .as_ref()
        .to_vec()
}

/// client-final-message and the ServerSignature the server must send back.
fn client_final(
    sha512: bool,
    credentials: &SaslCredentials,
    bare: &str,
    server_first: &str,
) -> anyhow::Result<(String, Vec<u8>)> {
    let mut nonce = None;
    let mut salt = None;
    let mut iterations = None;
    for field in server_first.split(',') {
        if let Some(v) = field.strip_prefix("r=") {
            nonce = Some(v);
        } else if let Some(v) = field.strip_prefix("s=") {
            salt = BASE64.decode(v).ok();
        } else if let Some(v) = field.strip_prefix("i=") {
            iterations = v.parse::<u32>().ok();
        }
    }
    let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
        bail!("malformed SCRAM server-first");
    };
    let client_nonce = bare.rsplit_once(",r=").map(|(_, n)| n).unwrap_or_default();
    if !nonce.starts_with(client_nonce) || nonce.len() <= client_nonce.len() {
        bail!("the SCRAM server nonce does not extend ours");
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        bail!("the server asks for {iterations} SCRAM iterations");
    }
    let (alg, digest_alg, len) = if sha512 {
        (pbkdf2::PBKDF2_HMAC_SHA512, &digest::SHA512, 64)
    } else {
        (pbkdf2::PBKDF2_HMAC_SHA256, &digest::SHA256, 32)
    };
    let mut salted = vec![0u8; len];
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        alg,
        iterations,
        &salt,
        credentials.password.as_bytes(),
        &mut salted,
    );
    let client_key = hmac_of(sha512, &salted, b"Client Key");
    let stored_key = digest::digest(digest_alg, &client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hmac_of(sha512, stored_key.as_ref(), auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac_of(sha512, &salted, b"Server Key");
    let server_signature = hmac_of(sha512, &server_key, auth_message.as_bytes());
    Ok((
        format!("{without_proof},p={}", BASE64.encode(proof)),
        server_signature,
    ))
}

/// Username and password from a Kafka JAAS line, e.g.
/// `org.apache.kafka.common.security.scram.ScramLoginModule required
/// username="admin" password="admin-secret";`.
pub fn parse_jaas(text: &str) -> Option<(String, String)> {
    let options = jaas_options(text)?;
    let get = |key: &str| {
        options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    Some((get("username")?, get("password")?))
}

/// The `key=value` options of a JAAS line, in order. Values are
/// double-quoted or bare; `\"` and `\\` escape inside quotes. `None` for an
/// unterminated quote.
pub fn jaas_options(text: &str) -> Option<Vec<(String, String)>> {
    let mut options = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_string();
        let after = rest[eq + 1..].trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        options.push((key, value));
        rest = remaining;
    }
    Some(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_jaas_lines() {
        let line = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="a \"b\" = c;";"#;
        assert_eq!(
            parse_jaas(line),
            Some(("admin".into(), "a \"b\" = c;".into()))
        );
        let plain = "org.apache.kafka.common.security.plain.PlainLoginModule required username=bob password=pw;";
        assert_eq!(parse_jaas(plain), Some(("bob".into(), "pw".into())));
        assert_eq!(parse_jaas("Module required username=\"x\";"), None);
        assert_eq!(parse_jaas("password=\"unterminated"), None);
        let server = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="b" password="p" user_b="p" user_alice="a=1";"#;
        let options = jaas_options(server).unwrap();
        assert_eq!(options[3], ("user_alice".to_string(), "a=1".to_string()));
    }

    #[test]
    fn oauthbearer_sends_the_token_and_acknowledges_an_error() {
        let credentials = SaslCredentials::oauthbearer("a.b.c".into());
        let mut client = SaslClient::new("OAUTHBEARER").unwrap();
        assert_eq!(
            client.first(&credentials).unwrap(),
            b"n,,\x01auth=Bearer a.b.c\x01\x01".to_vec()
        );
        let error = br#"{"status":"invalid_token"}"#;
        assert_eq!(client.next(&credentials, error).unwrap(), Some(vec![0x01]));
        assert!(client.next(&credentials, error).is_err());
        let mut ok = SaslClient::new("OAUTHBEARER").unwrap();
        ok.first(&credentials).unwrap();
        assert_eq!(ok.next(&credentials, b"").unwrap(), None);
    }

    /// RFC 7677's exchange from the client side (fixed nonce).
    #[test]
    fn rfc7677_client_final() {
        let credentials = SaslCredentials {
            mechanism: "SCRAM-SHA-256".into(),
            username: "user".into(),
            password: "pencil".into(),
        };
        let (last, signature) = client_final(
            false,
            &credentials,
            "n=user,r=rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        )
        .unwrap();
        assert_eq!(
            last,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            BASE64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }
}
