//! The object browser: a bucket listed by prefix with folders, one key's versions and
//! details, download, delete, upload (the page's script, through the console gateway) and
//! presigned share links. Listings read the store's listing walk (the one ListObjects
//! uses, paged: the cost of a page does not grow with the bucket); every change and every
//! download is an S3 request through the console (`console.rs`).

use super::console::{self, object_path};
use super::format::{bytes, time};
use super::layout::{csrf, seg, Tab};
use super::{signed_page, Action, Signed};
use crate::admin::state::AdminState;
use crate::store::listing::{self, Item, VersionItem, VersionWalk, Walk};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bascule_replication::records::{BucketRecord, Encryption, ObjectRecord};
use http::{HeaderMap, Method};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/buckets/{bucket}/objects", get(list))
        .route("/dashboard/buckets/{bucket}/object", get(details))
        .route("/dashboard/buckets/{bucket}/download", get(download))
        .route("/dashboard/buckets/{bucket}/delete-object", post(delete))
        .route("/dashboard/buckets/{bucket}/share", post(share))
}

/// Keys and folders per page.
const PAGE: usize = 100;
/// Versions of one key shown.
const VERSIONS: usize = 100;

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    after: String,
}

fn objects_url(bucket: &str, prefix: &str) -> String {
    format!(
        "/dashboard/buckets/{}/objects?prefix={}",
        seg(bucket),
        seg(prefix)
    )
}

fn object_url(bucket: &str, key: &str) -> String {
    format!("/dashboard/buckets/{}/object?key={}", seg(bucket), seg(key))
}

fn download_url(bucket: &str, key: &str, version: Option<&str>) -> String {
    let mut u = format!(
        "/dashboard/buckets/{}/download?key={}",
        seg(bucket),
        seg(key)
    );
    if let Some(v) = version {
        u.push_str(&format!("&version={}", seg(v)));
    }
    u
}

/// The folders above `prefix`, each a link (`courses / 2026 / `).
fn breadcrumb(bucket: &str, prefix: &str) -> Markup {
    let mut at = 0;
    let parts: Vec<(String, String)> = prefix
        .split_inclusive('/')
        .map(|p| {
            at += p.len();
            (p.to_string(), prefix[..at].to_string())
        })
        .collect();
    html! {
        nav.breadcrumb #breadcrumb {
            a href=(objects_url(bucket, "")) { (bucket) } " / "
            @for (name, upto) in &parts {
                a href=(objects_url(bucket, upto)) { (name) } " "
            }
        }
    }
}

fn encryption_label(e: Option<&Encryption>) -> String {
    match e {
        None => "none".into(),
        Some(Encryption::S3) => "SSE-S3".into(),
        Some(Encryption::Kms { key_id, .. }) => format!("SSE-KMS ({key_id})"),
        Some(Encryption::Customer { .. }) => "SSE-C".into(),
    }
}

fn bucket_or_404(s: &AdminState, bucket: &str) -> Result<BucketRecord, String> {
    match s.store.bucket(bucket) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(format!("There is no bucket {bucket}.")),
        Err(e) => Err(e.to_string()),
    }
}

async fn list(
    State(s): State<AdminState>,
    Signed(session): Signed,
    Path(bucket): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let record = match bucket_or_404(&s, &bucket) {
        Ok(b) => b,
        Err(e) => return problem_page(&s, &session, &e),
    };
    let walk = Walk {
        bucket: &bucket,
        prefix: &q.prefix,
        delimiter: Some("/"),
        resume: match q.after.is_empty() {
            true => Vec::new(),
            false => listing::objects_resume(&q.after, Some("/")),
        },
        max: PAGE,
    };
    let page = match listing::objects(&s.store, &walk) {
        Ok(p) => p,
        Err(e) => return problem_page(&s, &session, &format!("Cannot list: {e}")),
    };
    let last = page.items.last().map(|i| match i {
        Item::Entry { key, .. } => key.clone(),
        Item::Prefix(p) => p.clone(),
    });
    let body = html! {
        h1 { "Objects" }
        section.card {
            (breadcrumb(&bucket, &q.prefix))
            p.muted {
                "Versioning " (versioning_label(&record)) ". "
                a href=(format!("/dashboard/buckets/{}", seg(&bucket))) { "Bucket settings" }
            }
            table #objects {
                thead { tr { th { "Name" } th.num { "Size" } th { "Last modified" } th { "Encryption" } th { "" } } }
                tbody {
                    @for item in &page.items {
                        @match item {
                            Item::Prefix(p) => tr.folder data-prefix=(p) {
                                td { a.mono href=(objects_url(&bucket, p)) { (p.strip_prefix(q.prefix.as_str()).unwrap_or(p)) } }
                                td.num { "" } td { "folder" } td { "" } td { "" }
                            },
                            Item::Entry { key, record } => tr data-key=(key) {
                                td { a.mono href=(object_url(&bucket, key)) { (key.strip_prefix(q.prefix.as_str()).unwrap_or(key)) } }
                                td.num { (bytes(record.size)) }
                                td { (time(record.last_modified_ms)) }
                                td { (encryption_label(record.encryption.as_ref())) }
                                td { a.download href=(download_url(&bucket, key, None)) { "download" } }
                            },
                        }
                    }
                }
            }
            @if page.items.is_empty() {
                p.muted #empty { "Nothing here." }
            }
            @if let (true, Some(last)) = (page.truncated, &last) {
                p { a #next-page href=(format!("{}&after={}", objects_url(&bucket, &q.prefix), seg(last))) { "Next page" } }
            }
        }
        @if !s.store.zone.writable() {
            (read_only_note())
        } @else {
        section.card {
            h2 { "Upload" }
            form #upload data-bucket=(bucket) data-prefix=(q.prefix) data-csrf=(session.csrf) {
                input #upload-files type="file" multiple;
                " "
                button type="submit" { "Upload to " span.mono { (bucket) "/" (q.prefix) } }
            }
            p.muted { "Files of 16 MiB and more go up as multipart uploads, in parts of 8 MiB." }
            ul #upload-progress {}
        }
        }
    };
    signed_page(&s, &session, Tab::Buckets, &bucket, body)
}

fn versioning_label(b: &BucketRecord) -> &'static str {
    match b.versioning {
        None => "off",
        Some(bascule_replication::records::Versioning::Enabled) => "enabled",
        Some(bascule_replication::records::Versioning::Suspended) => "suspended",
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
    #[serde(default)]
    version: Option<String>,
}

/// The key's versions, newest first (its current version, if any, first).
fn versions_of(s: &AdminState, bucket: &str, key: &str) -> Result<Vec<ObjectRecord>, String> {
    let walked = listing::versions(
        &s.store,
        &VersionWalk {
            bucket,
            prefix: key,
            delimiter: None,
            key_marker: "",
            version_marker: "",
            max: VERSIONS,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(walked
        .items
        .into_iter()
        .filter_map(|i| match i {
            VersionItem::Version { key: k, record, .. } if k == key => Some(record),
            _ => None,
        })
        .collect())
}

async fn details(
    State(s): State<AdminState>,
    Signed(session): Signed,
    Path(bucket): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    if let Err(e) = bucket_or_404(&s, &bucket) {
        return problem_page(&s, &session, &e);
    }
    let versions = match versions_of(&s, &bucket, &q.key) {
        Ok(v) => v,
        Err(e) => return problem_page(&s, &session, &e),
    };
    let current = versions.first().filter(|v| !v.delete_marker);
    let folder = match q.key.rfind('/') {
        Some(i) => &q.key[..=i],
        None => "",
    };
    let body = html! {
        h1.mono { (q.key) }
        section.card {
            (breadcrumb(&bucket, folder))
            @match current {
                None => p #no-current { "No current version: the key is deleted (a delete marker is newest) or does not exist." },
                Some(r) => dl.facts #object-facts {
                    dt { "Size" } dd { (bytes(r.size)) " (" (r.size) " bytes)" }
                    dt { "ETag" } dd.mono { (r.etag) }
                    dt { "Last modified" } dd { (time(r.last_modified_ms)) }
                    dt { "Content type" } dd.mono { (r.headers.content_type.as_deref().unwrap_or("binary/octet-stream")) }
                    dt { "Encryption" } dd #encryption { (encryption_label(r.encryption.as_ref())) }
                    dt { "Lock" } dd #lock {
                        @match &r.retention {
                            Some(ret) => { (ret.mode.as_str()) " until " (time(ret.until_ms)) }
                            None => "no retention",
                        }
                        @if r.legal_hold { ", legal hold" }
                    }
                    @if !r.user_meta.is_empty() {
                        dt { "Metadata" } dd {
                            @for (k, v) in &r.user_meta { span.mono { (k) "=" (v) } " " }
                        }
                    }
                    @if !r.tags.is_empty() {
                        dt { "Tags" } dd #tags {
                            @for (k, v) in &r.tags { span.mono { (k) "=" (v) } " " }
                        }
                    }
                },
            }
            @if let Some(r) = current {
                p { a #download href=(download_url(&bucket, &q.key, r.version_id.as_deref())) { "Download" } }
            }
            @if s.store.zone.writable() {
            form.inline #delete-current method="post" action=(format!("/dashboard/buckets/{}/delete-object", seg(&bucket))) {
                (csrf(&session))
                input type="hidden" name="key" value=(q.key);
                button.danger type="submit" { "Delete" }
                span.muted { " (in a versioned bucket: adds a delete marker; older versions stay)" }
            }
            } @else {
                (read_only_note())
            }
        }
        section.card {
            h2 { "Versions (" (versions.len()) ")" }
            table #versions {
                thead { tr { th { "Version" } th.num { "Size" } th { "Last modified" } th { "" } th { "" } } }
                tbody {
                    @for v in &versions {
                        @let label = v.version_id.as_deref().unwrap_or("null");
                        tr data-version=(label) {
                            td.mono { (label) @if v.delete_marker { " (delete marker)" } }
                            td.num { @if !v.delete_marker { (bytes(v.size)) } }
                            td { (time(v.last_modified_ms)) }
                            td { @if !v.delete_marker { a href=(download_url(&bucket, &q.key, Some(label))) { "download" } } }
                            td {
                                @if s.store.zone.writable() {
                                form.inline method="post" action=(format!("/dashboard/buckets/{}/delete-object", seg(&bucket))) {
                                    (csrf(&session))
                                    input type="hidden" name="key" value=(q.key);
                                    input type="hidden" name="version" value=(label);
                                    button.danger type="submit" { "Delete this version" }
                                }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if current.is_some() {
            section.card {
                h2 { "Share" }
                form #share method="post" action=(format!("/dashboard/buckets/{}/share", seg(&bucket))) {
                    (csrf(&session))
                    input type="hidden" name="key" value=(q.key);
                    label for="share-minutes" { "A download link valid for " }
                    input #share-minutes type="number" name="minutes" value="60" min="1" max="10080";
                    " minutes "
                    button type="submit" { "Create link" }
                }
                p.muted { "The link is a presigned URL signed with the bucket owner's access key: anyone holding it can download this object until it expires." }
            }
        }
    };
    signed_page(&s, &session, Tab::Buckets, &q.key, body)
}

async fn download(
    State(s): State<AdminState>,
    Signed(_): Signed,
    Path(bucket): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let owner = match s.store.bucket(&bucket) {
        Ok(Some(b)) => b.owner,
        _ => return (http::StatusCode::NOT_FOUND, "no such bucket").into_response(),
    };
    let mut path = object_path(&bucket, &q.key);
    if let Some(v) = &q.version {
        path.push_str(&format!("?versionId={}", seg(v)));
    }
    let r = console::call(
        &s,
        console::actor(&s, &owner),
        Method::GET,
        &path,
        HeaderMap::new(),
        Body::empty(),
    )
    .await;
    console::contain(r, Some(&q.key))
}

#[derive(Deserialize)]
struct DeleteForm {
    key: String,
    #[serde(default)]
    version: Option<String>,
}

async fn delete(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<DeleteForm>,
) -> Response {
    let form = &action.form;
    let folder = match form.key.rfind('/') {
        Some(i) => form.key[..=i].to_string(),
        None => String::new(),
    };
    let owner = match s.store.bucket(&bucket) {
        Ok(Some(b)) => b.owner,
        _ => return action.done(&s, Err("There is no such bucket."), "/dashboard/buckets"),
    };
    let mut path = object_path(&bucket, &form.key);
    if let Some(v) = form.version.as_deref().filter(|v| !v.is_empty()) {
        path.push_str(&format!("?versionId={}", seg(v)));
    }
    let r = console::call(
        &s,
        console::actor(&s, &owner),
        Method::DELETE,
        &path,
        HeaderMap::new(),
        Body::empty(),
    )
    .await;
    let outcome = if r.status().is_success() {
        let marker = r.headers().contains_key("x-amz-delete-marker");
        Ok(match (&form.version, marker) {
            (Some(v), _) if !v.is_empty() => format!("Deleted version {v} of {}.", form.key),
            (_, true) => format!(
                "Deleted {}: a delete marker now hides its versions.",
                form.key
            ),
            _ => format!("Deleted {}.", form.key),
        })
    } else {
        Err(console::error_text(r).await)
    };
    let back = match &outcome {
        // A key with versions left is worth coming back to.
        Ok(_) if form.version.is_some() => object_url(&bucket, &form.key),
        _ => objects_url(&bucket, &folder),
    };
    action.done(&s, outcome, &back)
}

#[derive(Deserialize)]
struct ShareForm {
    key: String,
    #[serde(default)]
    version: Option<String>,
    minutes: u64,
}

async fn share(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<ShareForm>,
) -> Response {
    let form = &action.form;
    let back = object_url(&bucket, &form.key);
    match share_link(&s, &bucket, form) {
        Err(e) => action.done(&s, Err(e), &back),
        Ok(url) => {
            let body = html! {
                h1 { "Share link" }
                section.card {
                    p { "Anyone with this link can download " span.mono { (form.key) } " for " (form.minutes) " minutes:" }
                    p { input #share-url .mono type="text" readonly value=(url) size="100"; }
                    p { a href=(back) { "Back to the object" } }
                }
            };
            signed_page(&s, &action.session, Tab::Buckets, "Share link", body)
        }
    }
}

/// A presigned GET of the object, signed with an access key of the bucket's owner, for
/// the zone's advertised S3 endpoint.
fn share_link(s: &AdminState, bucket: &str, form: &ShareForm) -> Result<String, String> {
    let owner = bucket_or_404(s, bucket)?.owner;
    let key = s
        .store
        .access_keys()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|k| k.user_id == owner && k.enabled)
        .ok_or("The bucket's owner has no enabled access key to sign a link with.")?;
    let endpoint = s.zone.s3_endpoint.trim_end_matches('/');
    let host = endpoint
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(endpoint);
    let path = format!("/{bucket}/{}", form.key);
    let params: Vec<(String, String)> = form
        .version
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| ("versionId".to_string(), v.clone()))
        .collect();
    let query = bascule_api::sigv4::presigned_query(&bascule_api::sigv4::Presign {
        method: "GET",
        host,
        path: &path,
        params: &params,
        access_key: &key.access_key,
        secret_key: &key.secret_key,
        region: &s.config.region,
        now: time::OffsetDateTime::now_utc(),
        expires_secs: form.minutes.saturating_mul(60),
    })
    .map_err(|e| e.message.to_string())?;
    Ok(format!(
        "{endpoint}{}?{query}",
        bascule_api::sigv4::canonical_uri(&path, bascule_api::sigv4::PathMode::S3)
    ))
}

/// What a secondary shows instead of the actions it would refuse.
pub fn read_only_note() -> Markup {
    html! {
        div.flash.bad #read-only {
            "This zone takes no writes: objects and buckets change on the primary and replicate here."
        }
    }
}

fn problem_page(s: &AdminState, session: &super::session::Session, message: &str) -> Response {
    let body = html! {
        h1 { "Objects" }
        div.flash.bad { (message) }
        p { a href="/dashboard/buckets" { "Back to the buckets" } }
    };
    let mut r = signed_page(s, session, Tab::Buckets, "Objects", body);
    *r.status_mut() = http::StatusCode::NOT_FOUND;
    r
}
