//! `/console/messages`: the message browser. A topic's committed records
//! from an offset, a timestamp, the oldest or the newest; one partition or
//! all; decoded as UTF-8, JSON or hex; filtered in the broker by a
//! [`Filter`] expression; with a live tail that re-polls every 2 seconds.
//!
//! Reading needs `Read` on the topic (the Fetch API's ACL). Records of the
//! partitions this broker leads come from its replica manager's
//! read_committed read path; the others from their leaders, with Fetch
//! (READ_COMMITTED) as the logged-in user; partitions without a leader
//! are listed as unavailable.

use super::ctx::Ctx;
use super::decode::{show, Format};
use super::error::ConsoleError;
use super::filter::{Filter, Subject};
use super::fmt;
use super::form::Query;
use super::records::{self, Scanned, Start};
use super::remote_records::{self, Leader};
use super::state::ConsoleState;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gregor_metadata::acl::{AclOperation, ResourceType};
use gregor_protocol::records::Record;
use kafka_protocol::messages::ApiKey;
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

/// Default and largest number of records shown.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
/// Default and largest number of records decoded per request (shared
/// equally by the partitions read).
const DEFAULT_MAX_SCAN: usize = 10_000;
const MAX_MAX_SCAN: usize = 100_000;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/messages", get(page))
        .route("/console/messages/results", get(results))
}

/// The browser's query string; every field is text so a bad one gets a
/// message naming it.
#[derive(Deserialize, Default, Clone)]
struct Params {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    partition: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    max_scan: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    tail: String,
}

/// [`Params`] checked.
struct Browse {
    topic: String,
    /// `None`: all partitions.
    partition: Option<i32>,
    start: Start,
    limit: usize,
    max_scan: usize,
    filter: Option<Arc<Filter>>,
    format: Format,
    tail: bool,
}

fn bounded(field: &str, text: &str, default: usize, max: usize) -> Result<usize, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(default);
    }
    let n: usize = text.parse().map_err(|_| {
        ConsoleError::bad_request(format!("{field} must be a positive integer, not '{text}'"))
    })?;
    if n == 0 || n > max {
        return Err(ConsoleError::bad_request(format!(
            "{field} must be between 1 and {max}, not {n}"
        )));
    }
    Ok(n)
}

impl Params {
    fn check(&self) -> Result<Browse, ConsoleError> {
        let topic = self.topic.trim().to_string();
        if topic.is_empty() {
            return Err(ConsoleError::bad_request("choose a topic"));
        }
        let partition = match self.partition.trim() {
            "" | "all" => None,
            p => Some(p.parse::<i32>().ok().filter(|p| *p >= 0).ok_or_else(|| {
                ConsoleError::bad_request(format!("partition must be 'all' or a number, not '{p}'"))
            })?),
        };
        let limit = bounded("limit", &self.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
        let max_scan = bounded("max_scan", &self.max_scan, DEFAULT_MAX_SCAN, MAX_MAX_SCAN)?;
        let start = match self.from.trim() {
            "" | "newest" => Start::Newest(limit as i64),
            "oldest" => Start::Oldest,
            "offset" => {
                let text = self.offset.trim();
                let offset = text
                    .parse::<i64>()
                    .ok()
                    .filter(|o| *o >= 0)
                    .ok_or_else(|| {
                        ConsoleError::bad_request(format!(
                            "offset must be a number >= 0, not '{text}'"
                        ))
                    })?;
                Start::Offset(offset)
            }
            "timestamp" => {
                let text = self.timestamp.trim();
                let ts = fmt::parse_time(text).ok_or_else(|| {
                    ConsoleError::bad_request(format!(
                        "timestamp must be YYYY-MM-DDTHH:MM[:SS] (UTC) or milliseconds, not '{text}'"
                    ))
                })?;
                Start::Timestamp(ts)
            }
            other => {
                return Err(ConsoleError::bad_request(format!(
                    "from must be newest, oldest, offset or timestamp, not '{other}'"
                )))
            }
        };
        let filter = match self.filter.trim() {
            "" => None,
            text => Some(Arc::new(Filter::parse(text).map_err(|e| {
                ConsoleError::bad_request(format!("bad filter: {e}"))
            })?)),
        };
        let format = Format::parse(self.format.trim()).ok_or_else(|| {
            ConsoleError::bad_request(format!(
                "format must be auto, text, json or hex, not '{}'",
                self.format
            ))
        })?;
        Ok(Browse {
            topic,
            partition,
            start,
            limit,
            max_scan,
            filter,
            format,
            tail: self.tail == "on" || self.tail == "true",
        })
    }
}

/// The browse's outcome, for rendering.
struct Outcome {
    records: Vec<(i32, Record)>,
    scanned: usize,
    truncated: bool,
    /// Partitions of the topic without a leader (or not hosted here when
    /// this broker is their leader).
    elsewhere: Vec<i32>,
    /// Partitions whose leader could not be read, with why.
    unreachable: Vec<(i32, String)>,
}

async fn browse(ctx: &Ctx, b: &Browse) -> Result<Outcome, ConsoleError> {
    // Authorize before looking the topic up, as Fetch does: an
    // unauthorized user learns nothing about whether it exists.
    ctx.authorize(
        ApiKey::Fetch,
        AclOperation::Read,
        ResourceType::Topic,
        &b.topic,
    )?;
    let image = ctx.broker().controller.image();
    let topic = image
        .topic(&b.topic)
        .ok_or_else(|| ConsoleError::not_found(format!("unknown topic '{}'", b.topic)))?;
    let mut indexes: Vec<i32> = topic.partitions.keys().copied().collect();
    indexes.sort_unstable();
    if let Some(p) = b.partition {
        if !indexes.contains(&p) {
            return Err(ConsoleError::not_found(format!(
                "topic '{}' has no partition {p}",
                b.topic
            )));
        }
        indexes = vec![p];
    }
    // Partitions this broker leads are read from its log; the others
    // from their leaders (Fetch as this user), as a consumer would.
    let me = ctx.broker().config.node_id;
    let leaders: Vec<(i32, i32)> = indexes
        .iter()
        .map(|i| (*i, topic.partitions.get(i).map_or(-1, |p| p.leader)))
        .collect();
    let local: Vec<i32> = leaders
        .iter()
        .filter(|(_, l)| *l == me)
        .map(|(i, _)| *i)
        .collect();
    let replicas = ctx.broker().replicas.clone();
    // max_scan bounds the whole request: each partition gets its share.
    let per_partition = (b.max_scan / indexes.len().max(1)).max(1);
    let (topic_name, start, limit, max_scan, filter) = (
        b.topic.clone(),
        b.start,
        b.limit,
        per_partition,
        b.filter.clone(),
    );
    let keep_last = matches!(start, Start::Newest(_));
    // Newest with a filter looks back over up to max_scan records.
    let start = match (start, &filter) {
        (Start::Newest(_), Some(_)) => Start::Newest(max_scan as i64),
        (s, _) => s,
    };
    let keeper = |filter: Option<Arc<Filter>>, index: i32| {
        move |r: &Record| match &filter {
            None => true,
            Some(f) => {
                let headers: Vec<(String, Option<&[u8]>)> = r
                    .headers
                    .iter()
                    .map(|h| (h.key.clone(), h.value.as_deref()))
                    .collect();
                f.matches(&Subject {
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    headers: &headers,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    partition: index,
                })
            }
        }
    };
    // Segment reads are blocking file IO.
    let local_filter = filter.clone();
    let mut scans = tokio::task::spawn_blocking(move || {
        let mut scans: Vec<(i32, Option<Scanned>)> = Vec::new();
        for index in local {
            let Some(partition) = replicas.partition(&topic_name, index) else {
                scans.push((index, None));
                continue;
            };
            let from = records::resolve(&partition, start)?;
            let keep = keeper(local_filter.clone(), index);
            let scanned = records::scan(&partition, from, limit, max_scan, keep_last, keep)?;
            scans.push((index, Some(scanned)));
        }
        Ok::<_, String>(scans)
    })
    .await
    .map_err(|e| ConsoleError::internal(format!("browse failed: {e}")))?
    .map_err(|e| ConsoleError::internal(format!("cannot read the log: {e}")))?;
    let mut unreachable = Vec::new();
    for (index, leader) in leaders {
        if leader == me {
            continue;
        }
        if leader < 0 {
            scans.push((index, None));
            continue;
        }
        let at = Leader {
            node: leader,
            topic: &b.topic,
            partition: index,
        };
        let keep = keeper(filter.clone(), index);
        match remote_records::scan(ctx, &at, start, limit, max_scan, keep_last, keep).await {
            Ok(scanned) => scans.push((index, Some(scanned))),
            // A leader out of reach costs its partition, not the page.
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
                unreachable.push((index, e.message))
            }
            Err(e) => return Err(e),
        }
    }
    let mut outcome = Outcome {
        records: Vec::new(),
        scanned: 0,
        truncated: false,
        elsewhere: Vec::new(),
        unreachable,
    };
    for (index, scan) in scans {
        match scan {
            None => outcome.elsewhere.push(index),
            Some(scan) => {
                outcome.scanned += scan.scanned;
                outcome.truncated |= scan.truncated;
                outcome
                    .records
                    .extend(scan.records.into_iter().map(|r| (index, r)));
            }
        }
    }
    // Across partitions: in time order, the first (or for newest the
    // last) `limit`.
    outcome
        .records
        .sort_by_key(|(p, r)| (r.timestamp, *p, r.offset));
    if outcome.records.len() > b.limit {
        if keep_last {
            let excess = outcome.records.len() - b.limit;
            outcome.records.drain(..excess);
        } else {
            outcome.records.truncate(b.limit);
        }
    }
    Ok(outcome)
}

fn field(bytes: Option<&[u8]>, format: Format) -> Markup {
    let shown = show(bytes, format);
    html! {
        @if shown.as_ == "null" { span.muted { "null" } }
        @else { pre data-as=(shown.as_) { (shown.text) } }
    }
}

fn render(b: &Browse, params: &Params, outcome: &Outcome) -> Markup {
    let query = serde_urlencoded::to_string([
        ("topic", params.topic.as_str()),
        ("partition", params.partition.as_str()),
        ("from", params.from.as_str()),
        ("offset", params.offset.as_str()),
        ("timestamp", params.timestamp.as_str()),
        ("limit", params.limit.as_str()),
        ("max_scan", params.max_scan.as_str()),
        ("filter", params.filter.as_str()),
        ("format", params.format.as_str()),
        ("tail", params.tail.as_str()),
    ])
    .unwrap_or_default();
    html! {
        @if b.tail {
            // Live tail: this fragment fetches itself again every 2 s.
            div #tail hx-get={ "/console/messages/results?" (query) } hx-trigger="every 2s"
                hx-target="#results" hx-swap="innerHTML" {
                span.badge { "live" } " refreshing every 2 s"
            }
        }
        p.muted #summary {
            (outcome.records.len()) " records shown, " (outcome.scanned) " scanned"
            @if outcome.truncated { " (stopped at max_scan: " (b.max_scan) " records per request, shared by the partitions)" }
            @if !outcome.elsewhere.is_empty() {
                ". Partitions without a leader: "
                (outcome.elsewhere.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))
            }
            @for (p, why) in &outcome.unreachable {
                ". Partition " (p) " not read: " (why)
            }
        }
        table #records {
            thead { tr {
                th.num { "Partition" } th.num { "Offset" } th { "Timestamp" }
                th { "Key" } th { "Value" } th { "Headers" }
            } }
            tbody {
                @for (p, r) in &outcome.records {
                    tr.record {
                        td.num { (p) }
                        td.num { (r.offset) }
                        td.ts { (fmt::time_ms(r.timestamp)) }
                        td.key { (field(r.key.as_deref(), b.format)) }
                        td.value { (field(r.value.as_deref(), b.format)) }
                        td.headers {
                            @for h in &r.headers {
                                div { code { (h.key) } ": " (field(h.value.as_deref(), b.format)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn results(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, ConsoleError> {
    let b = params.check()?;
    let outcome = browse(&ctx, &b).await?;
    Ok(ctx.fragment(render(&b, &params, &outcome)))
}

fn select(name: &str, current: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        select name=(name) {
            @for (value, label) in options {
                option value=(value) selected[*value == current] { (label) }
            }
        }
    }
}

async fn page(ctx: Ctx, Query(params): Query<Params>) -> Result<Response, ConsoleError> {
    let metadata = super::overview::metadata(&ctx).await?;
    let mut topics: Vec<String> = metadata
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    topics.sort();
    // With a topic in the URL the results are part of the page, so a link
    // shows them without JavaScript.
    let results = if params.topic.trim().is_empty() {
        None
    } else {
        Some(match params.check() {
            Ok(b) => match browse(&ctx, &b).await {
                Ok(outcome) => render(&b, &params, &outcome),
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        })
    };
    let body = html! {
        form.inline #browse method="get" action="/console/messages"
            hx-get="/console/messages/results" hx-target="#results" hx-swap="innerHTML" {
            label { "Topic"
                input name="topic" list="topic-names" required value=(params.topic);
                datalist #topic-names { @for t in &topics { option value=(t) {} } }
            }
            label { "Partition" input name="partition" size="5" placeholder="all" value=(params.partition); }
            label { "From" (select("from", &params.from, &[
                ("newest", "newest"), ("oldest", "oldest"), ("offset", "offset"), ("timestamp", "timestamp"),
            ])) }
            label { "Offset" input name="offset" size="8" value=(params.offset); }
            label { "Timestamp (UTC)" input name="timestamp" type="datetime-local" step="1" value=(params.timestamp); }
            label { "Limit" input name="limit" size="5" placeholder=(DEFAULT_LIMIT) value=(params.limit); }
            label { "Max scanned" input name="max_scan" size="7" placeholder=(DEFAULT_MAX_SCAN) value=(params.max_scan); }
            label { "Decode" (select("format", &params.format, &[
                ("auto", "auto"), ("text", "UTF-8"), ("json", "JSON"), ("hex", "hex"),
            ])) }
            label.wide { "Filter"
                input name="filter" size="70" value=(params.filter)
                    placeholder="value.contains(\"error\") && partition == 0";
            }
            label { "Live tail" input type="checkbox" name="tail" value="on" checked[params.tail == "on"]; }
            button type="submit" { "Browse" }
        }
        p.muted { "Filter syntax: see docs/console.md (key, value, headers[\"h\"], offset, timestamp, partition; ==, <, &&, ||, !, contains, startsWith, matches, json(value).field)." }
        div #results { @if let Some(r) = results { (r) } }
    };
    Ok(ctx.page("Messages", "Messages", body))
}
