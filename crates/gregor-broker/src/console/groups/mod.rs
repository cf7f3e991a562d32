//! `/console/groups`: consumer groups as `kafka-consumer-groups` shows and
//! changes them: the list, one group's members, assignments and lag (the
//! lag table refreshes itself every 2 s), offset reset with a dry run,
//! and deletion.

pub mod data;
mod lag_time;
pub mod offsets;
pub mod reset;

use self::data::{GroupDetail, GroupSummary, PartitionLag};
use self::reset::{ResetRow, ResetSpec, Scope};
use super::ctx::Ctx;
use super::error::ConsoleError;
use super::form::{Form, Path};
use super::state::ConsoleState;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

/// How often the lag table asks for itself again.
const LAG_REFRESH: &str = "every 2s";

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/groups", get(list))
        .route("/console/groups/{id}", get(detail))
        .route("/console/groups/{id}/lag", get(lag))
        .route("/console/groups/{id}/reset", post(reset))
        .route("/console/groups/{id}/delete", post(delete))
}

fn group_href(id: &str) -> String {
    format!("/console/groups/{}", encode(id))
}

/// A path segment: group ids may hold any character.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

async fn list(ctx: Ctx) -> Result<Response, ConsoleError> {
    let groups = data::list(&ctx).await?;
    let body = html! {
        table #group-list {
            thead { tr {
                th { "Group" } th { "Type" } th { "Protocol" } th { "State" }
                th.num { "Members" } th.num { "Coordinator" }
            } }
            tbody {
                @for g in &groups { (summary_row(g)) }
            }
        }
        @if groups.is_empty() { p.muted { "No consumer groups (or none you may describe)." } }
    };
    Ok(ctx.page("Consumer groups", "Groups", body))
}

fn summary_row(g: &GroupSummary) -> Markup {
    html! {
        tr data-group=(g.group_id) {
            td { a href=(group_href(&g.group_id)) { (g.group_id) } }
            td { (g.group_type) }
            td { (g.protocol_type) }
            td.state { (g.state) }
            td.num { (or_dash(g.members)) }
            td.num { (or_dash(g.coordinator)) }
        }
    }
}

async fn detail(ctx: Ctx, Path(id): Path<String>) -> Result<Response, ConsoleError> {
    let group = data::describe(&ctx, &id).await?;
    let s = &group.summary;
    let body = html! {
        dl.facts {
            dt { "Type" } dd #group-type { (s.group_type) }
            dt { "State" } dd #group-state { (s.state) }
            dt { "Protocol" } dd { (s.protocol_type) }
            dt { "Assignor" } dd { (group.assignor) }
            @if let Some((group_epoch, assignment_epoch)) = group.epochs {
                dt { "Group / assignment epoch" } dd { (group_epoch) " / " (assignment_epoch) }
            }
            dt { "Coordinator" } dd { (or_dash(s.coordinator)) }
        }
        (lag_table(&group))
        @if !ctx.state.read_only {
            h2 { "Reset offsets" }
            p.muted { "Only an inactive (Empty) group can be reset, as with kafka-consumer-groups --reset-offsets." }
            (reset_form(&id))
            div #reset-result {}
            h2 { "Delete" }
            form hx-post={ (group_href(&id)) "/delete" } hx-target="#delete-result"
                hx-confirm={ "Delete group " (id) " and its committed offsets?" } {
                button type="submit" #delete-group { "Delete group" }
            }
            div #delete-result {}
        }
    };
    Ok(ctx.page(&format!("Group {id}"), "Groups", body))
}

fn members(group: &GroupDetail) -> Markup {
    let tp = |parts: &[(String, i32)]| -> String {
        parts
            .iter()
            .map(|(t, p)| format!("{t}-{p}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    html! {
        table #members {
            thead { tr {
                th { "Member" } th { "Instance" } th { "Client id" } th { "Host" }
                @if group.epochs.is_some() { th.num { "Epoch" } }
                th { "Assigned" }
                @if group.epochs.is_some() { th { "Target" } }
            } }
            tbody {
                @for m in &group.members {
                    tr {
                        td { code { (m.member_id) } }
                        td { (m.instance_id.as_deref().unwrap_or("-")) }
                        td { (m.client_id) }
                        td { (m.host) }
                        @if group.epochs.is_some() { td.num { (or_dash(m.member_epoch)) } }
                        td { (tp(&m.assignment)) }
                        @if group.epochs.is_some() {
                            td { (tp(m.target_assignment.as_deref().unwrap_or(&[]))) }
                        }
                    }
                }
            }
        }
        @if group.members.is_empty() { p.muted { "No active members." } }
    }
}

/// Members and the lag table, which ask for themselves again every
/// [`LAG_REFRESH`] (a member leaving shows as well as the lag falling).
fn lag_table(group: &GroupDetail) -> Markup {
    let id = &group.summary.group_id;
    html! {
        div #group-lag hx-get={ (group_href(id)) "/lag" } hx-trigger=(LAG_REFRESH) hx-swap="outerHTML" {
            h2 { "Members" }
            (members(group))
            h2 { "Offsets and lag" }
            p {
                "Total lag: " strong #total-lag { (group.total_lag()) }
                " · max lag: " span #max-lag-seconds {
                    (group.max_lag_seconds().map_or_else(|| "-".to_string(), |s| format!("{s:.1} s")))
                }
                " · state: " span #lag-state { (group.summary.state) }
            }
            table #lag-table {
                thead { tr {
                    th { "Topic" } th.num { "Partition" } th.num { "Committed" }
                    th.num { "Log end" } th.num { "Lag" } th.num { "Lag (s)" } th { "Member" }
                } }
                tbody { @for p in &group.partitions { (lag_row(p)) } }
            }
            @if group.partitions.is_empty() { p.muted { "No committed offsets or assignments." } }
        }
    }
}

fn lag_row(p: &PartitionLag) -> Markup {
    html! {
        tr data-partition={ (p.topic) "-" (p.partition) } {
            td { (p.topic) }
            td.num { (p.partition) }
            td.num.committed { (or_dash(p.committed)) }
            td.num.log-end { (or_dash(p.log_end)) }
            td.num.lag { (or_dash(p.lag)) }
            td.num.lag-seconds { (p.lag_seconds.map_or_else(|| "-".to_string(), |s| format!("{s:.1}"))) }
            td { code { (p.member_id.as_deref().unwrap_or("-")) } }
        }
    }
}

async fn lag(ctx: Ctx, Path(id): Path<String>) -> Result<Response, ConsoleError> {
    let group = data::describe(&ctx, &id).await?;
    Ok(ctx.fragment(lag_table(&group)))
}

fn reset_form(id: &str) -> Markup {
    html! {
        form.inline #reset-form hx-post={ (group_href(id)) "/reset" } hx-target="#reset-result" {
            label { "Topic (t, t:0,1, empty: all committed)" input name="topic"; }
            label { "Reset to"
                select name="to" {
                    option value="earliest" { "earliest" }
                    option value="latest" { "latest" }
                    option value="offset" { "offset" }
                    option value="timestamp" { "timestamp" }
                    option value="shift-by" { "shift by" }
                }
            }
            label { "Value (offset, shift, or time: ms or YYYY-MM-DDTHH:MM UTC)" input name="value"; }
            button type="submit" name="action" value="dry-run" #reset-dry-run { "Dry run" }
            // Its own request, so that only it asks for confirmation.
            button type="button" #reset-execute hx-post={ (group_href(id)) "/reset" }
                hx-target="#reset-result" hx-vals=r#"{"action":"execute"}"#
                hx-confirm="Commit the new offsets?" { "Execute" }
        }
    }
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    topic: String,
    to: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    action: String,
}

async fn reset(
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let scope = Scope::parse(&form.topic)?;
    let spec = ResetSpec::parse(&form.to, Some(&form.value))?;
    let (rows, done) = match form.action.as_str() {
        "" | "dry-run" => (reset::plan(&ctx, &id, &scope, spec).await?, false),
        "execute" => (reset::execute(&ctx, &id, &scope, spec).await?, true),
        other => {
            return Err(ConsoleError::bad_request(format!(
                "unknown action '{other}': dry-run or execute"
            )))
        }
    };
    Ok(ctx.fragment(plan_table(&rows, done)))
}

fn plan_table(rows: &[ResetRow], done: bool) -> Markup {
    html! {
        div #reset-plan data-executed=(done) {
            p.status {
                @if done { "Offsets committed." } @else { "Dry run: nothing was changed." }
            }
            table {
                thead { tr {
                    th { "Topic" } th.num { "Partition" } th.num { "Current offset" } th.num { "New offset" }
                } }
                tbody {
                    @for r in rows {
                        tr data-partition={ (r.topic) "-" (r.partition) } {
                            td { (r.topic) }
                            td.num { (r.partition) }
                            td.num.current { (or_dash(r.current)) }
                            td.num.new { (r.new) }
                        }
                    }
                }
            }
        }
    }
}

async fn delete(ctx: Ctx, Path(id): Path<String>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    data::delete(&ctx, &id).await?;
    if ctx.htmx {
        return Ok(ctx.fragment(html! {
            p #group-deleted { "Group " (id) " deleted. " a href="/console/groups" { "Back to the groups" } }
        }));
    }
    Ok((StatusCode::SEE_OTHER, [(LOCATION, "/console/groups")]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_escaped_in_paths() {
        assert_eq!(encode("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(encode("plain-id_1.x"), "plain-id_1.x");
    }
}
