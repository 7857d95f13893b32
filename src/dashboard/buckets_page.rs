//! Buckets: a paged list (objects and bytes from the per-bucket counters, settings from
//! the bucket record) and one bucket's settings and grants, with grant and revoke.

use super::format::{bytes, time};
use super::layout::{csrf, seg, yes_no, Tab};
use super::{on_writable_zone, signed_page, Action, Signed};
use crate::admin::ops;
use crate::admin::state::AdminState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bascule_replication::records::{BucketRecord, Grantee, Permission, UserRecord, Versioning};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/buckets", get(list))
        .route("/dashboard/buckets/{bucket}", get(one))
        .route("/dashboard/buckets/{bucket}/grant", post(grant))
        .route("/dashboard/buckets/{bucket}/revoke", post(revoke))
}

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    prefix: String,
}

/// User names by id, to show owners and grantees by name (users are few).
fn names(s: &AdminState) -> HashMap<String, String> {
    ops::list_users(&s.store)
        .unwrap_or_default()
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect()
}

fn user_name(names: &HashMap<String, String>, id: &str) -> String {
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| format!("(deleted user {})", id.get(..12).unwrap_or(id)))
}

async fn list(
    State(s): State<AdminState>,
    Signed(session): Signed,
    Query(q): Query<ListQuery>,
) -> Response {
    let page = s.store.buckets_after(&q.after, &q.prefix, PAGE + 1);
    let names = names(&s);
    let mut users = ops::list_users(&s.store).unwrap_or_default();
    // The first admin first: the usual owner of a new bucket.
    users.sort_by_key(|u| (!u.admin, u.name.clone()));
    let body = match page {
        Err(e) => html! { h1 { "Buckets" } div.flash.bad { "Cannot list buckets: " (e) } },
        Ok(mut buckets) => {
            let more = buckets.len() > PAGE;
            buckets.truncate(PAGE);
            let next = more
                .then(|| buckets.last().map(|b| b.name.clone()))
                .flatten();
            html! {
                h1 { "Buckets" }
                @if s.store.zone.writable() {
                    (super::bucket_settings::create_form(&session, &users))
                }
                form method="get" action="/dashboard/buckets" {
                    label for="prefix" { "Name starts with " }
                    input #prefix type="text" name="prefix" value=(q.prefix);
                    " " button type="submit" { "Filter" }
                }
                table #buckets {
                    thead { tr {
                        th { "Bucket" } th { "Owner" } th.num { "Objects" } th.num { "Bytes" }
                        th { "Versioning" } th { "CORS" } th { "Policy" } th { "Public" } th.num { "Grants" }
                    } }
                    tbody {
                        @for b in &buckets { (row(&s, &names, b)) }
                    }
                }
                @if buckets.is_empty() { p.muted { "No buckets." } }
                div.pager {
                    @if !q.after.is_empty() {
                        a href=(format!("/dashboard/buckets?prefix={}", seg(&q.prefix))) { "First page" }
                    }
                    @if let Some(last) = next {
                        a #next-page href=(format!("/dashboard/buckets?prefix={}&after={}", seg(&q.prefix), seg(&last))) { "Next page" }
                    }
                }
            }
        }
    };
    signed_page(&s, &session, Tab::Buckets, "Buckets", body)
}

fn versioning(b: &BucketRecord) -> &'static str {
    match b.versioning {
        None => "unversioned",
        Some(Versioning::Enabled) => "enabled",
        Some(Versioning::Suspended) => "suspended",
    }
}

fn lock(b: &BucketRecord) -> String {
    match &b.object_lock {
        None => "off".into(),
        Some(l) => match &l.default_retention {
            None => "on, no default retention".into(),
            Some(d) => format!(
                "on, default {} {}",
                d.mode.as_str(),
                match (d.days, d.years) {
                    (Some(n), _) => format!("{n} days"),
                    (_, Some(n)) => format!("{n} years"),
                    _ => String::new(),
                }
            ),
        },
    }
}

/// Public is a warning wherever it shows: one colour for it.
fn public_badge(b: &BucketRecord) -> Markup {
    html! {
        @if crate::s3::access::bucket_is_public(b) { span.badge.bad { "public" } } @else { "no" }
    }
}

fn row(s: &AdminState, names: &HashMap<String, String>, b: &BucketRecord) -> Markup {
    let u = ops::bucket_usage(&s.store, &b.name).unwrap_or_default();
    let (objects, size) = (u.objects, u.bytes);
    html! {
        tr {
            td { a.mono href=(format!("/dashboard/buckets/{}", seg(&b.name))) { (b.name) } }
            td { (user_name(names, &b.owner)) }
            td.num { (objects) }
            td.num { (bytes(size)) }
            td { (versioning(b)) }
            td { (yes_no(b.cors_xml.is_some())) }
            td { (yes_no(b.policy_json.is_some())) }
            td { (public_badge(b)) }
            td.num { (b.grants.len()) }
        }
    }
}

async fn one(
    State(s): State<AdminState>,
    Signed(session): Signed,
    Path(bucket): Path<String>,
) -> Response {
    let names = names(&s);
    let users = ops::list_users(&s.store).unwrap_or_default();
    let body = match s.store.bucket(&bucket) {
        Ok(Some(b)) => {
            let current = super::bucket_settings::current(&s, &b).await;
            detail(&s, &session, &names, &users, &b, &current)
        }
        Ok(None) => {
            html! { h1 { "No such bucket" } p { a href="/dashboard/buckets" { "All buckets" } } }
        }
        Err(e) => html! { h1 { "Bucket" } div.flash.bad { (e) } },
    };
    signed_page(&s, &session, Tab::Buckets, &bucket, body)
}

fn detail(
    s: &AdminState,
    session: &super::session::Session,
    names: &HashMap<String, String>,
    users: &[UserRecord],
    b: &BucketRecord,
    current: &super::bucket_settings::Current,
) -> Markup {
    let u = ops::bucket_usage(&s.store, &b.name).unwrap_or_default();
    let (objects, size) = (u.objects, u.bytes);
    let block = b.access_block();
    let base = format!("/dashboard/buckets/{}", seg(&b.name));
    html! {
        h1 { "Bucket " span.mono { (b.name) } }
        section.card {
            dl.facts {
                dt { "Owner" } dd { (user_name(names, &b.owner)) }
                dt { "Created" } dd { (time(b.created_ms)) }
                dt { "Objects" } dd #objects { (objects) }
                dt { "Bytes" } dd #bytes { (bytes(size)) }
                dt { "Older versions and delete markers" } dd #versions { (u.versions) }
                dt { "Versioning" } dd #versioning { (versioning(b)) }
                dt { "Object lock" } dd { (lock(b)) }
                dt { "Lifecycle rules" } dd { (b.lifecycle.iter().filter(|r| r.enabled).count()) " enabled of " (b.lifecycle.len()) }
                dt { "CORS" } dd { (yes_no(b.cors_xml.is_some())) }
                dt { "Bucket policy" } dd { (yes_no(b.policy_json.is_some())) }
                dt { "Public" } dd { (public_badge(b)) }
                dt { "Public access block" }
                dd {
                    "block public ACLs " (yes_no(block.block_public_acls))
                    ", ignore public ACLs " (yes_no(block.ignore_public_acls))
                    ", block public policy " (yes_no(block.block_public_policy))
                    ", restrict public buckets " (yes_no(block.restrict_public_buckets))
                }
                dt { "Object ownership" } dd { (format!("{:?}", b.ownership())) }
                dt { "Tags" } dd { (b.tags.len()) }
            }
        }
        section.card #bucket-usage {
            h2 { "Usage over time" }
            (super::capacity::charts("bucket-usage", s.dashboard.usage.bucket(&b.name), super::capacity::Point {
                at_ms: bascule_replication::status::now_ms(),
                objects,
                bytes: size,
            }))
        }
        (super::bucket_settings::settings_card(s, session, b, current))
        section.card {
            h2 { "User grants" }
            table #grants {
                thead { tr { th { "User" } th { "Access" } th { "" } } }
                tbody {
                    @for (user, perm) in &b.grants {
                        tr {
                            td { (user_name(names, user)) }
                            td { (permission_text(*perm)) }
                            td {
                                form.inline method="post" action=(format!("{base}/revoke")) {
                                    (csrf(session))
                                    input type="hidden" name="user" value=(user);
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            @if b.grants.is_empty() { p.muted { "No user grants: only the owner and admins." } }
            form #grant-form method="post" action=(format!("{base}/grant")) {
                (csrf(session))
                label for="grant-user" { "Grant " }
                select #grant-user name="user" required {
                    @for u in users.iter().filter(|u| u.id != b.owner) {
                        option value=(u.id) { (u.name) }
                    }
                }
                " "
                select #grant-permission name="permission" {
                    option value="read" { "read" }
                    option value="read-write" { "read-write" }
                }
                " " button.primary type="submit" { "Grant" }
            }
        }
        section.card {
            h2 { "ACL grants" }
            @if b.acl_without_owner {
                p.muted { "This ACL was set without a grant to the owner, and is shown that way to S3 clients; the owner still keeps full access to the bucket." }
            }
            @if b.acl.is_empty() && !b.acl_without_owner { p.muted { "None besides the owner's full control." } }
            @else if b.acl.is_empty() { p.muted { "No grants." } }
            @else {
                table { tbody {
                    @for g in &b.acl {
                        tr {
                            td { @match &g.grantee {
                                Grantee::User(id) => (user_name(names, id)),
                                Grantee::AllUsers => span.badge.bad { "everyone (AllUsers)" },
                                Grantee::AuthenticatedUsers => span.badge.bad { "any signed user (AuthenticatedUsers)" },
                            } }
                            td { (format!("{:?}", g.permission)) }
                        }
                    }
                } }
            }
        }
        p { a href="/dashboard/buckets" { "All buckets" } }
    }
}

fn permission_text(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::ReadWrite => "read-write",
    }
}

#[derive(Deserialize)]
struct GrantForm {
    user: String,
    #[serde(default)]
    permission: String,
}

async fn grant(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<GrantForm>,
) -> Response {
    let back = format!("/dashboard/buckets/{}", seg(&bucket));
    let perm = match action.form.permission.as_str() {
        "read" => Permission::Read,
        "read-write" => Permission::ReadWrite,
        _ => return action.done(&s, Err("Choose read or read-write."), &back),
    };
    let change = ops::set_grant(&s.store, &bucket, &action.form.user, Some(perm));
    let outcome = on_writable_zone(&s, change)
        .await
        .map(|_| format!("Granted {} on {bucket}.", permission_text(perm)));
    action.done(&s, outcome, &back)
}

async fn revoke(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<GrantForm>,
) -> Response {
    let back = format!("/dashboard/buckets/{}", seg(&bucket));
    let change = ops::set_grant(&s.store, &bucket, &action.form.user, None);
    let outcome = on_writable_zone(&s, change)
        .await
        .map(|_| format!("Revoked the grant on {bucket}."));
    action.done(&s, outcome, &back)
}
