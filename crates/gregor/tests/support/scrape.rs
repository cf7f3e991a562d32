//! `GET /metrics` of a node's admin endpoint and its samples.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The body of `GET /metrics` on `127.0.0.1:port`, or `None` while nothing
/// answers there within 2 s (a stopped or paused node).
pub fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    Some(body.to_string())
}

/// Every sample of `name` in `body`: its labels (sorted) and value.
pub fn samples(body: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let mut pairs: Vec<(String, String)> = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            pairs.sort();
            Some((pairs, value.parse().ok()?))
        })
        .collect()
}

/// The value of the sample of `name` with exactly `labels`.
pub fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wanted.sort();
    samples(body, name)
        .into_iter()
        .find(|(l, _)| *l == wanted)
        .map(|(_, v)| v)
}

/// Whether any sample of `body` has the label `key="value"`.
pub fn any_with_label(body: &str, key: &str, value: &str) -> bool {
    let needle = format!("{key}=\"{value}\"");
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .any(|line| line.contains(&needle))
}
