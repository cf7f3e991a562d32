//! Compacted topics as tables: `gregor topic get` and the compaction status
//! `gregor topic describe` prints. Both come from the admin HTTP endpoint
//! of the broker hosting the partition (`gregor.admin.listener`), found
//! through that broker's DescribeConfigs over the Kafka port unless
//! `--admin HOST:PORT` names it. Kafka's protocol has no request for
//! either, and a Gregor-only API key would be one plain clients could
//! trip over; the HTTP endpoint leaves the Kafka port exactly Kafka's.

use anyhow::{anyhow, bail, Context};
use gregor_client::Client;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

/// The broker config that holds the admin endpoint's address.
const ADMIN_LISTENER: &str = "gregor.admin.listener";

/// The admin endpoint of broker `broker_id`: `explicit` if given, else its
/// `gregor.admin.listener` (a wildcard host replaced by the broker's
/// advertised host).
pub async fn admin_address(
    client: &mut Client,
    explicit: Option<&str>,
    broker_id: i32,
) -> anyhow::Result<String> {
    if let Some(address) = explicit {
        return Ok(address.trim_start_matches("http://").to_string());
    }
    let configured = client
        .broker_config(broker_id, ADMIN_LISTENER)
        .await?
        .unwrap_or_default();
    if configured.trim().is_empty() {
        bail!("broker {broker_id} has no admin HTTP endpoint (set {ADMIN_LISTENER}, or pass --admin HOST:PORT)");
    }
    let (host, port) = configured.trim().rsplit_once(':').ok_or_else(|| {
        anyhow!("broker {broker_id} has {ADMIN_LISTENER}={configured}, not host:port")
    })?;
    if matches!(host, "" | "0.0.0.0" | "[::]" | "::") {
        let advertised = client
            .broker_address(broker_id)
            .and_then(|a| a.rsplit_once(':').map(|(h, _)| h.to_string()))
            .unwrap_or_else(|| "127.0.0.1".to_string());
        return Ok(format!("{advertised}:{port}"));
    }
    Ok(configured.trim().to_string())
}

/// GET `path` from the admin endpoint: the status code and the JSON body.
pub async fn get_json(address: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot reach the admin HTTP endpoint {address}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, address)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    let json = serde_json::from_slice(&body).with_context(|| {
        format!("the admin HTTP endpoint {address} answered {status} without JSON")
    })?;
    Ok((status, json))
}

/// A URL path segment.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// The endpoint's `{"error": ...}` message.
pub fn error_message(body: &Value) -> String {
    body.get("error")
        .and_then(Value::as_str)
        .unwrap_or("unexpected answer")
        .to_string()
}

fn ratio(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |r| format!("{r:.2}"))
}

/// Epoch milliseconds, with how long ago or ahead of the broker's `now`.
fn time(v: &Value, now_ms: i64) -> String {
    let Some(ms) = v.as_i64() else {
        return "-".to_string();
    };
    let secs = (ms - now_ms) as f64 / 1000.0;
    if secs < 0.0 {
        format!("{ms} ({:.1}s ago)", -secs)
    } else {
        format!("{ms} (in {secs:.1}s)")
    }
}

/// One line per partition of a `/topics/{t}/compaction` answer, with
/// its partition.
pub fn status_lines(topic: &str, body: &Value) -> Vec<(i32, String)> {
    let empty = Vec::new();
    let now = body.get("now_ms").and_then(Value::as_i64).unwrap_or(0);
    let partitions = body
        .get("partitions")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    partitions
        .iter()
        .map(|p| {
            let num = |k: &str| p.get(k).and_then(Value::as_i64).unwrap_or(0);
            let line = format!(
                "\tTopic: {topic}\tPartition: {}\tDirtyRatio: {}\tCleanedUpTo: {}\tLastClean: {}\tBytesReclaimed: {} (last {})\tNextEligible: {}",
                num("partition"),
                ratio(&p["dirty_ratio"]),
                num("cleaned_up_to_offset"),
                time(&p["last_clean_ms"], now),
                num("total_bytes_reclaimed"),
                num("last_bytes_reclaimed"),
                match p.get("next_eligible_ms") {
                    Some(Value::Null) | None => "when more is written".to_string(),
                    Some(_) if p["eligible"].as_bool() == Some(true) => "now".to_string(),
                    Some(t) => time(t, now),
                },
            );
            (num("partition") as i32, line)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_show_each_partition() {
        let body = serde_json::json!({
            "topic": "t",
            "now_ms": 10_000,
            "partitions": [
                {"partition": 1, "dirty_ratio": 0.25, "cleaned_up_to_offset": 40,
                 "last_clean_ms": 8_000, "total_bytes_reclaimed": 900,
                 "last_bytes_reclaimed": 300, "eligible": false, "next_eligible_ms": 12_500},
                {"partition": 0, "dirty_ratio": 0.0, "cleaned_up_to_offset": 0,
                 "last_clean_ms": null, "total_bytes_reclaimed": 0,
                 "last_bytes_reclaimed": 0, "eligible": false, "next_eligible_ms": null},
            ]
        });
        let lines = status_lines("t", &body);
        assert_eq!(lines[0].0, 1);
        assert_eq!(
            lines[0].1,
            "\tTopic: t\tPartition: 1\tDirtyRatio: 0.25\tCleanedUpTo: 40\tLastClean: 8000 (2.0s ago)\tBytesReclaimed: 900 (last 300)\tNextEligible: 12500 (in 2.5s)"
        );
        assert!(lines[1].1.ends_with(
            "LastClean: -\tBytesReclaimed: 0 (last 0)\tNextEligible: when more is written"
        ));
        assert_eq!(segment("a b/é"), "a%20b%2F%C3%A9");
    }
}
