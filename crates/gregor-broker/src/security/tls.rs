//! TLS for SSL and SASL_SSL listeners: Kafka's `ssl.*` settings (PEM key
//! and trust stores, `ssl.client.auth`, protocols, cipher suites), each
//! overridable per listener as `listener.name.<listener>.ssl.*`, turned into
//! a rustls server config (ring provider only).
//!
//! Certificates are reloaded without a restart: the accept loop asks
//! [`TlsListener::reload_if_changed`] now and then, and when a PEM file's
//! size or modification time changed the whole config is rebuilt. New
//! handshakes use it; connections already open keep the old one.

use super::ssl_mapping::SslPrincipalMapper;
use super::{dn, Principal};
use crate::config::{BrokerConfig, ConfigError, SecurityProtocol};
use gregor_client::tls::{normalize_pem, ClientTls};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;

/// Secret values never appear in errors or logs.
const HIDDEN: &str = "[hidden]";

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Where PEM text comes from: a file or the setting's own value.
#[derive(Debug, Clone)]
enum Pem {
    File { setting: String, path: PathBuf },
    Inline { setting: String, text: String },
}

impl Pem {
    fn read(&self) -> Result<(String, String), ConfigError> {
        match self {
            Pem::File { setting, path } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    invalid(
                        setting,
                        &path.display().to_string(),
                        format!("cannot read: {e}"),
                    )
                })?;
                Ok((setting.clone(), normalize_pem(&text)))
            }
            Pem::Inline { setting, text } => Ok((setting.clone(), normalize_pem(text))),
        }
    }

    /// The value to quote in an error: file names yes, inline PEM no.
    fn shown(&self) -> String {
        match self {
            Pem::File { path, .. } => path.display().to_string(),
            Pem::Inline { .. } => HIDDEN.to_string(),
        }
    }
}

/// A key store's contents.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The setting the key came from, and its value as errors may show it.
    key_setting: String,
    key_shown: String,
}

/// The resolved `ssl.*` settings of one listener (files not read yet).
#[derive(Debug, Clone)]
pub struct TlsSettings {
    listener: String,
    /// Certificate chain and key: one PEM (file), or two inline values.
    keystore: Vec<Pem>,
    truststore: Option<Pem>,
    pub client_auth: ClientAuth,
    versions: Vec<&'static SupportedProtocolVersion>,
    /// `ssl.cipher.suites` by IANA name; empty means every suite.
    suites: Vec<(String, String)>,
    pub endpoint_identification: bool,
    /// `ssl.key.password`: decrypts an encrypted PKCS#8 key.
    key_password: Option<KeyPassword>,
    /// Its name as errors show it (`listener.name.<l>.` prefix when used).
    key_password_setting: String,
}

/// A password that `Debug` does not print, and the setting it came from.
#[derive(Clone)]
struct KeyPassword(String);

impl std::fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HIDDEN)
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl TlsSettings {
    /// Reads and checks the settings of `listener` (upper-case name).
    pub fn resolve(config: &BrokerConfig, listener: &str) -> Result<TlsSettings, ConfigError> {
        Self::resolve_for(config, listener, true)
    }

    /// As [`TlsSettings::resolve`]; a client (`need_keystore` false) may
    /// have no key store, and then presents no certificate.
    fn resolve_for(
        config: &BrokerConfig,
        listener: &str,
        need_keystore: bool,
    ) -> Result<TlsSettings, ConfigError> {
        let get = |key: &str| {
            let (name, value) = config.listener_value(listener, key);
            (name, value.trim().to_string())
        };
        let pem_only = |key: &str| -> Result<(), ConfigError> {
            let (name, value) = get(key);
            if !value.eq_ignore_ascii_case("PEM") {
                return Err(invalid(
                    &name,
                    &value,
                    "Gregor reads PEM stores only (set PEM)",
                ));
            }
            Ok(())
        };
        let no_password = |key: &str, what: &str| -> Result<(), ConfigError> {
            let (name, value) = get(key);
            if !value.is_empty() {
                return Err(invalid(
                    &name,
                    HIDDEN,
                    format!("{what} password cannot be specified with PEM format"),
                ));
            }
            Ok(())
        };
        pem_only("ssl.keystore.type")?;
        no_password("ssl.keystore.password", "SSL key store")?;
        // Not trimmed: a password may end in a space.
        let (key_password_setting, key_password) =
            config.listener_value(listener, "ssl.key.password");
        let key_password = key_password.to_string();
        let key_password = (!key_password.is_empty()).then_some(KeyPassword(key_password));
        let (location_name, location) = get("ssl.keystore.location");
        let (chain_name, chain) = get("ssl.keystore.certificate.chain");
        let (key_name, key) = get("ssl.keystore.key");
        let keystore = match (location.is_empty(), chain.is_empty(), key.is_empty()) {
            (false, true, true) => vec![Pem::File {
                setting: location_name,
                path: PathBuf::from(location),
            }],
            (true, false, false) => vec![
                Pem::Inline {
                    setting: chain_name,
                    text: chain,
                },
                Pem::Inline {
                    setting: key_name,
                    text: key,
                },
            ],
            (false, _, _) => {
                return Err(invalid(
                    &location_name,
                    &location,
                    format!(
                        "give either a key store file or {chain_name} and {key_name}, not both"
                    ),
                ))
            }
            (true, true, true) if !need_keystore => Vec::new(),
            (true, true, true) => {
                return Err(invalid(
                    &location_name,
                    "",
                    format!(
                        "listener {listener} uses TLS and needs a key store: a PEM file with the \
                         private key and certificate chain, or {chain_name} and {key_name}"
                    ),
                ))
            }
            (true, false, true) => {
                return Err(invalid(
                    &key_name,
                    "",
                    format!("{chain_name} is set: give the key too"),
                ))
            }
            (true, true, false) => {
                return Err(invalid(
                    &chain_name,
                    "",
                    format!("{key_name} is set: give the certificate chain too"),
                ))
            }
        };
        pem_only("ssl.truststore.type")?;
        no_password("ssl.truststore.password", "SSL trust store")?;
        let (trust_location_name, trust_location) = get("ssl.truststore.location");
        let (trust_certs_name, trust_certs) = get("ssl.truststore.certificates");
        let truststore = match (trust_location.is_empty(), trust_certs.is_empty()) {
            (true, true) => None,
            (false, true) => Some(Pem::File {
                setting: trust_location_name,
                path: PathBuf::from(trust_location),
            }),
            (true, false) => Some(Pem::Inline {
                setting: trust_certs_name,
                text: trust_certs,
            }),
            (false, false) => {
                return Err(invalid(
                    &trust_location_name,
                    &trust_location,
                    format!("give either a trust store file or {trust_certs_name}, not both"),
                ))
            }
        };
        let (auth_name, mut auth) = get("ssl.client.auth");
        // KIP-684: on SASL_SSL only the listener's own ssl.client.auth counts;
        // the broker-wide one is meant for SSL listeners.
        let sasl_ssl = crate::config::listeners::protocol_map(config)
            .ok()
            .and_then(|m| m.get(&listener.to_ascii_uppercase()).copied())
            == Some(SecurityProtocol::SaslSsl);
        if sasl_ssl && auth_name == "ssl.client.auth" {
            auth = "none".to_string();
        }
        let client_auth = match auth.to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => {
                return Err(invalid(
                    &auth_name,
                    &auth,
                    "expected none, requested or required",
                ))
            }
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(invalid(
                &auth_name,
                &auth,
                "client certificates need a trust store \
                 (ssl.truststore.location or ssl.truststore.certificates)",
            ));
        }
        let (protocols_name, protocols) = get("ssl.enabled.protocols");
        let mut versions = Vec::new();
        for p in protocols
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let version = match p {
                "TLSv1.2" => &rustls::version::TLS12,
                "TLSv1.3" => &rustls::version::TLS13,
                _ => {
                    return Err(invalid(
                        &protocols_name,
                        &protocols,
                        format!("unsupported protocol {p}: Gregor serves TLSv1.2 and TLSv1.3"),
                    ))
                }
            };
            versions.push(version);
        }
        if versions.is_empty() {
            return Err(invalid(&protocols_name, &protocols, "no protocol enabled"));
        }
        let (protocol_name, protocol) = get("ssl.protocol");
        if !["TLS", "TLSv1.2", "TLSv1.3"].contains(&protocol.as_str()) {
            return Err(invalid(
                &protocol_name,
                &protocol,
                "expected TLS, TLSv1.2 or TLSv1.3",
            ));
        }
        let (suites_name, suites_value) = get("ssl.cipher.suites");
        let mut suites = Vec::new();
        for suite in suites_value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if find_suite(suite).is_none() {
                return Err(invalid(
                    &suites_name,
                    &suites_value,
                    format!("unsupported cipher suite {suite}"),
                ));
            }
            suites.push((suites_name.clone(), suite.to_string()));
        }
        let (_, identification) = get("ssl.endpoint.identification.algorithm");
        Ok(TlsSettings {
            listener: listener.to_string(),
            keystore,
            truststore,
            client_auth,
            versions,
            suites,
            endpoint_identification: identification.eq_ignore_ascii_case("https"),
            key_password,
            key_password_setting,
        })
    }

    /// The PEM files to watch for changes.
    fn files(&self) -> Vec<PathBuf> {
        self.keystore
            .iter()
            .chain(self.truststore.iter())
            .filter_map(|p| match p {
                Pem::File { path, .. } => Some(path.clone()),
                Pem::Inline { .. } => None,
            })
            .collect()
    }

    /// The crypto provider: ring, narrowed to the configured suites.
    fn provider(&self) -> Arc<CryptoProvider> {
        let mut provider = ring_provider();
        if !self.suites.is_empty() {
            provider.cipher_suites.retain(|s| {
                self.suites
                    .iter()
                    .any(|(_, name)| iana_name(s).as_deref() == Some(name.as_str()))
            });
        }
        Arc::new(provider)
    }

    /// The certificate chain, the private key and where the key came from
    /// (setting, value to show).
    pub fn identity(&self) -> Result<Identity, ConfigError> {
        let mut certs = Vec::new();
        let mut key = None;
        let mut key_source = (String::new(), String::new());
        for source in &self.keystore {
            let (setting, text) = source.read()?;
            let bad = |reason: String| invalid(&setting, &source.shown(), reason);
            for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
                certs.push(cert.map_err(|e| bad(format!("bad PEM certificate: {e}")))?);
            }
            if key.is_none() {
                let password = self.key_password.as_ref().map(|p| p.0.as_str());
                key = gregor_client::pem_key::private_key(&text, password).map_err(|e| {
                    if e.password {
                        invalid(&self.key_password_setting, HIDDEN, e.message)
                    } else {
                        bad(e.message)
                    }
                })?;
                if key.is_some() {
                    key_source = (setting.clone(), source.shown());
                }
            }
        }
        let Some(first) = self.keystore.first() else {
            return Err(invalid("ssl.keystore.location", "", "no key store"));
        };
        let shown = first.shown();
        let setting = match first {
            Pem::File { setting, .. } | Pem::Inline { setting, .. } => setting.clone(),
        };
        let key = key.ok_or_else(|| invalid(&setting, &shown, "no PEM private key found"))?;
        if certs.is_empty() {
            return Err(invalid(&setting, &shown, "no PEM certificate found"));
        }
        Ok(Identity {
            certs,
            key,
            key_setting: key_source.0,
            key_shown: key_source.1,
        })
    }

    /// The trusted CA certificates.
    pub fn roots(&self) -> Result<Option<RootCertStore>, ConfigError> {
        let Some(source) = &self.truststore else {
            return Ok(None);
        };
        let (setting, text) = source.read()?;
        let bad = |reason: String| invalid(&setting, &source.shown(), reason);
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
            let cert = cert.map_err(|e| bad(format!("bad PEM certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("unusable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(bad("no PEM certificate found".into()));
        }
        Ok(Some(roots))
    }

    /// Reads the files and builds the server config.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, ConfigError> {
        let provider = self.provider();
        let Identity {
            certs,
            key,
            key_setting,
            key_shown,
        } = self.identity()?;
        let roots = self.roots()?;
        let versions_name = "ssl.enabled.protocols";
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| {
                invalid(
                    versions_name,
                    &self.listener,
                    format!("no cipher suite for the enabled protocols: {e}"),
                )
            })?;
        let builder = match (self.client_auth, roots) {
            (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
            (auth, Some(roots)) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let verifier = if auth == ClientAuth::Requested {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|e| {
                    invalid(
                        "ssl.truststore.location",
                        "",
                        format!("unusable trust store: {e}"),
                    )
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| invalid(&key_setting, &key_shown, format!("unusable key store: {e}")))?;
        Ok(Arc::new(config))
    }
}

/// The TLS client brokers use towards `listener` (inter-broker, or the
/// controller listener), or None when that listener is not SSL: trusts the
/// listener's trust store, presents its key store (when the server asks for
/// a client certificate) and checks host names unless
/// `ssl.endpoint.identification.algorithm` is empty.
pub fn client_tls(config: &BrokerConfig, listener: &str) -> Result<Option<ClientTls>, ConfigError> {
    let protocol = crate::config::listeners::protocol_map(config)?
        .get(&listener.to_ascii_uppercase())
        .copied();
    if !matches!(
        protocol,
        Some(SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    ) {
        return Ok(None);
    }
    let settings = TlsSettings::resolve_for(config, listener, false)?;
    let (trust_name, _) = config.listener_value(listener, "ssl.truststore.location");
    let Some(roots) = settings.roots()? else {
        return Err(invalid(
            &trust_name,
            "",
            format!(
                "listener {listener} is SSL: nodes connecting to it need a trust store \
                 (ssl.truststore.location or ssl.truststore.certificates)"
            ),
        ));
    };
    let identity = if settings.keystore.is_empty() {
        None
    } else {
        let id = settings.identity()?;
        Some((id.certs, id.key))
    };
    ClientTls::new(
        settings.provider(),
        &settings.versions,
        roots,
        identity,
        settings.endpoint_identification,
    )
    .map(Some)
    .map_err(|e| {
        invalid(
            &trust_name,
            "",
            format!("cannot set up TLS to {listener}: {e}"),
        )
    })
}

/// Applies dynamic broker configs that touch TLS to the TLS listeners, as
/// metadata images arrive (Kafka reloads a listener's key store when
/// `listener.name.<l>.ssl.keystore.location` is altered).
pub struct DynamicTls {
    listeners: Vec<Arc<TlsListener>>,
    /// The TLS-related dynamic configs of this broker last applied.
    last: Mutex<BTreeMap<String, String>>,
}

impl DynamicTls {
    pub fn new(listeners: Vec<Arc<TlsListener>>) -> DynamicTls {
        DynamicTls {
            listeners,
            last: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn on_image(&self, image: &gregor_metadata::MetadataImage, config: &BrokerConfig) {
        if self.listeners.is_empty() {
            return;
        }
        let is_tls =
            |k: &str| k.starts_with("ssl.") || crate::config::listener_override(k).is_some();
        let dynamic: BTreeMap<String, String> = image
            .broker_configs
            .get(&config.node_id)
            .into_iter()
            .flatten()
            .filter(|(k, _)| is_tls(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        {
            let Ok(mut last) = self.last.lock() else {
                return;
            };
            if *last == dynamic {
                return;
            }
            *last = dynamic.clone();
        }
        let effective = config.with_overrides(&dynamic);
        for listener in &self.listeners {
            listener.apply(&effective);
        }
    }
}

/// rustls' ring provider (see gregor-client's for why ring).
pub fn ring_provider() -> CryptoProvider {
    gregor_client::tls::ring_provider()
}

/// The IANA name of a rustls suite (rustls names TLS 1.3 suites `TLS13_*`).
fn iana_name(suite: &rustls::SupportedCipherSuite) -> Option<String> {
    let name = suite.suite().as_str()?;
    Some(match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    })
}

fn find_suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    ring_provider()
        .cipher_suites
        .into_iter()
        .find(|s| iana_name(s).as_deref() == Some(name))
}

/// A file's identity for change detection: size and modification time.
type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &PathBuf) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// One TLS listener: the current acceptor, the principal mapping, and what
/// is needed to rebuild the acceptor when its files change.
pub struct TlsListener {
    /// The listener's name, upper-case.
    name: String,
    settings: RwLock<TlsSettings>,
    acceptor: RwLock<TlsAcceptor>,
    stamps: Mutex<Vec<Stamp>>,
    pub protocol: SecurityProtocol,
    mapper: SslPrincipalMapper,
}

impl TlsListener {
    /// Builds the listener's TLS from its settings; a bad setting, a missing
    /// file or bad PEM is a one-line error naming the setting.
    pub fn load(
        config: &BrokerConfig,
        listener: &str,
        protocol: SecurityProtocol,
    ) -> Result<TlsListener, ConfigError> {
        let settings = TlsSettings::resolve(config, listener)?;
        let stamps = settings.files().iter().map(stamp).collect();
        let server = settings.server_config()?;
        let (rules_name, rules) = config.listener_value(listener, "ssl.principal.mapping.rules");
        let mapper = SslPrincipalMapper::parse(rules)
            .map_err(|reason| invalid(&rules_name, rules, reason))?;
        Ok(TlsListener {
            name: listener.to_string(),
            settings: RwLock::new(settings),
            acceptor: RwLock::new(TlsAcceptor::from(server)),
            stamps: Mutex::new(stamps),
            protocol,
            mapper,
        })
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.acceptor.read().ok().map(|a| a.clone())
    }

    /// Rebuilds the config when a PEM file changed on disk. A broken
    /// replacement is reported and the old certificate stays in use.
    pub fn reload_if_changed(&self) -> bool {
        let Ok(settings) = self.settings.read() else {
            return false;
        };
        let now: Vec<Stamp> = settings.files().iter().map(stamp).collect();
        {
            let Ok(mut stamps) = self.stamps.lock() else {
                return false;
            };
            if *stamps == now {
                return false;
            }
            *stamps = now;
        }
        match settings.server_config() {
            Ok(server) => {
                if let Ok(mut acceptor) = self.acceptor.write() {
                    *acceptor = TlsAcceptor::from(server);
                }
                tracing::info!(listener = %settings.listener, "TLS key or trust store changed: reloaded");
                true
            }
            Err(err) => {
                tracing::warn!(listener = %settings.listener, %err, "TLS key or trust store changed but cannot be loaded; keeping the previous one");
                false
            }
        }
    }

    /// Takes the listener's `ssl.*` settings as `config` says now (the
    /// static ones with dynamic broker configs over them, as AlterConfigs
    /// sets `listener.name.<l>.ssl.keystore.location`). Nothing happens when
    /// they did not change; settings that do not load are reported and the
    /// current ones kept.
    pub fn apply(&self, config: &BrokerConfig) {
        let settings = match TlsSettings::resolve(config, &self.name) {
            Ok(settings) => settings,
            Err(err) => {
                tracing::warn!(listener = %self.name, %err, "dynamic TLS settings refused; keeping the current ones");
                return;
            }
        };
        let unchanged = self
            .settings
            .read()
            .is_ok_and(|current| format!("{:?}", *current) == format!("{settings:?}"));
        if unchanged {
            return;
        }
        match settings.server_config() {
            Ok(server) => {
                let stamps = settings.files().iter().map(stamp).collect();
                if let (Ok(mut acceptor), Ok(mut current), Ok(mut old_stamps)) = (
                    self.acceptor.write(),
                    self.settings.write(),
                    self.stamps.lock(),
                ) {
                    *acceptor = TlsAcceptor::from(server);
                    *current = settings;
                    *old_stamps = stamps;
                }
                tracing::info!(listener = %self.name, "TLS settings changed dynamically: reloaded");
            }
            Err(err) => {
                tracing::warn!(listener = %self.name, %err, "dynamic TLS settings cannot be loaded; keeping the current ones");
            }
        }
    }

    /// The principal a finished handshake gives: on SSL the client
    /// certificate's subject through `ssl.principal.mapping.rules`, or
    /// `User:ANONYMOUS` without one; on SASL_SSL SASL decides, so
    /// anonymous until it does. None when no mapping rule matches (Kafka
    /// fails the authentication).
    pub fn principal(&self, peer_certs: Option<&[CertificateDer<'_>]>) -> Option<Principal> {
        if self.protocol != SecurityProtocol::Ssl {
            return Some(Principal::anonymous());
        }
        let Some(cert) = peer_certs.and_then(|c| c.first()) else {
            return Some(Principal::anonymous());
        };
        let subject = dn::subject_of(cert.as_ref())?;
        self.mapper.name(&subject).map(Principal::user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_pem_is_normalized() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let one_line = cert.pem().replace('\n', " ");
        let normalized = normalize_pem(&one_line);
        let parsed: Vec<_> = CertificateDer::pem_slice_iter(normalized.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].as_ref(), cert.der().as_ref());
    }

    fn config(extra: &[(&str, &str)]) -> BrokerConfig {
        let mut settings: BTreeMap<String, String> = [
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL,TLSONLY:SSL",
            ),
            ("ssl.keystore.location", "/nowhere/server.pem"),
            ("ssl.truststore.location", "/nowhere/ca.pem"),
            ("ssl.client.auth", "required"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            settings.insert(k.to_string(), v.to_string());
        }
        BrokerConfig::from_settings(settings).unwrap()
    }

    #[test]
    fn sasl_ssl_takes_only_its_own_client_auth() {
        let plain = config(&[]);
        let auth = |c: &BrokerConfig, l: &str| TlsSettings::resolve(c, l).unwrap().client_auth;
        assert_eq!(auth(&plain, "TLSONLY"), ClientAuth::Required);
        assert_eq!(auth(&plain, "SECURE"), ClientAuth::None);
        let own = config(&[("listener.name.secure.ssl.client.auth", "requested")]);
        assert_eq!(auth(&own, "SECURE"), ClientAuth::Requested);
        assert_eq!(auth(&own, "TLSONLY"), ClientAuth::Required);
    }

    #[test]
    fn cipher_suites_go_by_iana_name() {
        assert!(find_suite("TLS_AES_128_GCM_SHA256").is_some());
        assert!(find_suite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384").is_some());
        assert!(find_suite("TLS_RSA_WITH_RC4_128_MD5").is_none());
    }
}
