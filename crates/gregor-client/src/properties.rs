//! Kafka client settings (a Java-properties `--command-config` file, as
//! Kafka's tools take) turned into a [`Connector`]: `security.protocol`,
//! PEM trust and key stores, hostname verification, `sasl.mechanism` and
//! `sasl.jaas.config`, and Gregor's `gregor.sasl.oauthbearer.token` for a
//! ready-made OAUTHBEARER token. Errors are one line and never show a
//! secret.

use crate::connector::Connector;
use crate::sasl::{parse_jaas, SaslCredentials};
use crate::tls::{normalize_pem, ring_provider, ClientTls};
use anyhow::{anyhow, bail};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The settings this reads; anything else is refused so a typo does not
/// silently leave a connection unsecured.
const KNOWN: &[&str] = &[
    "security.protocol",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "sasl.mechanism",
    "sasl.jaas.config",
    OAUTH_TOKEN,
];

/// Gregor's own key: the CLI fetches no tokens, it is handed one.
pub const OAUTH_TOKEN: &str = "gregor.sasl.oauthbearer.token";

/// Key/value pairs of a Java properties text, in order (`=`, `:` or
/// white space between key and value; `#`/`!` comments; a trailing
/// backslash continues the line; `\t \n \r \f \uXXXX` escapes).
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let first = first.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some(next) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        pairs.push(split_pair(&logical));
    }
    pairs
}

/// An odd number of trailing backslashes: the last one escapes the line end.
fn ends_in_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

fn split_pair(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    push_escaped(&mut key, escaped, &mut chars);
                }
            }
            '=' | ':' => break,
            c if c.is_whitespace() => {
                // White space ends the key; one `=` or `:` may still follow.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('=' | ':')) {
                    chars.next();
                }
                break;
            }
            c => key.push(c),
        }
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    push_escaped(&mut value, escaped, &mut chars);
                }
            }
            c => value.push(c),
        }
    }
    (key, value)
}

fn push_escaped(
    out: &mut String,
    escaped: char,
    rest: &mut std::iter::Peekable<std::str::Chars<'_>>,
) {
    match escaped {
        't' => out.push('\t'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        'f' => out.push('\u{c}'),
        'u' => {
            let hex: String = (0..4).filter_map(|_| rest.next()).collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(c) => out.push(c),
                None => out.push_str(&hex),
            }
        }
        c => out.push(c),
    }
}

/// The connector the settings describe (later keys win, as
/// `--command-property` after `--command-config`).
pub fn connector_from(settings: &[(String, String)]) -> anyhow::Result<Connector> {
    let mut map = BTreeMap::new();
    for (key, value) in settings {
        if !KNOWN.contains(&key.as_str()) {
            bail!(
                "unknown setting {key}: the gregor CLI reads security.protocol, ssl.* (PEM stores), \
                 sasl.mechanism, sasl.jaas.config and {OAUTH_TOKEN}"
            );
        }
        map.insert(key.as_str(), value.trim());
    }
    let get = |key: &str| map.get(key).copied().filter(|v| !v.is_empty());
    let protocol = get("security.protocol")
        .unwrap_or("PLAINTEXT")
        .to_ascii_uppercase();
    let (tls, sasl) = match protocol.as_str() {
        "PLAINTEXT" => (false, false),
        "SSL" => (true, false),
        "SASL_PLAINTEXT" => (false, true),
        "SASL_SSL" => (true, true),
        other => bail!(
            "invalid security.protocol {other}: expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
        ),
    };
    let verify_hostname = verify_hostname(&map)?;
    let tls = if tls {
        Some(client_tls(&get, verify_hostname)?)
    } else {
        None
    };
    let sasl = if sasl { Some(credentials(&get)?) } else { None };
    Ok(Connector::new(tls, sasl))
}

/// TLS from the `ssl.*` settings among `settings` (others are not looked
/// at), as Kafka reads an https:// OAUTHBEARER endpoint's trust from the
/// login module's JAAS options.
pub fn tls_from(settings: &[(String, String)]) -> anyhow::Result<ClientTls> {
    let mut map = BTreeMap::new();
    for (key, value) in settings.iter().filter(|(k, _)| k.starts_with("ssl.")) {
        if !KNOWN.contains(&key.as_str()) {
            bail!("unknown setting {key}");
        }
        map.insert(key.as_str(), value.trim());
    }
    let get = |key: &str| map.get(key).copied().filter(|v| !v.is_empty());
    client_tls(&get, verify_hostname(&map)?)
}

/// Kafka's default is https; only a present, empty value turns the check
/// off.
fn verify_hostname(map: &BTreeMap<&str, &str>) -> anyhow::Result<bool> {
    match map.get("ssl.endpoint.identification.algorithm") {
        None => Ok(true),
        Some(&"") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("https") => Ok(true),
        Some(other) => {
            bail!("invalid ssl.endpoint.identification.algorithm {other}: expected https or empty")
        }
    }
}

type Get<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

fn client_tls(get: &Get<'_>, verify_hostname: bool) -> anyhow::Result<ClientTls> {
    for key in ["ssl.truststore.type", "ssl.keystore.type"] {
        if let Some(kind) = get(key) {
            if !kind.eq_ignore_ascii_case("PEM") {
                bail!("invalid {key} {kind}: the gregor CLI reads PEM stores only");
            }
        }
    }
    // PEM stores have no store password (Kafka refuses one too); an
    // encrypted private key's password is ssl.key.password.
    for key in ["ssl.truststore.password", "ssl.keystore.password"] {
        if get(key).is_some() {
            bail!("{key} is set: PEM stores take no store password");
        }
    }
    let versions = protocol_versions(get)?;
    let roots = trust_store(get)?;
    let identity = key_store(get)?;
    ClientTls::new(
        Arc::new(ring_provider()),
        &versions,
        roots,
        identity,
        verify_hostname,
    )
    .map_err(|e| anyhow!("cannot set up TLS: {e}"))
}

fn protocol_versions(
    get: &Get<'_>,
) -> anyhow::Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    if let Some(protocol) = get("ssl.protocol") {
        if !matches!(protocol, "TLS" | "TLSv1.2" | "TLSv1.3") {
            bail!("invalid ssl.protocol {protocol}: expected TLSv1.3, TLSv1.2 or TLS");
        }
    }
    let Some(list) = get("ssl.enabled.protocols") else {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    };
    let mut versions = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        versions.push(match name {
            "TLSv1.3" => &rustls::version::TLS13,
            "TLSv1.2" => &rustls::version::TLS12,
            other => {
                bail!("invalid ssl.enabled.protocols entry {other}: expected TLSv1.2 or TLSv1.3")
            }
        });
    }
    if versions.is_empty() {
        bail!("ssl.enabled.protocols is empty");
    }
    Ok(versions)
}

/// PEM text from `file_key` (a path) or `inline_key` (the PEM itself); not
/// both. None when neither is set.
fn pem_text(
    get: &Get<'_>,
    file_key: &str,
    inline_keys: &[&str],
) -> anyhow::Result<Option<(String, String)>> {
    let inline: Vec<(&str, &str)> = inline_keys
        .iter()
        .filter_map(|k| get(k).map(|v| (*k, v)))
        .collect();
    match (get(file_key), inline.is_empty()) {
        (Some(_), false) => bail!("set {file_key} or {}, not both", inline_keys.join(" + ")),
        (Some(path), true) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow!("cannot read {file_key} {path}: {e}"))?;
            Ok(Some((format!("{file_key} {path}"), normalize_pem(&text))))
        }
        (None, false) => {
            let text: Vec<String> = inline.iter().map(|(_, v)| normalize_pem(v)).collect();
            Ok(Some((inline[0].0.to_string(), text.concat())))
        }
        (None, true) => Ok(None),
    }
}

fn trust_store(get: &Get<'_>) -> anyhow::Result<RootCertStore> {
    let Some((source, text)) = pem_text(
        get,
        "ssl.truststore.location",
        &["ssl.truststore.certificates"],
    )?
    else {
        // Kafka falls back to the JVM's trust store; Gregor carries no
        // system roots.
        bail!(
            "TLS needs a trust store: set ssl.truststore.location or ssl.truststore.certificates (PEM)"
        );
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
        let cert = cert.map_err(|e| anyhow!("bad PEM certificate in {source}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| anyhow!("unusable CA certificate in {source}: {e}"))?;
    }
    if roots.is_empty() {
        bail!("no PEM certificate in {source}");
    }
    Ok(roots)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn key_store(get: &Get<'_>) -> anyhow::Result<Option<Identity>> {
    if get("ssl.keystore.certificate.chain").is_some() != get("ssl.keystore.key").is_some() {
        bail!("set both ssl.keystore.certificate.chain and ssl.keystore.key, or neither");
    }
    let Some((source, text)) = pem_text(
        get,
        "ssl.keystore.location",
        &["ssl.keystore.certificate.chain", "ssl.keystore.key"],
    )?
    else {
        return Ok(None);
    };
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("bad PEM certificate in {source}: {e}"))?;
    if certs.is_empty() {
        bail!("no PEM certificate in {source}");
    }
    let key = crate::pem_key::private_key(&text, get("ssl.key.password"))
        .map_err(|e| anyhow!("the private key in {source}: {e}"))?
        .ok_or_else(|| anyhow!("no PEM private key in {source}"))?;
    Ok(Some((certs, key)))
}

fn credentials(get: &Get<'_>) -> anyhow::Result<SaslCredentials> {
    // Kafka's default mechanism is GSSAPI, which Gregor does not speak.
    let mechanism = get("sasl.mechanism").unwrap_or("GSSAPI");
    match mechanism {
        "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
            let jaas = get("sasl.jaas.config")
                .ok_or_else(|| anyhow!("sasl.mechanism {mechanism} needs sasl.jaas.config"))?;
            let (username, password) = parse_jaas(jaas).ok_or_else(|| {
                anyhow!("sasl.jaas.config needs username=\"...\" password=\"...\" options")
            })?;
            Ok(SaslCredentials {
                mechanism: mechanism.to_string(),
                username,
                password,
            })
        }
        "OAUTHBEARER" => {
            let token = get(OAUTH_TOKEN).ok_or_else(|| {
                anyhow!("sasl.mechanism OAUTHBEARER needs {OAUTH_TOKEN} (the gregor CLI fetches no tokens)")
            })?;
            Ok(SaslCredentials::oauthbearer(token.to_string()))
        }
        other => bail!(
            "unsupported sasl.mechanism {other}: expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
        ),
    }
}

#[cfg(test)]
mod tests;
