//! Bucket changes from the dashboard: create (with its owner and object lock), delete,
//! versioning, bucket policy, CORS and lifecycle documents, tags, public access block and
//! default retention. Each is an S3 request through the console (see `console.rs`), so
//! names, documents and refusals are S3's own (a policy or lifecycle document with an
//! error is refused with the parser's message, a bucket with objects is not deleted).

use super::console::{actor, call, change};
use super::layout::{csrf, seg};
use super::session::Session;
use super::Action;
use crate::admin::state::AdminState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bascule_replication::records::{BucketRecord, RetentionMode, UserRecord, Versioning};
use http::{HeaderMap, HeaderValue, Method};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/buckets", post(create))
        .route("/dashboard/buckets/{bucket}/delete", post(delete))
        .route("/dashboard/buckets/{bucket}/versioning", post(versioning))
        .route("/dashboard/buckets/{bucket}/policy", post(policy))
        .route(
            "/dashboard/buckets/{bucket}/document/{kind}",
            post(document),
        )
        .route("/dashboard/buckets/{bucket}/tags", post(tags))
        .route(
            "/dashboard/buckets/{bucket}/access-block",
            post(access_block),
        )
        .route("/dashboard/buckets/{bucket}/retention", post(retention))
}

/// A bucket configuration edited as its S3 document: the editor shows what S3's GET
/// answers and saves with S3's PUT.
struct Document {
    kind: &'static str,
    title: &'static str,
    example: &'static str,
}

const DOCUMENTS: [Document; 2] = [
    Document {
        kind: "cors",
        title: "CORS",
        example: "<CORSConfiguration>\n  <CORSRule>\n    <AllowedOrigin>https://app.example.org</AllowedOrigin>\n    <AllowedMethod>GET</AllowedMethod>\n    <AllowedMethod>PUT</AllowedMethod>\n    <AllowedHeader>*</AllowedHeader>\n    <MaxAgeSeconds>3000</MaxAgeSeconds>\n  </CORSRule>\n</CORSConfiguration>",
    },
    Document {
        kind: "lifecycle",
        title: "Lifecycle rules",
        example: "<LifecycleConfiguration>\n  <Rule>\n    <ID>expire-tmp</ID>\n    <Filter><Prefix>tmp/</Prefix></Filter>\n    <Status>Enabled</Status>\n    <Expiration><Days>7</Days></Expiration>\n  </Rule>\n</LifecycleConfiguration>",
    },
];

/// The bucket's documents as S3 answers them (`None`: it has none).
pub struct Current {
    docs: Vec<Option<String>>,
}

/// Reads the bucket's editable documents through S3.
pub async fn current(s: &AdminState, b: &BucketRecord) -> Current {
    let mut docs = Vec::new();
    for d in &DOCUMENTS {
        let path = format!("/{}?{}", seg(&b.name), d.kind);
        let r = call(
            s,
            actor(s, &b.owner),
            Method::GET,
            &path,
            HeaderMap::new(),
            Body::empty(),
        )
        .await;
        let doc = match r.status().is_success() {
            true => axum::body::to_bytes(r.into_body(), 1024 * 1024)
                .await
                .ok()
                .map(|b| indent(&String::from_utf8_lossy(&b))),
            false => None,
        };
        docs.push(doc);
    }
    Current { docs }
}

/// An XML document laid out one element a line, for editing; text is kept as it is
/// (only whitespace between elements goes). A document that does not parse is shown
/// unchanged.
fn indent(xml: &str) -> String {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut w = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
            Ok(e) => {
                if w.write_event(e).is_err() {
                    return xml.to_string();
                }
            }
            Err(_) => return xml.to_string(),
        }
    }
    String::from_utf8(w.into_inner()).unwrap_or_else(|_| xml.to_string())
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
pub fn settings_card(
    s: &AdminState,
    session: &Session,
    b: &BucketRecord,
    current: &Current,
) -> Markup {
    let writable = s.store.zone.writable();
    let base = back(&b.name);
    html! {
        section.card #settings {
            h2 { "Settings" }
            p {
                a #browse href=(format!("/dashboard/buckets/{}/objects", seg(&b.name))) { "Browse objects" }
            }
            (lifecycle_rules(s, b))
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
            @for (d, doc) in DOCUMENTS.iter().zip(&current.docs) {
                details.editor id=(format!("{}-editor", d.kind)) open[doc.is_some()] {
                    summary { (d.title) @if doc.is_none() { span.muted { " (none)" } } }
                    form id=(format!("{}-form", d.kind)) method="post" action=(format!("{base}/document/{}", d.kind)) {
                        (csrf(session))
                        textarea id=(format!("{}-xml", d.kind)) name="doc" rows="10" spellcheck="false"
                            placeholder=(d.example) { (doc.as_deref().unwrap_or("")) }
                        p {
                            button type="submit" name="action" value="save" { "Save " (d.title) } " "
                            @if doc.is_some() {
                                button.danger type="submit" name="action" value="delete" { "Delete " (d.title) }
                            }
                        }
                    }
                }
            }
            (tags_form(session, b))
            (access_block_form(session, b))
            @if b.object_lock.is_some() { (retention_form(session, b)) }
            form #delete-bucket method="post" action=(format!("{base}/delete")) {
                (csrf(session))
                button.danger type="submit" { "Delete bucket" }
                span.muted { " (only an empty bucket: S3 refuses others)" }
            }
            }
        }
    }
}

/// Sends one change of `bucket` (`query` names the sub-resource) through S3 as its owner;
/// `Ok` carries `done`, `Err` what S3 answered.
async fn change_bucket(
    s: &AdminState,
    bucket: &str,
    method: Method,
    query: &str,
    body: Body,
    done: String,
) -> Result<String, String> {
    let owner = owner_of(s, bucket)?;
    let path = format!("/{}{query}", seg(bucket));
    change(s, &owner, method, &path, HeaderMap::new(), body)
        .await
        .map(|()| done)
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
    let done = format!("Deleted bucket {bucket}.");
    let outcome = change_bucket(&s, &bucket, Method::DELETE, "", Body::empty(), done).await;
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
    let done = format!("Versioning of {bucket}: {status}.");
    let outcome = change_bucket(
        &s,
        &bucket,
        Method::PUT,
        "?versioning",
        Body::from(doc),
        done,
    )
    .await;
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
    let (method, body, done) = match action.form.action.as_str() {
        "delete" => (Method::DELETE, Body::empty(), "Deleted"),
        _ => (Method::PUT, Body::from(action.form.policy.clone()), "Saved"),
    };
    let done = format!("{done} the policy of {bucket}.");
    let outcome = change_bucket(&s, &bucket, method, "?policy", body, done).await;
    action.done(&s, outcome, &back(&bucket))
}

/// The bucket's lifecycle rules, and where the lifecycle worker's walk is.
fn lifecycle_rules(s: &AdminState, b: &BucketRecord) -> Markup {
    let worker = s
        .lifecycle
        .report(&s.config.lifecycle, s.store.zone.writable());
    let walking_here = worker.bucket.as_deref() == Some(b.name.as_str());
    html! {
        h3 { "Lifecycle rules" }
        @if b.lifecycle.is_empty() {
            p.muted { "No lifecycle rules." }
        } @else {
            table #lifecycle-rules {
                thead { tr { th { "Rule" } th { "Status" } th { "Applies to" } th { "Actions" } } }
                tbody {
                    @for r in &b.lifecycle {
                        tr {
                            td.mono { (r.id.as_deref().unwrap_or("(no id)")) }
                            td { @if r.enabled { "enabled" } @else { span.muted { "disabled" } } }
                            td { (rule_filter(&r.filter)) }
                            td { (rule_actions(r)) }
                        }
                    }
                }
            }
            p #lifecycle-run.muted {
                @if !worker.running_here {
                    "The lifecycle worker runs on the zone that takes writes, not here."
                } @else {
                    "Last full pass over all buckets: "
                    @if worker.last_pass_ended_ms > 0 { (super::format::time(worker.last_pass_ended_ms)) } @else { "none yet" }
                    " (" (worker.passes_completed) " passes since the zone started; a pass every "
                    (worker.interval_seconds) " s)."
                    @if walking_here { " Walking this bucket now." }
                }
            }
        }
    }
}

fn rule_filter(f: &bascule_replication::records::LifecycleFilter) -> String {
    let mut parts = Vec::new();
    if !f.prefix.is_empty() {
        parts.push(format!("keys starting with \"{}\"", f.prefix));
    }
    for (k, v) in &f.tags {
        parts.push(format!("tag {k}={v}"));
    }
    if let Some(n) = f.size_greater_than {
        parts.push(format!("larger than {}", super::format::bytes(n)));
    }
    if let Some(n) = f.size_less_than {
        parts.push(format!("smaller than {}", super::format::bytes(n)));
    }
    match parts.is_empty() {
        true => "every object".into(),
        false => parts.join(", "),
    }
}

fn rule_actions(r: &bascule_replication::records::LifecycleRule) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &r.expiration {
        if let Some(d) = e.days {
            parts.push(format!("expire after {d} days"));
        }
        if let Some(at) = e.date_ms {
            parts.push(format!("expire from {}", super::format::time(at)));
        }
        if e.expired_object_delete_marker {
            parts.push("remove lone delete markers".into());
        }
    }
    if let Some(n) = &r.noncurrent_expiration {
        if let Some(d) = n.days {
            parts.push(format!("remove older versions after {d} days"));
        }
        if let Some(k) = n.newer_noncurrent_versions {
            parts.push(format!("keep {k} older versions"));
        }
    }
    if let Some(d) = r.abort_incomplete_upload_days {
        parts.push(format!("abort unfinished uploads after {d} days"));
    }
    parts.join("; ")
}

/// Bucket tags: one row each, and empty rows to add more (a row left without a key is
/// dropped; S3 checks the rest).
const TAG_ROWS_FREE: usize = 3;

fn tags_form(session: &Session, b: &BucketRecord) -> Markup {
    let rows = b.tags.len() + TAG_ROWS_FREE;
    html! {
        form #tags-form method="post" action=(format!("{}/tags", back(&b.name))) {
            (csrf(session))
            h3 { "Tags" }
            table.tags {
                thead { tr { th { "Key" } th { "Value" } } }
                tbody {
                    @for i in 0..rows {
                        @let (k, v) = b.tags.get(i).map(|(k, v)| (k.as_str(), v.as_str())).unwrap_or(("", ""));
                        tr {
                            td { input type="text" name=(format!("key{i}")) value=(k) autocomplete="off"; }
                            td { input type="text" name=(format!("value{i}")) value=(v) autocomplete="off"; }
                        }
                    }
                }
            }
            p { button type="submit" { "Save tags" } span.muted { " (a row without a key is removed)" } }
        }
    }
}

fn access_block_form(session: &Session, b: &BucketRecord) -> Markup {
    let block = b.access_block();
    let flags = [
        (
            "BlockPublicAcls",
            "block public ACLs",
            block.block_public_acls,
        ),
        (
            "IgnorePublicAcls",
            "ignore public ACLs",
            block.ignore_public_acls,
        ),
        (
            "BlockPublicPolicy",
            "block public policy",
            block.block_public_policy,
        ),
        (
            "RestrictPublicBuckets",
            "restrict public buckets",
            block.restrict_public_buckets,
        ),
    ];
    html! {
        form #access-block-form method="post" action=(format!("{}/access-block", back(&b.name))) {
            (csrf(session))
            h3 { "Public access block" }
            p {
                @for (name, text, on) in flags {
                    label { input type="checkbox" name=(name) value="on" checked[on]; " " (text) } " "
                }
            }
            p { button type="submit" { "Save public access block" } }
        }
    }
}

fn retention_form(session: &Session, b: &BucketRecord) -> Markup {
    let current = b
        .object_lock
        .as_ref()
        .and_then(|l| l.default_retention.as_ref());
    let mode = current.map(|d| d.mode);
    let (period, years) = match current {
        Some(d) => match (d.days, d.years) {
            (_, Some(y)) => (y.to_string(), true),
            (Some(n), _) => (n.to_string(), false),
            _ => (String::new(), false),
        },
        None => (String::new(), false),
    };
    html! {
        form #retention-form method="post" action=(format!("{}/retention", back(&b.name))) {
            (csrf(session))
            h3 { "Default retention" }
            p {
                select #retention-mode name="mode" {
                    option value="" selected[mode.is_none()] { "none" }
                    option value="GOVERNANCE" selected[mode == Some(RetentionMode::Governance)] { "governance" }
                    option value="COMPLIANCE" selected[mode == Some(RetentionMode::Compliance)] { "compliance" }
                }
                " for "
                input #retention-period type="number" name="period" value=(period);
                " "
                select #retention-unit name="unit" {
                    option value="Days" selected[!years] { "days" }
                    option value="Years" selected[years] { "years" }
                }
                " " button type="submit" { "Save default retention" }
            }
            p.muted { "New object versions that ask for no retention get this one. Compliance cannot be shortened by anyone once applied to a version." }
        }
    }
}

/// Text for an XML element's content.
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const S3_NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

#[derive(Deserialize)]
struct DocumentForm {
    #[serde(default)]
    doc: String,
    #[serde(default)]
    action: String,
}

async fn document(
    State(s): State<AdminState>,
    Path((bucket, kind)): Path<(String, String)>,
    action: Action<DocumentForm>,
) -> Response {
    let Some(d) = DOCUMENTS.iter().find(|d| d.kind == kind) else {
        return action.done(&s, Err("No such setting."), &back(&bucket));
    };
    let (method, body, done) = match action.form.action.as_str() {
        "delete" => (Method::DELETE, Body::empty(), "Deleted"),
        _ => (Method::PUT, Body::from(action.form.doc.clone()), "Saved"),
    };
    let outcome = change_bucket(
        &s,
        &bucket,
        method,
        &format!("?{}", d.kind),
        body,
        format!("{done} the {} of {bucket}.", d.title),
    )
    .await;
    action.done(&s, outcome, &back(&bucket))
}

async fn tags(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<std::collections::HashMap<String, String>>,
) -> Response {
    let f = &action.form;
    let mut set = String::new();
    let mut count = 0;
    for i in 0.. {
        let (Some(k), v) = (f.get(&format!("key{i}")), f.get(&format!("value{i}"))) else {
            break;
        };
        if k.is_empty() {
            continue;
        }
        count += 1;
        set += &format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            xml_text(k),
            xml_text(v.map(String::as_str).unwrap_or(""))
        );
    }
    let (method, body) = match count {
        0 => (Method::DELETE, Body::empty()),
        _ => (
            Method::PUT,
            Body::from(format!("<Tagging {S3_NS}><TagSet>{set}</TagSet></Tagging>")),
        ),
    };
    let outcome = change_bucket(
        &s,
        &bucket,
        method,
        "?tagging",
        body,
        format!("Saved the tags of {bucket} ({count})."),
    )
    .await;
    action.done(&s, outcome, &back(&bucket))
}

async fn access_block(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<std::collections::HashMap<String, String>>,
) -> Response {
    let flag = |name: &str| {
        let on = action.form.get(name).is_some_and(|v| v == "on");
        format!("<{name}>{on}</{name}>")
    };
    let doc = format!(
        "<PublicAccessBlockConfiguration {S3_NS}>{}{}{}{}</PublicAccessBlockConfiguration>",
        flag("BlockPublicAcls"),
        flag("IgnorePublicAcls"),
        flag("BlockPublicPolicy"),
        flag("RestrictPublicBuckets")
    );
    let outcome = change_bucket(
        &s,
        &bucket,
        Method::PUT,
        "?publicAccessBlock",
        Body::from(doc),
        format!("Saved the public access block of {bucket}."),
    )
    .await;
    action.done(&s, outcome, &back(&bucket))
}

#[derive(Deserialize)]
struct RetentionForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    unit: String,
}

async fn retention(
    State(s): State<AdminState>,
    Path(bucket): Path<String>,
    action: Action<RetentionForm>,
) -> Response {
    let f = &action.form;
    let rule = match (f.mode.as_str(), f.unit.as_str()) {
        ("", _) => String::new(),
        (mode @ ("GOVERNANCE" | "COMPLIANCE"), unit @ ("Days" | "Years")) => format!(
            "<Rule><DefaultRetention><Mode>{mode}</Mode><{unit}>{}</{unit}></DefaultRetention></Rule>",
            xml_text(f.period.trim())
        ),
        _ => return action.done(&s, Err("Choose a mode and days or years."), &back(&bucket)),
    };
    // The period is S3's to check (a positive whole number within its limits).
    let doc = format!(
        "<ObjectLockConfiguration {S3_NS}><ObjectLockEnabled>Enabled</ObjectLockEnabled>{rule}</ObjectLockConfiguration>"
    );
    let outcome = change_bucket(
        &s,
        &bucket,
        Method::PUT,
        "?object-lock",
        Body::from(doc),
        format!("Saved the default retention of {bucket}."),
    )
    .await;
    action.done(&s, outcome, &back(&bucket))
}

#[cfg(test)]
mod tests {
    use super::indent;

    #[test]
    fn documents_are_laid_out_with_their_text_kept() {
        let doc = "<A><B> x </B><C>y</C></A>";
        assert_eq!(indent(doc), "<A>\n  <B> x </B>\n  <C>y</C>\n</A>");
        assert_eq!(indent("<A><B></A>"), "<A><B></A>");
    }
}
