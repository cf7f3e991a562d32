//! The console's frame: head (CSS, htmx), navigation, the user and mode.

use super::ctx::Ctx;
use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

/// The navigation: (label, path). The label is also the `active` name
/// pages pass to [`Ctx::page`]. A new page adds its line here.
pub const NAV: &[(&str, &str)] = &[
    ("Overview", "/console"),
    ("Topics", "/console/topics"),
    ("Messages", "/console/messages"),
    ("Groups", "/console/groups"),
    ("Transactions", "/console/transactions"),
    ("ACLs", "/console/acls"),
    ("Users", "/console/users"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Gregor" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            script src=(super::assets::HTMX_PATH) {}
        }
    }
}

fn nav(active: &str) -> Markup {
    html! {
        nav {
            a.brand href="/console" { "Gregor" }
            @for (label, path) in NAV {
                a href=(path) class=[(*label == active).then_some("active")] { (label) }
            }
        }
    }
}

/// A full page: the frame around `body`.
pub fn page(ctx: &Ctx, title: &str, active: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header {
                    (nav(active))
                    div.who {
                        @if ctx.state.read_only { span.badge #read-only { "read-only" } " " }
                        @if ctx.state.login_required { (ctx.principal()) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A full page for an error met before (or instead of) a page's context.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(status.canonical_reason().unwrap_or("Error")))
            body {
                header { (nav("")) }
                main {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                    div.error role="alert" { (message) }
                }
            }
        }
    }
}

/// A form's submit button, or nothing in read-only mode (the POST would be
/// refused anyway).
pub fn submit(ctx: &Ctx, label: &str) -> Markup {
    html! {
        @if !ctx.state.read_only { button type="submit" { (label) } }
    }
}
