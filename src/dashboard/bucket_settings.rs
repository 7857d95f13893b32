//! Bucket changes from the dashboard: create (with its owner and object lock), delete,
//! versioning and bucket policy. Each is an S3 request through the console (see
//! `console.rs`), so names, documents and refusals are S3's own (a policy with an error
//! is refused with the parser's message, a bucket with objects is not deleted).

use super::console::change;
use super::layout::{csrf, seg};
use super::session::Session;
use super::Action;
use crate::admin::state::AdminState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bascule_replication::records::{BucketRecord, UserRecord, Versioning};
use http::{HeaderMap, HeaderValue, Method};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/buckets", post(create))
        .route("/dashboard/buckets/{bucket}/delete", post(delete))
        .route("/dashboard/buckets/{bucket}/versioning", post(versioning))
        .route("/dashboard/buckets/{bucket}/policy", post(policy))
}

fn back(bucket: &str) -> String {
    format!("/dashboard/buckets/{}", seg(bucket))
}

/// The create form of the bucket list.
pub fn create_form(session: &Session, users: &[UserRecord]) -> Markup {
    html! {
        form #create-bucket method="post" action="/dashboard/buckets" {
            (csrf(session))
            label for="new-bucket" { "New bucket " }
            input #new-bucket type="text" name="name" required autocomplete="off";
            " owned by "
            select #new-bucket-owner name="owner" {
                @for u in users { option value=(u.id) { (u.name) } }
            }
            " "
            label { input type="checkbox" name="object_lock" value="on"; " object lock" }
            " "
            button.primary type="submit" { "Create" }
        }
    }
}

/// The settings card of a bucket's page (its forms only where writes are taken).
pub fn settings_card(session: &Session, b: &BucketRecord, writable: bool) -> Markup {
    let base = back(&b.name);
    html! {
        section.card #settings {
            h2 { "Settings" }
            p {
                a #browse href=(format!("/dashboard/buckets/{}/objects", seg(&b.name))) { "Browse objects" }
            }
            @if !writable {
                (super::objects_page::read_only_note())
            } @else {
            form #versioning-form method="post" action=(format!("{base}/versioning")) {
                (csrf(session))
                label for="versioning-status" { "Versioning " }
                select #versioning-status name="status" {
                    option value="Enabled" selected[b.versioning == Some(Versioning::Enabled)] { "Enabled" }
                    option value="Suspended" selected[b.versioning != Some(Versioning::Enabled)] { "Suspended" }
                }
                " " button type="submit" { "Save" }
            }
            form #policy-form method="post" action=(format!("{base}/policy")) {
                (csrf(session))
                p { label for="policy-json" { "Bucket policy (JSON)" } }
                textarea #policy-json name="policy" rows="8" cols="90" spellcheck="false" {
                    (b.policy_json.as_deref().unwrap_or(""))
                }
                p {
                    button type="submit" name="action" value="save" { "Save policy" } " "
                    button.danger type="submit" name="action" value="delete" { "Delete policy" }
                }
            }
            form #delete-bucket method="post" action=(format!("{base}/delete")) {
                (csrf(session))
                button.danger type="submit" { "Delete bucket" }
                span.muted { " (only an empty bucket: S3 refuses others)" }
            }
            }
        }
    }
}

fn owner_of(s: &AdminState, bucket: &str) -> Result<String, String> {
    match s.store.bucket(bucket) {
        Ok(Some(b)) => Ok(b.owner),
        Ok(None) => Err(format!("There is no bucket {bucket}.")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Deserialize)]
struct NewBucket {
    #[serde(default)]
    name: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    object_lock: Option<String>,
}

async fn create(State(s): State<AdminState>, action: Action<NewBucket>) -> Response {
    let f = &action.form;
    let mut headers = HeaderMap::new();
    if f.object_lock.is_some() {
        headers.insert(
            "x-amz-bucket-object-lock-enabled",
            HeaderValue::from_static("true"),
        );
    }
    // The zone's role, the name's rules and a taken name are S3's to refuse.
    let outcome = match s.store.user(&f.owner) {
        Ok(Some(_)) => change(
            &s,
            &f.owner,
            Method::PUT,
            &format!("/{}", seg(&f.name)),
            headers,
            Body::empty(),
        )
        .await
        .map(|()| format!("Created bucket {}.", f.name)),
        _ => Err("Choose the bucket's owner.".to_string()),
    };
    let to = match &outcome {
        Ok(_) => back(&f.name),
        Err(_) => "/dashboard/buckets".to_string(),
    };
    action.done(&s, outcome, &to)
}

#[derive(Deserialize)]
struct NoFields {}

async fn delete(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<NoFields>,
) -> Response {
    let outcome = match owner_of(&s, &bucket) {
        Ok(owner) => change(
            &s,
            &owner,
            Method::DELETE,
            &format!("/{}", seg(&bucket)),
            HeaderMap::new(),
            Body::empty(),
        )
        .await
        .map(|()| format!("Deleted bucket {bucket}.")),
        Err(e) => Err(e),
    };
    let to = match &outcome {
        Ok(_) => "/dashboard/buckets".to_string(),
        Err(_) => back(&bucket),
    };
    action.done(&s, outcome, &to)
}

#[derive(Deserialize)]
struct VersioningForm {
    status: String,
}

async fn versioning(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<VersioningForm>,
) -> Response {
    let status = match action.form.status.as_str() {
        "Enabled" => "Enabled",
        "Suspended" => "Suspended",
        _ => return action.done(&s, Err("Choose Enabled or Suspended."), &back(&bucket)),
    };
    let doc = format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
    );
    let outcome = match owner_of(&s, &bucket) {
        Ok(owner) => change(
            &s,
            &owner,
            Method::PUT,
            &format!("/{}?versioning", seg(&bucket)),
            HeaderMap::new(),
            Body::from(doc),
        )
        .await
        .map(|()| format!("Versioning of {bucket}: {status}.")),
        Err(e) => Err(e),
    };
    action.done(&s, outcome, &back(&bucket))
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(default)]
    policy: String,
    #[serde(default)]
    action: String,
}

async fn policy(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<PolicyForm>,
) -> Response {
    let path = format!("/{}?policy", seg(&bucket));
    let outcome = match (owner_of(&s, &bucket), action.form.action.as_str()) {
        (Err(e), _) => Err(e),
        (Ok(owner), "delete") => change(
            &s,
            &owner,
            Method::DELETE,
            &path,
            HeaderMap::new(),
            Body::empty(),
        )
        .await
        .map(|()| format!("Deleted the policy of {bucket}.")),
        (Ok(owner), _) => change(
            &s,
            &owner,
            Method::PUT,
            &path,
            HeaderMap::new(),
            Body::from(action.form.policy.clone()),
        )
        .await
        .map(|()| format!("Saved the policy of {bucket}.")),
    };
    action.done(&s, outcome, &back(&bucket))
}
