//! JWT validation for SASL/OAUTHBEARER, as Kafka's broker-side JWKS
//! validator (KIP-768) does it: a JWS in compact form, signed with a key of
//! the JWKS (RS256/384/512, ES256/384; `kid` picks the key), `exp` required,
//! `nbf`/`iat` checked with a clock skew, optional issuer and audience, and
//! the principal taken from the `sub` claim (or the configured one).
//! Pure: the keys and the time come from the caller.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

/// Validation rules (the `sasl.oauthbearer.*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub clock_skew_seconds: i64,
    /// `sasl.oauthbearer.expected.issuer`; empty: any issuer.
    pub issuer: String,
    /// `sasl.oauthbearer.expected.audience`; empty: any audience.
    pub audience: Vec<String>,
    pub sub_claim: String,
    pub scope_claim: String,
    /// Development only: tokens with `alg: none` are taken unsigned.
    pub allow_unsecured: bool,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            clock_skew_seconds: 30,
            issuer: String::new(),
            audience: Vec::new(),
            sub_claim: "sub".into(),
            scope_claim: "scope".into(),
            allow_unsecured: false,
        }
    }
}

/// A validated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub principal: String,
    /// `exp`, in milliseconds since the epoch.
    pub expires_ms: i64,
    pub scope: Vec<String>,
}

/// Why a token was refused (for the broker's log; the client only ever
/// hears `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// The token names a key the JWKS does not have (worth a refresh).
    UnknownKey(String),
    Invalid(String),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::UnknownKey(kid) => write!(f, "no key with kid {kid:?} in the JWKS"),
            JwtError::Invalid(why) => f.write_str(why),
        }
    }
}

fn invalid<T>(why: impl Into<String>) -> Result<T, JwtError> {
    Err(JwtError::Invalid(why.into()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed point (0x04 || x || y) on P-256 or P-384.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: KeyMaterial,
}

/// The verification keys of a JWKS document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses `{"keys": [...]}`. Keys Gregor cannot use (other types,
    /// `use: enc`, unknown curves) are skipped, as JWKS consumers do.
    pub fn parse(json: &[u8]) -> Result<JwkSet, String> {
        let doc: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("no \"keys\" array")?;
        Ok(JwkSet {
            keys: keys.iter().filter_map(parse_jwk).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn parse_jwk(jwk: &Value) -> Option<Jwk> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let bytes = |name: &str| field(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    if field("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let key = match field("kty")? {
        "RSA" => KeyMaterial::Rsa {
            n: bytes("n")?,
            e: bytes("e")?,
        },
        "EC" => {
            let (curve, len) = match field("crv")? {
                "P-256" => (Curve::P256, 32),
                "P-384" => (Curve::P384, 48),
                _ => return None,
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != len || y.len() != len {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            KeyMaterial::Ec { curve, point }
        }
        _ => return None,
    };
    Some(Jwk {
        kid: field("kid").map(str::to_string),
        alg: field("alg").map(str::to_string),
        key,
    })
}

/// Validates a compact JWS `token` at `now_ms` (milliseconds since the
/// epoch).
pub fn validate(token: &str, keys: &JwkSet, rules: &Rules, now_ms: i64) -> Result<Token, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return invalid(format!(
            "a JWS has 3 dot-separated parts, this one {}",
            parts.len()
        ));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwtError::Invalid(format!("{what} is not base64url")))
    };
    let header: Value = serde_json::from_slice(&decode(header_b64, "header")?)
        .map_err(|_| JwtError::Invalid("header is not JSON".into()))?;
    let payload: Value = serde_json::from_slice(&decode(payload_b64, "payload")?)
        .map_err(|_| JwtError::Invalid("payload is not JSON".into()))?;
    let signature = decode(signature_b64, "signature")?;
    let Some(alg) = header.get("alg").and_then(Value::as_str) else {
        return invalid("no alg in the header");
    };
    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if alg == "none" {
        if !rules.allow_unsecured {
            return invalid("alg none is refused (unsecured tokens are off)");
        }
        if !signature.is_empty() {
            return invalid("an unsecured token has a signature");
        }
    } else {
        let kid = header.get("kid").and_then(Value::as_str);
        verify(alg, kid, keys, signed, &signature)?;
    }
    claims(&payload, rules, now_ms)
}

fn verify(
    alg: &str,
    kid: Option<&str>,
    keys: &JwkSet,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    let candidates: Vec<&Jwk> = match kid {
        Some(kid) => {
            let found: Vec<&Jwk> = keys
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect();
            if found.is_empty() {
                return Err(JwtError::UnknownKey(kid.to_string()));
            }
            found
        }
        // No kid: any key that fits the algorithm.
        None => keys.keys.iter().collect(),
    };
    for jwk in candidates {
        if jwk.alg.as_deref().is_some_and(|a| a != alg) {
            continue;
        }
        let ok = match (&jwk.key, alg) {
            (KeyMaterial::Rsa { n, e }, "RS256" | "RS384" | "RS512") => {
                let params = match alg {
                    "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, signed, signature)
                    .is_ok()
            }
            (KeyMaterial::Ec { curve, point }, "ES256" | "ES384") => {
                let params = match (curve, alg) {
                    (Curve::P256, "ES256") => &signature::ECDSA_P256_SHA256_FIXED,
                    (Curve::P384, "ES384") => &signature::ECDSA_P384_SHA384_FIXED,
                    _ => continue,
                };
                UnparsedPublicKey::new(params, point)
                    .verify(signed, signature)
                    .is_ok()
            }
            (_, "RS256" | "RS384" | "RS512" | "ES256" | "ES384") => continue,
            _ => return invalid(format!("algorithm {alg} is not supported")),
        };
        if ok {
            return Ok(());
        }
    }
    invalid("the signature does not verify")
}

/// A NumericDate claim in whole seconds (fractions are allowed by RFC 7519).
fn seconds(payload: &Value, name: &str) -> Result<Option<i64>, JwtError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(s) if s.is_finite() => Ok(Some(s.floor() as i64)),
            _ => invalid(format!("claim {name} is not a number")),
        },
    }
}

fn claims(payload: &Value, rules: &Rules, now_ms: i64) -> Result<Token, JwtError> {
    if !payload.is_object() {
        return invalid("the payload is not a JSON object");
    }
    let now = now_ms.div_euclid(1000);
    let skew = rules.clock_skew_seconds.max(0);
    let Some(exp) = seconds(payload, "exp")? else {
        return invalid("no exp claim");
    };
    if exp.saturating_add(skew) <= now {
        return invalid(format!("expired at {exp} (now {now})"));
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = seconds(payload, name)? {
            if t > now.saturating_add(skew) {
                return invalid(format!("{name} {t} is in the future (now {now})"));
            }
        }
    }
    if !rules.issuer.is_empty() {
        let iss = payload.get("iss").and_then(Value::as_str);
        if iss != Some(rules.issuer.as_str()) {
            return invalid(format!("issuer {iss:?} is not the expected one"));
        }
    }
    if !rules.audience.is_empty() {
        let aud: Vec<&str> = match payload.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !aud.iter().any(|a| rules.audience.iter().any(|e| e == a)) {
            return invalid(format!("audience {aud:?} is not an expected one"));
        }
    }
    let principal = match payload.get(&rules.sub_claim) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return invalid(format!("no {} claim", rules.sub_claim)),
    };
    // Kafka's scope: a space-separated string or a list of strings.
    let scope = match payload.get(&rules.scope_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => {
            let scope: Option<Vec<String>> =
                a.iter().map(|v| v.as_str().map(str::to_string)).collect();
            match scope {
                Some(scope) => scope,
                None => return invalid(format!("claim {} is not strings", rules.scope_claim)),
            }
        }
        Some(_) => return invalid(format!("claim {} is not a string", rules.scope_claim)),
    };
    Ok(Token {
        principal,
        expires_ms: exp.saturating_mul(1000),
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair};
    use serde_json::json;

    const NOW_MS: i64 = 1_700_000_000_000;
    const NOW: i64 = NOW_MS / 1000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;

    struct Signer {
        sign: SignFn,
        jwk: Value,
    }

    fn ec_signer(kid: &str) -> Signer {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        Signer {
            sign: Box::new(move |m| {
                pair.sign(&SystemRandom::new(), m)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }),
            jwk,
        }
    }

    fn jws(header: Value, claims: Value, signer: Option<&Signer>) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = signer
            .map(|s| (s.sign)(input.as_bytes()))
            .unwrap_or_default();
        format!("{input}.{}", b64(&sig))
    }

    fn set(signers: &[&Signer]) -> JwkSet {
        let doc = json!({"keys": signers.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>()});
        JwkSet::parse(doc.to_string().as_bytes()).unwrap()
    }

    fn good_claims() -> Value {
        json!({"sub": "alice", "exp": NOW + 600, "iat": NOW, "iss": "https://idp", "aud": ["kafka", "x"], "scope": "a b"})
    }

    #[test]
    fn es256_token_validates() {
        let s = ec_signer("k1");
        let keys = set(&[&s]);
        let token = jws(
            json!({"alg": "ES256", "kid": "k1"}),
            good_claims(),
            Some(&s),
        );
        let rules = Rules {
            issuer: "https://idp".into(),
            audience: vec!["kafka".into()],
            ..Rules::default()
        };
        assert_eq!(
            validate(&token, &keys, &rules, NOW_MS),
            Ok(Token {
                principal: "alice".into(),
                expires_ms: (NOW + 600) * 1000,
                scope: vec!["a".into(), "b".into()],
            })
        );
        // No kid: any key of the set may verify it.
        let token = jws(json!({"alg": "ES256"}), good_claims(), Some(&s));
        assert!(validate(&token, &keys, &rules, NOW_MS).is_ok());
    }

    #[test]
    fn rsa_jwk_parsing() {
        // ring cannot make RSA keys, so RSA signatures that verify are in the
        // integration test (a key from `openssl genpkey`); here the JWK
        // parsing, skipped key types, and a signature that fails.
        let doc =
            br#"{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"},{"kty":"oct","k":"x"}]}"#;
        let keys = JwkSet::parse(doc).unwrap();
        assert_eq!(keys.len(), 1);
        let token = jws(json!({"alg": "RS256", "kid": "r"}), good_claims(), None);
        assert_eq!(
            validate(&token, &keys, &Rules::default(), NOW_MS),
            Err(JwtError::Invalid("the signature does not verify".into()))
        );
    }

    #[test]
    fn refusals() {
        let s = ec_signer("k1");
        let other = ec_signer("k1");
        let keys = set(&[&s]);
        let rules = Rules {
            issuer: "https://idp".into(),
            audience: vec!["kafka".into(), "y".into()],
            ..Rules::default()
        };
        let check = |header: Value, claims: Value, signer: &Signer| {
            validate(&jws(header, claims, Some(signer)), &keys, &rules, NOW_MS)
        };
        let h = || json!({"alg": "ES256", "kid": "k1"});
        let with = |k: &str, v: Value| {
            let mut c = good_claims();
            c[k] = v;
            c
        };
        let without = |k: &str| {
            let mut c = good_claims();
            c.as_object_mut().unwrap().remove(k);
            c
        };
        assert!(check(h(), good_claims(), &other).is_err(), "wrong key");
        assert_eq!(
            check(json!({"alg": "ES256", "kid": "k9"}), good_claims(), &s),
            Err(JwtError::UnknownKey("k9".into()))
        );
        assert!(
            check(h(), with("exp", json!(NOW - 31)), &s).is_err(),
            "expired"
        );
        assert!(
            check(h(), with("exp", json!(NOW - 29)), &s).is_ok(),
            "within skew"
        );
        assert!(check(h(), without("exp"), &s).is_err(), "exp required");
        assert!(check(h(), with("exp", json!("soon")), &s).is_err());
        assert!(
            check(h(), with("nbf", json!(NOW + 60)), &s).is_err(),
            "not yet"
        );
        assert!(check(h(), with("nbf", json!(NOW + 20)), &s).is_ok());
        assert!(check(h(), with("iat", json!(NOW + 60)), &s).is_err());
        assert!(check(h(), with("iss", json!("https://evil")), &s).is_err());
        assert!(check(h(), without("iss"), &s).is_err());
        assert!(
            check(h(), with("aud", json!("y")), &s).is_ok(),
            "aud as a string"
        );
        assert!(check(h(), with("aud", json!(["z"])), &s).is_err());
        assert!(check(h(), without("aud"), &s).is_err());
        assert!(check(h(), without("sub"), &s).is_err());
        assert!(check(h(), with("sub", json!(7)), &s).is_err());
        assert!(check(h(), with("scope", json!(7)), &s).is_err());
        assert!(check(json!({"alg": "HS256", "kid": "k1"}), good_claims(), &s).is_err());
        assert!(
            check(json!({"kid": "k1"}), good_claims(), &s).is_err(),
            "no alg"
        );
    }

    #[test]
    fn alg_none_only_when_unsecured() {
        let token = jws(json!({"alg": "none"}), good_claims(), None);
        let keys = JwkSet::default();
        assert!(validate(&token, &keys, &Rules::default(), NOW_MS).is_err());
        let unsecured = Rules {
            allow_unsecured: true,
            ..Rules::default()
        };
        assert_eq!(
            validate(&token, &keys, &unsecured, NOW_MS).map(|t| t.principal),
            Ok("alice".into())
        );
        // Still checked: expiry.
        let mut old = good_claims();
        old["exp"] = json!(NOW - 100);
        let token = jws(json!({"alg": "none"}), old, None);
        assert!(validate(&token, &keys, &unsecured, NOW_MS).is_err());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let keys = JwkSet::default();
        for token in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            "bnVsbA.bnVsbA.",
            "\u{0}..",
        ] {
            assert!(
                validate(token, &keys, &Rules::default(), NOW_MS).is_err(),
                "{token:?}"
            );
        }
        assert!(JwkSet::parse(b"[]").is_err());
        assert!(JwkSet::parse(b"{\"keys\": 1}").is_err());
        assert!(JwkSet::parse(b"\xff").is_err());
    }
}
