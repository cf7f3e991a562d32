//! `/console/acls` and `/console/users`: ACL bindings (list, create,
//! delete, as `kafka-acls`) and SCRAM users (list, create or change a
//! password, delete, as `kafka-configs ... SCRAM-SHA-*`). The Kafka APIs
//! behind them need Describe / Alter on the Cluster, as for the tools.

pub mod data;

use self::data::AclForm;
use super::ctx::Ctx;
use super::error::ConsoleError;
use super::form::Form;
use super::state::ConsoleState;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use gregor_metadata::acl::{AclOperation, AclPermission, PatternType, ResourceType};
use maud::{html, Markup};
use serde::Deserialize;
use std::time::Duration;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/acls", get(list_acls).post(create_acl))
        .route("/console/acls/delete", post(delete_acl))
        .route("/console/users", get(list_users).post(upsert_user))
        .route("/console/users/delete", post(delete_user))
}

fn options(names: &[&str]) -> Markup {
    html! { @for n in names { option value=(n) { (n) } } }
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str, skip: &[&str]) -> Vec<&'static str> {
    all.iter()
        .map(|v| name(*v))
        .filter(|n| !skip.contains(n))
        .collect()
}

async fn list_acls(ctx: Ctx) -> Result<Response, ConsoleError> {
    let acls = data::list_acls(&ctx).await?;
    let resource_types = names(
        ResourceType::ALL_VALUES,
        ResourceType::name,
        &["Unknown", "Any"],
    );
    let patterns = names(
        PatternType::ALL_VALUES,
        PatternType::name,
        &["Unknown", "Any", "Match"],
    );
    let operations = names(
        AclOperation::ALL_VALUES,
        AclOperation::name,
        &["Unknown", "Any"],
    );
    let permissions = names(
        AclPermission::ALL_VALUES,
        AclPermission::name,
        &["Unknown", "Any"],
    );
    let body = html! {
        @if !ctx.state.read_only {
            details #create-acl {
                summary { "Add an ACL" }
                form.inline method="post" action="/console/acls" {
                    label { "Principal" input name="principal" placeholder="User:alice" required; }
                    label { "Host" input name="host" placeholder="*"; }
                    label { "Resource" select name="resource_type" { (options(&resource_types)) } }
                    label { "Name" input name="resource_name" required; }
                    label { "Pattern" select name="pattern_type" { (options(&patterns)) } }
                    label { "Operation" select name="operation" { (options(&operations)) } }
                    label { "Permission" select name="permission" { (options(&permissions)) } }
                    button type="submit" { "Add" }
                }
            }
        }
        table #acl-list {
            thead { tr {
                th { "Principal" } th { "Host" } th { "Resource" } th { "Name" } th { "Pattern" }
                th { "Operation" } th { "Permission" } th {}
            } }
            tbody {
                @for a in &acls {
                    tr {
                        td { (a.principal) } td { (a.host) } td { (a.resource_type.name()) }
                        td { (a.resource_name) } td { (a.pattern_type.name()) }
                        td { (a.operation.name()) } td { (a.permission.name()) }
                        td {
                            @if !ctx.state.read_only {
                                form method="post" action="/console/acls/delete" {
                                    input type="hidden" name="principal" value=(a.principal);
                                    input type="hidden" name="host" value=(a.host);
                                    input type="hidden" name="resource_type" value=(a.resource_type.name());
                                    input type="hidden" name="resource_name" value=(a.resource_name);
                                    input type="hidden" name="pattern_type" value=(a.pattern_type.name());
                                    input type="hidden" name="operation" value=(a.operation.name());
                                    input type="hidden" name="permission" value=(a.permission.name());
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if acls.is_empty() { p.muted { "No ACLs." } }
    };
    Ok(ctx.page("ACLs", "ACLs", body))
}

#[derive(Deserialize)]
struct AclFields {
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    resource_name: String,
    #[serde(default)]
    pattern_type: String,
    #[serde(default)]
    principal: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    permission: String,
}

impl AclFields {
    fn form(self) -> AclForm {
        AclForm {
            resource_type: self.resource_type,
            resource_name: self.resource_name,
            pattern_type: self.pattern_type,
            principal: self.principal,
            host: self.host,
            operation: self.operation,
            permission: self.permission,
        }
    }
}

async fn create_acl(ctx: Ctx, Form(form): Form<AclFields>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let binding = form.form().binding()?;
    data::create_acl(&ctx, &binding).await?;
    settle(|| async { Ok(data::list_acls(&ctx).await?.contains(&binding)) }).await?;
    list_acls(ctx).await
}

async fn delete_acl(ctx: Ctx, Form(form): Form<AclFields>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let binding = form.form().binding()?;
    if data::delete_acl(&ctx, &binding).await? == 0 {
        return Err(ConsoleError::not_found(format!("no such ACL: {binding}")));
    }
    settle(|| async { Ok(!data::list_acls(&ctx).await?.contains(&binding)) }).await?;
    list_acls(ctx).await
}

async fn list_users(ctx: Ctx) -> Result<Response, ConsoleError> {
    let users = data::list_users(&ctx).await?;
    let body = html! {
        @if !ctx.state.read_only {
            details #create-user {
                summary { "Add a user or change a password" }
                form.inline method="post" action="/console/users" {
                    label { "Name" input name="name" required; }
                    label { "Mechanism" select name="mechanism" { (options(&["SCRAM-SHA-256", "SCRAM-SHA-512"])) } }
                    label { "Password" input name="password" type="password" required; }
                    label { "Iterations" input name="iterations" type="number" placeholder="4096"; }
                    button type="submit" { "Save" }
                }
            }
        }
        table #user-list {
            thead { tr { th { "User" } th { "Mechanism" } th.num { "Iterations" } th {} } }
            tbody {
                @for u in &users {
                    @for (mechanism, iterations) in &u.credentials {
                        tr {
                            td { (u.name) } td { (mechanism) } td.num { (iterations) }
                            td {
                                @if !ctx.state.read_only {
                                    form method="post" action="/console/users/delete" {
                                        input type="hidden" name="name" value=(u.name);
                                        input type="hidden" name="mechanism" value=(mechanism);
                                        button type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if users.is_empty() { p.muted { "No SCRAM users." } }
    };
    Ok(ctx.page("Users", "Users", body))
}

#[derive(Deserialize)]
struct UserFields {
    name: String,
    mechanism: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    iterations: String,
}

async fn upsert_user(ctx: Ctx, Form(form): Form<UserFields>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let iterations = match form.iterations.trim() {
        "" => None,
        raw => Some(raw.parse::<i32>().map_err(|_| {
            ConsoleError::bad_request(format!("iterations must be an integer, not '{raw}'"))
        })?),
    };
    data::upsert_user(
        &ctx,
        form.name.trim(),
        &form.mechanism,
        &form.password,
        iterations,
    )
    .await?;
    list_users(ctx).await
}

async fn delete_user(ctx: Ctx, Form(form): Form<UserFields>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let name = form.name.trim();
    data::delete_user(&ctx, name, &form.mechanism).await?;
    settle(|| async {
        Ok(!data::list_users(&ctx).await?.iter().any(|u| {
            u.name == name
                && u.credentials
                    .iter()
                    .any(|(m, _)| *m == form.mechanism.trim())
        }))
    })
    .await?;
    list_users(ctx).await
}

/// How long a change waits to show in this broker's metadata.
const SETTLE: Duration = Duration::from_secs(5);

/// The controller applies ACL and credential changes; this broker's image
/// (which the lists read) follows a moment later. Waits until `done`
/// holds, so the page shown after a change has it; gives up quietly after
/// [`SETTLE`] (the change was accepted; the list is only behind).
async fn settle<F, Fut>(done: F) -> Result<(), ConsoleError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ConsoleError>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !done().await? && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
