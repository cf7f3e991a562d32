//! Where OAUTHBEARER's verification keys come from:
//! `sasl.oauthbearer.jwks.endpoint.url`, an `https://`, `http://` or
//! `file://` URL, read
//! at start-up, again every `sasl.oauthbearer.jwks.endpoint.refresh.ms`, and
//! when a token names a key the set lacks (at most once per
//! [`UNKNOWN_KID_BACKOFF`], so bogus tokens cannot make the broker hammer
//! the identity provider). A failed refresh keeps the keys it had.
//!
//! HTTP is a minimal HTTP/1.1 GET over a tokio socket: one request for a
//! small JSON document does not justify hyper or reqwest (and their
//! dependency trees) in the broker. `https://` runs it over gregor-client's
//! TLS client, trusting what the OAUTHBEARER JAAS options' `ssl.*` say (as
//! Kafka's JaasOptionsUtils does), else the broker's `ssl.truststore.*`.

use super::jwt::JwkSet;
use gregor_client::tls::ClientTls;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a fetch may take before it is given up.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between two fetches caused by unknown `kid`s.
pub const UNKNOWN_KID_BACKOFF: Duration = Duration::from_secs(10);
/// The largest JWKS document taken.
const MAX_BODY: usize = 1 << 20;

/// A parsed `sasl.oauthbearer.jwks.endpoint.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksUrl {
    Http {
        host: String,
        port: u16,
        path: String,
        /// Set for `https://`: the TLS client the endpoint is read with.
        tls: Option<ClientTls>,
    },
    File(std::path::PathBuf),
}

impl JwksUrl {
    /// `https_tls` is what an `https://` URL is read with; such a URL
    /// without it is refused.
    pub fn parse(url: &str, https_tls: Option<ClientTls>) -> Result<JwksUrl, String> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(JwksUrl::File(path.into()));
        }
        let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("https://") {
            let tls = https_tls.ok_or("an https:// JWKS endpoint needs a trust store")?;
            (rest, Some(tls), 443)
        } else {
            let rest = url
                .strip_prefix("http://")
                .ok_or("expected an https://, http:// or file:// URL")?;
            (rest, None, 80)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| "bad port")?)
            }
            _ => (authority, default_port),
        };
        if host.is_empty() || authority.contains('@') {
            return Err("expected http[s]://host[:port]/path".into());
        }
        Ok(JwksUrl::Http {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            path: path.to_string(),
            tls,
        })
    }

    /// The JWKS document, read within [`FETCH_TIMEOUT`].
    pub async fn fetch(&self) -> Result<JwkSet, String> {
        let body = match tokio::time::timeout(FETCH_TIMEOUT, self.read()).await {
            Ok(body) => body?,
            Err(_) => return Err("timed out".into()),
        };
        JwkSet::parse(&body)
    }

    async fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            JwksUrl::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(path))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            JwksUrl::Http {
                host,
                port,
                path,
                tls,
            } => http_get(host, *port, path, tls.as_ref()).await,
        }
    }
}

async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    tls: Option<&ClientTls>,
) -> Result<Vec<u8>, String> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    let default_port = if tls.is_some() { 443 } else { 80 };
    let host_header = if port == default_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let Some(tls) = tls else {
        return get_over(stream, &host_header, path, false).await;
    };
    // The certificate must name the URL's host (IPv6 in brackets).
    let name = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let stream = tls
        .connect(stream, &name)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    get_over(stream, &host_header, path, true).await
}

/// One GET over `stream`, the response read until the server closes. Over
/// TLS a close without close_notify is taken only when the response's own
/// framing (Content-Length or chunks) shows it complete.
async fn get_over<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host_header: &str,
    path: &str,
    tls: bool,
) -> Result<Vec<u8>, String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: gregor\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let read = (&mut stream)
        .take(MAX_BODY as u64 + 16 * 1024)
        .read_to_end(&mut response)
        .await;
    match read {
        Ok(_) => parse_response(&response, false),
        Err(e) if tls && e.kind() == std::io::ErrorKind::UnexpectedEof => {
            parse_response(&response, true)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The body of a complete HTTP/1.x response, if its status is 200;
/// `framed_only` refuses a body delimited by the connection's end alone.
fn parse_response(response: &[u8], framed_only: bool) -> Result<Vec<u8>, String> {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let body = &response[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("HTTP status {status:?}"));
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length")?;
        body.get(..len)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else if framed_only {
        return Err("the connection ended without TLS close_notify".into());
    } else {
        body.to_vec()
    };
    if body.len() > MAX_BODY {
        return Err("JWKS document too large".into());
    }
    Ok(body)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("truncated chunk")?);
        body = body.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// The current keys and when they were last (tried to be) fetched.
pub struct JwksCache {
    url: JwksUrl,
    refresh: Duration,
    state: Mutex<CacheState>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

struct CacheState {
    keys: Arc<JwkSet>,
    last_attempt: Option<Instant>,
}

impl JwksCache {
    pub fn new(url: JwksUrl, refresh: Duration) -> JwksCache {
        JwksCache {
            url,
            refresh,
            state: Mutex::new(CacheState {
                keys: Arc::new(JwkSet::default()),
                last_attempt: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn keys(&self) -> Arc<JwkSet> {
        match self.state.lock() {
            Ok(state) => state.keys.clone(),
            Err(poisoned) => poisoned.into_inner().keys.clone(),
        }
    }

    fn last_attempt(&self) -> Option<Instant> {
        match self.state.lock() {
            Ok(state) => state.last_attempt,
            Err(poisoned) => poisoned.into_inner().last_attempt,
        }
    }

    /// Fetches the keys now; on failure the old ones stay.
    pub async fn refresh(&self) {
        let _one = self.fetching.lock().await;
        let fetched = self.url.fetch().await;
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.last_attempt = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "JWKS fetched");
                if keys.is_empty() {
                    tracing::warn!("the JWKS has no usable signing keys");
                }
                state.keys = Arc::new(keys);
            }
            Err(e) => {
                tracing::warn!("cannot fetch the JWKS (sasl.oauthbearer.jwks.endpoint.url): {e}")
            }
        }
    }

    /// A token named key `kid` the set lacks: fetch again unless that was
    /// tried lately. Returns the keys to use.
    pub async fn on_unknown_kid(&self, kid: &str) -> Arc<JwkSet> {
        let recent = self
            .last_attempt()
            .is_some_and(|t| t.elapsed() < UNKNOWN_KID_BACKOFF);
        if !recent {
            tracing::debug!(%kid, "unknown kid; fetching the JWKS again");
            self.refresh().await;
        }
        self.keys()
    }

    /// Fetches now and then every refresh interval, for as long as the
    /// cache is in use.
    pub fn spawn_refresher(self: &Arc<JwksCache>) {
        let cache = Arc::downgrade(self);
        let period = self.refresh;
        tokio::spawn(async move {
            loop {
                let Some(strong) = cache.upgrade() else {
                    return;
                };
                strong.refresh().await;
                drop(strong);
                tokio::time::sleep(period).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            JwksUrl::parse("http://127.0.0.1:8080/jwks.json", None),
            Ok(JwksUrl::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/jwks.json".into(),
                tls: None,
            })
        );
        assert_eq!(
            JwksUrl::parse("http://idp", None),
            Ok(JwksUrl::Http {
                host: "idp".into(),
                port: 80,
                path: "/".into(),
                tls: None,
            })
        );
        assert_eq!(
            JwksUrl::parse("file:///etc/jwks.json", None),
            Ok(JwksUrl::File("/etc/jwks.json".into()))
        );
        // https needs a TLS client (a trust store).
        assert!(JwksUrl::parse("https://idp/jwks", None).is_err());
        assert!(JwksUrl::parse("ftp://idp/jwks", None).is_err());
        assert!(JwksUrl::parse("http://:80/", None).is_err());
        assert!(JwksUrl::parse("http://h:x/", None).is_err());
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk";
        assert_eq!(parse_response(ok, false), Ok(b"{}".to_vec()));
        // Over TLS without close_notify only a framed body is whole.
        assert_eq!(parse_response(ok, true), Ok(b"{}".to_vec()));
        assert!(parse_response(b"HTTP/1.0 200 OK\r\n\r\n{\"keys\":[]}", true).is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3;x=y\r\nk\":\r\n1\r\n1\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked, false), Ok(b"{\"k\":1".to_vec()));
        let close = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n{\"keys\":[]}";
        assert_eq!(parse_response(close, false), Ok(b"{\"keys\":[]}".to_vec()));
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", false).is_err());
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false
        )
        .is_err());
    }
}
