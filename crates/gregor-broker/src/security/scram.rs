//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on `ring`: the
//! key derivations the credential store needs, and the server side of one
//! exchange (client-first, server-first, client-final, server-final).
//!
//! As Kafka's ScramSaslServer: no channel binding (gs2 flag `n` only), an
//! authzid must equal the user name, and the `tokenauth` extension
//! (delegation tokens) is refused since Gregor has no delegation tokens.
//! Unlike Kafka, an unknown user is not told apart from a wrong password:
//! the server answers with a made-up salt and fails at the proof.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use gregor_metadata::scram::{MIN_ITERATIONS, SCRAM_SHA_256, SCRAM_SHA_512};
use gregor_metadata::{MetadataImage, ScramCredential};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Sha256,
    Sha512,
}

impl Mechanism {
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            "SCRAM-SHA-512" => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub fn from_id(id: i8) -> Option<Mechanism> {
        match id {
            SCRAM_SHA_256 => Some(Mechanism::Sha256),
            SCRAM_SHA_512 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The wire id (AlterUserScramCredentials, metadata records).
    pub fn id(self) -> i8 {
        match self {
            Mechanism::Sha256 => SCRAM_SHA_256,
            Mechanism::Sha512 => SCRAM_SHA_512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Mechanism::Sha256 => hmac::HMAC_SHA256,
            Mechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Mechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Mechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Mechanism::Sha256 => &digest::SHA256,
            Mechanism::Sha512 => &digest::SHA512,
        }
    }

    fn output_len(self) -> usize {
        self.digest().output_len()
    }
}

/// RFC 5802's SaltedPassword: Hi(Normalize(password), salt, i). Kafka does
/// not SASLprep passwords either; they are used as UTF-8 bytes.
pub fn salted_password(
    mechanism: Mechanism,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let mut out = vec![0u8; mechanism.output_len()];
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(mechanism.pbkdf2(), iterations, salt, password, &mut out);
    out
}

fn hmac_of(mechanism: Mechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(mechanism.hmac(), key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// StoredKey and ServerKey of a SaltedPassword (what the store keeps).
pub fn derive_keys(mechanism: Mechanism, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let client_key = hmac_of(mechanism, salted_password, b"Client Key");
    let stored_key = digest::digest(mechanism.digest(), &client_key)
        .as_ref()
        .to_vec();
    let server_key = hmac_of(mechanism, salted_password, b"Server Key");
    (stored_key, server_key)
}

/// A new credential for `password`: a random salt, as `kafka-storage
/// --add-scram` and `kafka-configs` make one.
pub fn new_credential(
    mechanism: Mechanism,
    password: &str,
    salt: Option<Vec<u8>>,
    iterations: u32,
) -> ScramCredential {
    let salt = salt.unwrap_or_else(|| random_bytes(32));
    let salted = salted_password(mechanism, password.as_bytes(), &salt, iterations);
    let (stored_key, server_key) = derive_keys(mechanism, &salted);
    ScramCredential {
        salt,
        stored_key,
        server_key,
        iterations: iterations as i32,
    }
}

/// Whether `password` is the one `credential` was made from (PLAIN checks
/// passwords against the SCRAM store this way).
pub fn password_matches(
    mechanism: Mechanism,
    credential: &ScramCredential,
    password: &[u8],
) -> bool {
    let Ok(iterations) = u32::try_from(credential.iterations) else {
        return false;
    };
    let salted = salted_password(mechanism, password, &credential.salt, iterations);
    let (stored_key, _) = derive_keys(mechanism, &salted);
    constant_time_eq(&stored_key, &credential.stored_key)
}

/// A process-wide random key, for comparisons and made-up salts.
fn process_key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| hmac::Key::new(hmac::HMAC_SHA256, &random_bytes(32)))
}

/// Compares in constant time: the HMACs of both under a random key are
/// compared by `ring::hmac::verify`, which does not leak where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let tag = hmac::sign(process_key(), a);
    hmac::verify(process_key(), b, tag.as_ref()).is_ok()
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    // The system RNG does not fail on Linux; should it, the bytes stay
    // zero-filled only for this one value and authentication still works.
    if SystemRandom::new().fill(&mut out).is_err() {
        tracing::error!("system random number generator failed");
    }
    out
}

/// Why an exchange failed. Only `to_client` goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// A message that is not what RFC 5802 says (bad syntax, base64, nonce).
    Malformed(&'static str),
    /// Channel binding asked for (`p=`/`y`): Gregor offers none.
    ChannelBinding,
    /// The `tokenauth` extension: delegation tokens are not supported.
    TokenAuth,
    /// An authzid other than the user name.
    AuthzidMismatch,
    /// Wrong password or unknown user (the client cannot tell which).
    InvalidProof,
}

impl ScramError {
    /// The message for SaslAuthenticate's error_message. Kafka sends this
    /// generic one for every SCRAM failure (it never says why).
    pub fn to_client(&self, mechanism: Mechanism) -> String {
        match self {
            ScramError::AuthzidMismatch => {
                "Authentication failed: Client requested an authorization id that is different from username".to_string()
            }
            _ => format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                mechanism.name()
            ),
        }
    }
}

/// One SCRAM exchange in progress on a connection.
pub enum ScramServer {
    /// Waiting for client-first.
    Start {
        mechanism: Mechanism,
    },
    /// server-first sent; waiting for client-final.
    SentFirst {
        mechanism: Mechanism,
        user: String,
        gs2_header: String,
        nonce: String,
        /// client-first-bare + "," + server-first.
        auth_message_prefix: String,
        credential: ScramCredential,
        /// False when the user does not exist (the proof then always fails).
        known: bool,
    },
    Done,
}

/// What the server answers to a client message.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// server-first: the exchange goes on.
    Continue(Vec<u8>),
    /// server-final: `user` is authenticated.
    Authenticated { response: Vec<u8>, user: String },
}

impl ScramServer {
    pub fn new(mechanism: Mechanism) -> ScramServer {
        ScramServer::Start { mechanism }
    }

    pub fn mechanism(&self) -> Option<Mechanism> {
        match self {
            ScramServer::Start { mechanism } | ScramServer::SentFirst { mechanism, .. } => {
                Some(*mechanism)
            }
            ScramServer::Done => None,
        }
    }

    /// Handles the next client message; any error ends the exchange.
    pub fn step(&mut self, image: &MetadataImage, message: &[u8]) -> Result<ScramStep, ScramError> {
        // Letters and digits only, as Kafka's nonces: some clients
        // (librdkafka 2.0) mangle nonces holding base64's `+`, `/` or `=`.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let nonce: String = random_bytes(32)
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        self.step_with_nonce(image, message, &nonce)
    }

    fn step_with_nonce(
        &mut self,
        image: &MetadataImage,
        message: &[u8],
        server_nonce: &str,
    ) -> Result<ScramStep, ScramError> {
        match std::mem::replace(self, ScramServer::Done) {
            ScramServer::Start { mechanism } => {
                let (state, reply) = client_first(image, mechanism, message, server_nonce)?;
                *self = state;
                Ok(ScramStep::Continue(reply))
            }
            ScramServer::SentFirst {
                mechanism,
                user,
                gs2_header,
                nonce,
                auth_message_prefix,
                credential,
                known,
            } => {
                let message = std::str::from_utf8(message)
                    .map_err(|_| ScramError::Malformed("client-final is not UTF-8"))?;
                let final_ = parse_client_final(message)?;
                let binding = BASE64
                    .decode(final_.channel_binding)
                    .map_err(|_| ScramError::Malformed("bad channel binding base64"))?;
                if binding != gs2_header.as_bytes() {
                    return Err(ScramError::Malformed(
                        "channel binding does not match the gs2 header",
                    ));
                }
                // RFC 5802: the nonce must be exactly the one the server
                // sent. Kafka 4.x checks equality again (CVE-2024-56128), so
                // librdkafka before 2.6.1, which repeats its client nonce in
                // front of it, is refused here as there.
                if final_.nonce != nonce.as_str() {
                    return Err(ScramError::Malformed(
                        "Invalid client nonce in the final client message.",
                    ));
                }
                let proof = BASE64
                    .decode(final_.proof)
                    .map_err(|_| ScramError::Malformed("bad proof base64"))?;
                let auth_message = format!("{auth_message_prefix},{}", final_.without_proof);
                let signature = hmac_of(mechanism, &credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(ScramError::InvalidProof);
                }
                let client_key: Vec<u8> =
                    proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
                let computed = digest::digest(mechanism.digest(), &client_key);
                if !constant_time_eq(computed.as_ref(), &credential.stored_key) || !known {
                    return Err(ScramError::InvalidProof);
                }
                let server_signature =
                    hmac_of(mechanism, &credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Authenticated {
                    response: format!("v={}", BASE64.encode(server_signature)).into_bytes(),
                    user,
                })
            }
            ScramServer::Done => Err(ScramError::Malformed("the exchange is over")),
        }
    }
}

fn client_first(
    image: &MetadataImage,
    mechanism: Mechanism,
    message: &[u8],
    server_nonce: &str,
) -> Result<(ScramServer, Vec<u8>), ScramError> {
    let message = std::str::from_utf8(message)
        .map_err(|_| ScramError::Malformed("client-first is not UTF-8"))?;
    // gs2-header: cbind-flag "," [authzid] ","
    let mut parts = message.splitn(3, ',');
    let flag = parts.next().unwrap_or_default();
    let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    let bare = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
    match flag {
        "n" => {}
        // `y`: the client could bind but thinks we cannot; `p=`: it wants to.
        // Kafka accepts only `n`, as does Gregor.
        f if f == "y" || f.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed("bad gs2 channel binding flag")),
    }
    let authzid = match authzid {
        "" => None,
        a => Some(unescape(
            a.strip_prefix("a=")
                .ok_or(ScramError::Malformed("bad gs2 authzid"))?,
        )?),
    };
    // client-final's channel binding must repeat the header byte for byte.
    let gs2_header = message[..message.len() - bare.len()].to_string();
    // client-first-bare: [reserved-mext ","] username "," nonce ["," extensions]
    let mut fields = bare.split(',');
    let user = fields
        .next()
        .and_then(|f| f.strip_prefix("n="))
        .ok_or(ScramError::Malformed("client-first has no user name"))?;
    let user = unescape(user)?;
    let client_nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .ok_or(ScramError::Malformed("client-first has no nonce"))?;
    if client_nonce.is_empty()
        || !client_nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(ScramError::Malformed("bad client nonce"));
    }
    for extension in fields {
        let (key, value) = extension
            .split_once('=')
            .ok_or(ScramError::Malformed("bad extension"))?;
        if key == "tokenauth" && value.eq_ignore_ascii_case("true") {
            return Err(ScramError::TokenAuth);
        }
    }
    if let Some(authzid) = authzid {
        if authzid != user {
            return Err(ScramError::AuthzidMismatch);
        }
    }
    let stored = image
        .scram_credentials
        .get(&user)
        .and_then(|c| c.get(&mechanism.id()))
        .filter(|c| c.iterations >= MIN_ITERATIONS);
    let known = stored.is_some();
    let credential = match stored {
        Some(c) => c.clone(),
        None => made_up_credential(mechanism, &user),
    };
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&credential.salt),
        credential.iterations
    );
    let reply = server_first.clone().into_bytes();
    Ok((
        ScramServer::SentFirst {
            mechanism,
            user,
            gs2_header,
            nonce,
            auth_message_prefix: format!("{bare},{server_first}"),
            credential,
            known,
        },
        reply,
    ))
}

/// A stable fake credential for a user that does not exist: the same salt
/// every time (so probing twice shows nothing) and keys nobody can match.
pub fn decoy_credential(mechanism: Mechanism, user: &str) -> ScramCredential {
    made_up_credential(mechanism, user)
}

fn made_up_credential(mechanism: Mechanism, user: &str) -> ScramCredential {
    let salt = hmac::sign(process_key(), user.as_bytes()).as_ref()[..16].to_vec();
    ScramCredential {
        salt,
        stored_key: random_bytes(mechanism.output_len()),
        server_key: random_bytes(mechanism.output_len()),
        iterations: MIN_ITERATIONS,
    }
}

/// RFC 5802 saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn unescape(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

struct ClientFinal<'a> {
    channel_binding: &'a str,
    nonce: &'a str,
    proof: &'a str,
    /// Everything before ",p=": part of the AuthMessage.
    without_proof: &'a str,
}

fn parse_client_final(message: &str) -> Result<ClientFinal<'_>, ScramError> {
    let (without_proof, proof) = message
        .rsplit_once(",p=")
        .ok_or(ScramError::Malformed("client-final has no proof"))?;
    let mut fields = without_proof.split(',');
    let channel_binding = fields
        .next()
        .and_then(|f| f.strip_prefix("c="))
        .ok_or(ScramError::Malformed("client-final has no channel binding"))?;
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .ok_or(ScramError::Malformed("client-final has no nonce"))?;
    // Extensions may follow; none is understood and none changes anything.
    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with(user: &str, mechanism: Mechanism, credential: ScramCredential) -> MetadataImage {
        let mut image = MetadataImage::default();
        image.apply(
            0,
            &gregor_metadata::MetadataRecord::UserScramCredential {
                name: user.into(),
                mechanism: mechanism.id(),
                salt: credential.salt,
                stored_key: credential.stored_key,
                server_key: credential.server_key,
                iterations: credential.iterations,
            },
        );
        image
    }

    /// RFC 7677 §3: user "user", password "pencil".
    fn rfc7677_image() -> MetadataImage {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = new_credential(Mechanism::Sha256, "pencil", Some(salt), 4096);
        image_with("user", Mechanism::Sha256, credential)
    }

    #[test]
    fn rfc7677_test_vector() {
        let image = rfc7677_image();
        let mut server = ScramServer::new(Mechanism::Sha256);
        let first = server
            .step_with_nonce(
                &image,
                b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            )
            .unwrap();
        assert_eq!(
            first,
            ScramStep::Continue(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_vec()
            )
        );
        let last = server
            .step(
                &image,
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            last,
            ScramStep::Authenticated {
                response: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
                user: "user".into(),
            }
        );
    }

    /// The client side of an exchange, for round trips.
    fn client_final(
        mechanism: Mechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
        gs2: &str,
    ) -> String {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        let salt = BASE64
            .decode(fields[1].strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted = salted_password(mechanism, password.as_bytes(), &salt, iterations);
        let client_key = hmac_of(mechanism, &salted, b"Client Key");
        let stored_key = digest::digest(mechanism.digest(), &client_key);
        let without_proof = format!("c={},r={nonce}", BASE64.encode(gs2));
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_of(mechanism, stored_key.as_ref(), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    fn run(
        image: &MetadataImage,
        mechanism: Mechanism,
        gs2: &str,
        bare: &str,
        password: &str,
    ) -> Result<ScramStep, ScramError> {
        let mut server = ScramServer::new(mechanism);
        let ScramStep::Continue(first) = server.step(image, format!("{gs2}{bare}").as_bytes())?
        else {
            panic!("one step");
        };
        let first = String::from_utf8(first).unwrap();
        let last = client_final(mechanism, password, bare, &first, gs2);
        server.step(image, last.as_bytes())
    }

    #[test]
    fn sha512_round_trip_with_escaped_name_and_authzid() {
        let name = "a,b=c";
        let credential = new_credential(Mechanism::Sha512, "secret", None, 8192);
        let image = image_with(name, Mechanism::Sha512, credential);
        let ok = run(
            &image,
            Mechanism::Sha512,
            "n,,",
            "n=a=2Cb=3Dc,r=abc",
            "secret",
        )
        .unwrap();
        assert!(matches!(ok, ScramStep::Authenticated { ref user, .. } if user == name));
        let ok = run(
            &image,
            Mechanism::Sha512,
            "n,a=a=2Cb=3Dc,",
            "n=a=2Cb=3Dc,r=abc",
            "secret",
        )
        .unwrap();
        assert!(matches!(ok, ScramStep::Authenticated { .. }));
        // The stored SHA-512 credential is not one for SHA-256.
        assert_eq!(
            run(
                &image,
                Mechanism::Sha256,
                "n,,",
                "n=a=2Cb=3Dc,r=abc",
                "secret"
            ),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_alike() {
        let image = rfc7677_image();
        assert_eq!(
            run(&image, Mechanism::Sha256, "n,,", "n=user,r=x", "pencil2"),
            Err(ScramError::InvalidProof)
        );
        assert_eq!(
            run(&image, Mechanism::Sha256, "n,,", "n=nobody,r=x", "pencil"),
            Err(ScramError::InvalidProof)
        );
        // The made-up salt is stable, so probing twice shows nothing.
        let first = |user: &str| {
            let mut s = ScramServer::new(Mechanism::Sha256);
            let ScramStep::Continue(f) = s
                .step(&image, format!("n,,n={user},r=x").as_bytes())
                .unwrap()
            else {
                panic!()
            };
            String::from_utf8(f)
                .unwrap()
                .split(',')
                .nth(1)
                .unwrap()
                .to_string()
        };
        assert_eq!(first("nobody"), first("nobody"));
        assert_eq!(ScramError::InvalidProof.to_client(Mechanism::Sha256),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256");
    }

    #[test]
    fn refuses_bad_client_first_messages() {
        let image = rfc7677_image();
        let first = |m: &[u8]| {
            ScramServer::new(Mechanism::Sha256)
                .step(&image, m)
                .map(|_| ())
        };
        assert_eq!(
            first(b"p=tls-unique,,n=user,r=x"),
            Err(ScramError::ChannelBinding)
        );
        assert_eq!(first(b"y,,n=user,r=x"), Err(ScramError::ChannelBinding));
        assert_eq!(
            first(b"n,,n=user,r=x,tokenauth=true"),
            Err(ScramError::TokenAuth)
        );
        assert_eq!(
            first(b"n,a=other,n=user,r=x"),
            Err(ScramError::AuthzidMismatch)
        );
        for bad in [
            &b""[..],
            b"n",
            b"n,",
            b"x,,n=user,r=x",
            b"n,,r=x",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=us=er,r=x",
            b"n,,n=user=2,r=x",
            b"n,b=x,n=user,r=x",
            b"n,,n=user,r=x,noequals",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(first(bad), Err(ScramError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_client_final_messages() {
        let image = rfc7677_image();
        let final_ = |m: &[u8]| {
            let mut s = ScramServer::new(Mechanism::Sha256);
            s.step_with_nonce(&image, b"n,,n=user,r=abc", "def")
                .unwrap();
            s.step(&image, m).map(|_| ())
        };
        for bad in [
            &b""[..],
            b"c=biws,r=abcdef",
            b"c=biws,r=abcdex,p=AAAA",
            b"c=eSws,r=abcdef,p=AAAA",
            b"c=!!,r=abcdef,p=AAAA",
            b"r=abcdef,p=AAAA",
            b"c=biws,p=AAAA",
            b"c=biws,r=abcdef,p=!!",
            b"\xff",
        ] {
            assert!(
                matches!(final_(bad), Err(ScramError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            final_(b"c=biws,r=abcdef,p=AAAA"),
            Err(ScramError::InvalidProof)
        );
        // Nothing after the exchange ends.
        let mut s = ScramServer::new(Mechanism::Sha256);
        let _ = s.step(&image, b"junk");
        assert!(s.step(&image, b"n,,n=user,r=x").is_err());
    }

    /// librdkafka before 2.6.1 sends its client nonce again in front of the
    /// combined one; Kafka 4.x refuses that (exact match, CVE-2024-56128),
    /// and so does Gregor even with a correct proof.
    #[test]
    fn refuses_a_repeated_client_nonce_as_kafka_4_does() {
        let image = rfc7677_image();
        let mut server = ScramServer::new(Mechanism::Sha256);
        let bare = "n=user,r=abc";
        let ScramStep::Continue(first) = server
            .step_with_nonce(&image, format!("n,,{bare}").as_bytes(), "def")
            .unwrap()
        else {
            panic!()
        };
        let first = String::from_utf8(first).unwrap();
        // The client's final message, built over the nonce it sends.
        let salted = salted_password(
            Mechanism::Sha256,
            b"pencil",
            &BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(),
            4096,
        );
        let client_key = hmac_of(Mechanism::Sha256, &salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, &client_key);
        let without_proof = "c=biws,r=abcabcdef";
        let auth = format!("{bare},{first},{without_proof}");
        let signature = hmac_of(Mechanism::Sha256, stored_key.as_ref(), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let last = format!("{without_proof},p={}", BASE64.encode(proof));
        assert!(server.step(&image, last.as_bytes()).is_err());
    }

    /// Gregor's own SCRAM client (inter-broker connections) against this
    /// server, both mechanisms, and a wrong password.
    #[test]
    fn gregor_client_round_trip() {
        use gregor_client::sasl::SaslClient;
        use gregor_client::SaslCredentials;
        for (mechanism, name) in [
            (Mechanism::Sha256, "SCRAM-SHA-256"),
            (Mechanism::Sha512, "SCRAM-SHA-512"),
        ] {
            let image = image_with(
                "broker",
                mechanism,
                new_credential(mechanism, "pw", None, 4096),
            );
            for (password, ok) in [("pw", true), ("nope", false)] {
                let credentials = SaslCredentials {
                    mechanism: name.into(),
                    username: "broker".into(),
                    password: password.into(),
                };
                let mut client = SaslClient::new(name).unwrap();
                let mut server = ScramServer::new(mechanism);
                let first = client.first(&credentials).unwrap();
                let ScramStep::Continue(challenge) = server.step(&image, &first).unwrap() else {
                    panic!()
                };
                let last = client.next(&credentials, &challenge).unwrap().unwrap();
                match server.step(&image, &last) {
                    Ok(ScramStep::Authenticated { response, user }) => {
                        assert!(ok);
                        assert_eq!(user, "broker");
                        assert_eq!(client.next(&credentials, &response).unwrap(), None);
                    }
                    Err(ScramError::InvalidProof) => assert!(!ok),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn credentials_below_the_minimum_iterations_are_not_used() {
        let credential = new_credential(Mechanism::Sha256, "pw", None, 1000);
        let image = image_with("low", Mechanism::Sha256, credential);
        assert_eq!(
            run(&image, Mechanism::Sha256, "n,,", "n=low,r=x", "pw"),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn password_check_for_plain() {
        let c = new_credential(Mechanism::Sha512, "pw", None, 4096);
        assert!(password_matches(Mechanism::Sha512, &c, b"pw"));
        assert!(!password_matches(Mechanism::Sha512, &c, b"pw2"));
        assert!(!password_matches(Mechanism::Sha256, &c, b"pw"));
    }
}
