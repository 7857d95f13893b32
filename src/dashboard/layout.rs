//! The page frame every dashboard page shares, and the few pieces pages repeat.

use super::session::{Flash, Session};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Escaped in a path segment: everything but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Zone,
    Buckets,
    Users,
    Traffic,
    Capacity,
}

/// A whole page: header with navigation (and sign-out) when signed in, the last action's
/// outcome, then the page's content.
pub fn page(
    title: &str,
    signed: Option<(&Session, Tab)>,
    flash: Option<Flash>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Bascule" }
                link rel="stylesheet" href="/dashboard/static/app.css";
                script src="/dashboard/static/app.js" defer {}
            }
            body {
                header {
                    span.brand { "Bascule" }
                    @if let Some((session, here)) = signed {
                        (tab("/dashboard", "Zone", here == Tab::Zone))
                        (tab("/dashboard/buckets", "Buckets", here == Tab::Buckets))
                        (tab("/dashboard/users", "Users & keys", here == Tab::Users))
                        (tab("/dashboard/traffic", "Traffic", here == Tab::Traffic))
                        (tab("/dashboard/capacity", "Capacity", here == Tab::Capacity))
                        form method="post" action="/dashboard/logout" {
                            (csrf(session))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some(f) = flash {
                        div.flash.ok[f.ok].bad[!f.ok] role="status" { (f.text) }
                    }
                    (body)
                }
            }
        }
    }
}

fn tab(href: &str, label: &str, here: bool) -> Markup {
    html! { a.here[here] href=(href) { (label) } }
}

/// The hidden CSRF field every form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A one-button form posting to `action`.
pub fn button(session: &Session, action: &str, label: &str, danger: bool) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(session))
            button.danger[danger] type="submit" { (label) }
        }
    }
}

/// A path segment, escaped for use in a link.
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

pub fn yes_no(b: bool) -> Markup {
    html! { span.badge.ok[b] { @if b { "yes" } @else { "no" } } }
}

/// An HTML answer with the headers every dashboard page carries: never cached (pages show
/// secrets once and live figures), never framed, no scripts but our own.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut r = (status, markup.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h);
    r
}

pub fn secure_headers(h: &mut http::HeaderMap) {
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}
