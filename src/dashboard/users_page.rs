//! Users and access keys: create, disable, enable, delete; a new key's secret is shown
//! once, on the page that answers its creation.

use super::format::time;
use super::layout::{button, csrf, seg, yes_no, Tab};
use super::{on_writable_zone, signed_page, Action, Signed};
use crate::admin::ops;
use crate::admin::state::AdminState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/users", get(list).post(create_user))
        .route("/dashboard/users/{id}/{change}", post(change_user))
        .route("/dashboard/users/{id}/keys", post(create_key))
        .route("/dashboard/keys/{ak}/{change}", post(change_key))
}

const BACK: &str = "/dashboard/users";

async fn list(State(s): State<AdminState>, Signed(session): Signed) -> Response {
    // By name, as people look for them (the store keeps them by id).
    let users = ops::list_users(&s.store).map(|mut u| {
        u.sort_by(|a, b| a.name.cmp(&b.name));
        u
    });
    let keys = ops::list_keys(&s.store, None);
    let body = match (users, keys) {
        (Ok(users), Ok(keys)) => {
            let names: HashMap<&str, &str> = users
                .iter()
                .map(|u| (u.id.as_str(), u.name.as_str()))
                .collect();
            let writable = s.store.zone.writable();
            html! {
                h1 { "Users & keys" }
                @if !writable {
                    div.flash.bad { "This zone takes no writes: users and keys change on the primary and replicate here." }
                }
                section.card {
                    h2 { "Users" }
                    table #users {
                        thead { tr { th { "Name" } th { "ID" } th { "Admin" } th { "Enabled" } th { "Created" } th { "" } } }
                        tbody {
                            @for u in &users {
                                @let base = format!("/dashboard/users/{}", seg(&u.id));
                                tr data-user=(u.name) {
                                    td { (u.name) }
                                    td.mono title=(u.id) { (u.id.get(..16).unwrap_or(u.id.as_str())) "…" }
                                    td { (yes_no(u.admin)) }
                                    td { (yes_no(u.enabled)) }
                                    td { (time(u.created_ms)) }
                                    td {
                                        (button(&session, &format!("{base}/keys"), "New key", false)) " "
                                        @if u.enabled { (button(&session, &format!("{base}/disable"), "Disable", false)) }
                                        @else { (button(&session, &format!("{base}/enable"), "Enable", false)) }
                                        " " (button(&session, &format!("{base}/delete"), "Delete", true))
                                    }
                                }
                            }
                        }
                    }
                    form #create-user method="post" action="/dashboard/users" {
                        (csrf(&session))
                        label for="new-user" { "New user " }
                        input #new-user type="text" name="name" required pattern="[A-Za-z0-9._@-]{1,64}";
                        " " label { input type="checkbox" name="admin" value="on"; " admin" }
                        " " button.primary type="submit" { "Create user" }
                    }
                }
                section.card {
                    h2 { "Access keys" }
                    table #keys {
                        thead { tr { th { "Access key" } th { "User" } th { "Enabled" } th { "Created" } th { "" } } }
                        tbody {
                            @for k in &keys {
                                @let base = format!("/dashboard/keys/{}", seg(&k.access_key));
                                tr data-key=(k.access_key) {
                                    td.mono { (k.access_key) }
                                    td { (names.get(k.user_id.as_str()).copied().unwrap_or("?")) }
                                    td { (yes_no(k.enabled)) }
                                    td { (time(k.created_ms)) }
                                    td {
                                        @if k.enabled { (button(&session, &format!("{base}/disable"), "Disable", false)) }
                                        @else { (button(&session, &format!("{base}/enable"), "Enable", false)) }
                                        " " (button(&session, &format!("{base}/delete"), "Delete", true))
                                    }
                                }
                            }
                        }
                    }
                    @if keys.is_empty() { p.muted { "No access keys." } }
                }
            }
        }
        (Err(e), _) | (_, Err(e)) => html! { h1 { "Users & keys" } div.flash.bad { (e) } },
    };
    signed_page(&s, &session, Tab::Users, "Users & keys", body)
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    #[serde(default)]
    admin: Option<String>,
}

async fn create_user(State(s): State<AdminState>, action: Action<NewUser>) -> Response {
    let create = ops::create_user(&s.store, &action.form.name, action.form.admin.is_some());
    let outcome = on_writable_zone(&s, create)
        .await
        .map(|u| format!("Created user {} (id {}).", u.name, u.id));
    action.done(&s, outcome, BACK)
}

#[derive(Deserialize)]
struct NoFields {}

async fn change_user(
    State(s): State<AdminState>,
    Path((id, change)): Path<(String, String)>,
    action: Action<NoFields>,
) -> Response {
    let change = async {
        match change.as_str() {
            "enable" => ops::set_user_enabled(&s.store, &id, true)
                .await
                .map(|u| format!("Enabled user {}.", u.name)),
            "disable" => ops::set_user_enabled(&s.store, &id, false)
                .await
                .map(|u| format!("Disabled user {}: their keys sign nothing now.", u.name)),
            "delete" => ops::delete_user(&s.store, &id)
                .await
                .map(|()| "Deleted the user, their keys and grants.".to_string()),
            _ => Err(crate::admin::error::not_found("action", &change)),
        }
    };
    let outcome = on_writable_zone(&s, change).await;
    action.done(&s, outcome, BACK)
}

async fn change_key(
    State(s): State<AdminState>,
    Path((ak, change)): Path<(String, String)>,
    action: Action<NoFields>,
) -> Response {
    let change = async {
        match change.as_str() {
            "enable" => ops::set_key_enabled(&s.store, &ak, true)
                .await
                .map(|k| format!("Enabled key {}.", k.access_key)),
            "disable" => ops::set_key_enabled(&s.store, &ak, false)
                .await
                .map(|k| format!("Disabled key {}.", k.access_key)),
            "delete" => ops::delete_key(&s.store, &ak)
                .await
                .map(|()| format!("Deleted key {ak}.")),
            _ => Err(crate::admin::error::not_found("action", &change)),
        }
    };
    let outcome = on_writable_zone(&s, change).await;
    action.done(&s, outcome, BACK)
}

/// Creates a key and shows its secret on this one answer (never stored for display, never
/// cached: the page carries `Cache-Control: no-store`).
async fn create_key(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    action: Action<NoFields>,
) -> Response {
    let key = match on_writable_zone(&s, ops::create_key(&s.store, &id, None)).await {
        Ok(k) => k,
        Err(e) => return action.done(&s, Err(e), BACK),
    };
    let user = s
        .store
        .user(&key.user_id)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let body = html! {
        h1 { "New access key for " (user) }
        section.card {
            dl.facts {
                dt { "Access key" } dd #new-access-key .secret { (key.access_key) }
                dt { "Secret key" } dd #new-secret-key .secret { (key.secret_key) }
            }
            p { strong { "The secret is shown only now: store it safely." } " It cannot be shown again; if it is lost, create a new key and delete this one." }
            p { a href=(BACK) { "Back to users & keys" } }
        }
    };
    signed_page(&s, &action.session, Tab::Users, "New access key", body)
}
