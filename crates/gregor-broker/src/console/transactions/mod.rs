//! `/console/transactions`: every transaction the coordinators know (open
//! ones first, with how long they have been open), the hanging ones as
//! `kafka-transactions find-hanging` finds them, and their abort as
//! `kafka-transactions abort --start-offset`.

pub mod data;

use super::ctx::Ctx;
use super::error::ConsoleError;
use super::fmt;
use super::form::{Form, Query};
use super::state::ConsoleState;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/transactions", get(list))
        .route("/console/transactions/abort", post(abort))
}

#[derive(Deserialize)]
struct ListQuery {
    /// find-hanging's `--max-transaction-timeout`, in ms here.
    #[serde(default)]
    max_timeout_ms: Option<i64>,
}

fn duration(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

async fn list(ctx: Ctx, Query(query): Query<ListQuery>) -> Result<Response, ConsoleError> {
    if query.max_timeout_ms.is_some_and(|ms| ms < 0) {
        return Err(ConsoleError::bad_request(
            "max_timeout_ms must not be negative",
        ));
    }
    let txns = data::list(&ctx).await?;
    let hanging = data::hanging(&ctx, query.max_timeout_ms).await?;
    let body = html! {
        h2 { "Transactions" }
        table #txn-list {
            thead { tr {
                th { "Transactional id" } th.num { "Producer id" } th.num { "Epoch" } th { "State" }
                th { "Started" } th.num { "Open for" } th.num { "Timeout" } th { "Partitions" }
            } }
            tbody {
                @for t in &txns {
                    tr data-txn=(t.transactional_id) {
                        td { (t.transactional_id) }
                        td.num { (t.producer_id) }
                        td.num { (t.producer_epoch) }
                        td.state { (t.state) }
                        td { (fmt::time_ms(t.start_time_ms)) }
                        td.num { (t.duration_ms.map_or_else(|| "-".to_string(), duration)) }
                        td.num { (duration(i64::from(t.timeout_ms))) }
                        td { (t.partitions.iter().map(|(n, p)| format!("{n}-{p}")).collect::<Vec<_>>().join(", ")) }
                    }
                }
            }
        }
        @if txns.is_empty() { p.muted { "No transactional ids (or none you may describe)." } }
        h2 { "Hanging transactions" }
        p.muted {
            "Partitions led by this broker that hold a transaction open longer than the maximum transaction timeout "
            "while no coordinator has it open there (kafka-transactions find-hanging)."
        }
        table #hanging {
            thead { tr {
                th { "Partition" } th.num { "Producer id" } th.num { "Epoch" } th.num { "Start offset" }
                th { "Last write" } th.num { "Open for" } th {}
            } }
            tbody {
                @for h in &hanging {
                    tr {
                        td { (h.topic) "-" (h.partition) }
                        td.num { (h.producer_id) }
                        td.num { (h.producer_epoch) }
                        td.num { (h.start_offset) }
                        td { (fmt::time_ms(h.last_timestamp)) }
                        td.num { (duration(h.duration_ms)) }
                        td {
                            @if !ctx.state.read_only {
                                form hx-post="/console/transactions/abort" hx-target="#abort-result"
                                    hx-confirm={ "Abort the transaction on " (h.topic) "-" (h.partition) "?" } {
                                    input type="hidden" name="topic" value=(h.topic);
                                    input type="hidden" name="partition" value=(h.partition);
                                    input type="hidden" name="start_offset" value=(h.start_offset);
                                    button type="submit" { "Abort" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if hanging.is_empty() { p.muted #no-hanging { "No hanging transactions." } }
        div #abort-result {}
    };
    Ok(ctx.page("Transactions", "Transactions", body))
}

#[derive(Deserialize)]
struct AbortForm {
    topic: String,
    partition: i32,
    start_offset: i64,
}

async fn abort(ctx: Ctx, Form(form): Form<AbortForm>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let aborted = data::abort(&ctx, &form.topic, form.partition, form.start_offset).await?;
    Ok(ctx.fragment(html! {
        p #aborted {
            "Aborted the transaction of producer " (aborted.producer_id) " on "
            (aborted.topic) "-" (aborted.partition) "."
        }
    }))
}
