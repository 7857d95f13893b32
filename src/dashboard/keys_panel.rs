//! The encryption keys card of the zone page: the key service's keys, how many stored
//! segments each version still wraps, and the actions of `bascule admin kms` (create,
//! rotate, enable, disable, retire an older version), through the same operations as the
//! admin API. Key material is never shown.

use super::format::time;
use super::layout::{button, csrf, seg};
use super::session::Session;
use super::{on_writable_zone, Action};
use crate::admin::kms::{self, KeyInfo};
use crate::admin::state::AdminState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bascule_replication::records::ZONE_KEY_ID;
use maud::{html, Markup};
use serde::Deserialize;

const BACK: &str = "/dashboard#keys";

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/kms/keys", post(create))
        .route("/dashboard/kms/keys/{id}/{change}", post(change))
        .route("/dashboard/kms/keys/{id}/retire/{version}", post(retire))
}

pub fn card(s: &AdminState, session: &Session) -> Markup {
    let keys: Vec<KeyInfo> = s
        .store
        .kms_keys()
        .unwrap_or_default()
        .iter()
        .filter_map(|k| KeyInfo::of(&s.store, k).ok())
        .collect();
    let pending = s.rewrap.pending().unwrap_or_default();
    // Keys change where writes are taken (and replicate): a secondary shows no actions.
    let writable = s.store.zone.writable();
    html! {
        section.card #keys {
            h2 { "Encryption keys" }
            p.muted {
                "Master key fingerprint " span.mono { (s.keys.master_fingerprint()) }
                " (the same on both zones of a pair). Rotating a key makes a new version wrap new data keys; "
                "older data keys are wrapped again in the background, and a version that wraps none can be retired."
            }
            table #kms-keys {
                thead { tr {
                    th { "Key" } th { "Enabled" } th.num { "Active version" }
                    th { "Segments by version" } th { "Created" } th { "" }
                } }
                tbody {
                    @for k in &keys {
                        @let base = format!("/dashboard/kms/keys/{}", seg(&k.id));
                        tr data-key=(k.id) {
                            td.mono { (k.id) @if k.id == ZONE_KEY_ID { " (SSE-S3)" } }
                            td { @if k.enabled { "yes" } @else { "no" } }
                            td.num { (k.active_version) }
                            td {
                                @for v in &k.segments {
                                    span.version {
                                        "v" (v.version) ": " (v.segments)
                                        @if writable && v.version != k.active_version && v.segments == 0 {
                                            " " (button(session, &format!("{base}/retire/{}", v.version), &format!("Retire v{}", v.version), true))
                                        }
                                    }
                                    " "
                                }
                            }
                            td { (time(k.created_ms)) }
                            td {
                                @if writable {
                                (button(session, &format!("{base}/rotate"), "Rotate", false))
                                @if k.id != ZONE_KEY_ID {
                                    @if k.enabled {
                                        (button(session, &format!("{base}/disable"), "Disable", true))
                                    } @else {
                                        (button(session, &format!("{base}/enable"), "Enable", false))
                                    }
                                }
                                }
                            }
                        }
                    }
                }
            }
            @if !pending.is_empty() {
                p #rewrap-pending {
                    "Re-wrapping: "
                    @for p in &pending {
                        span.mono { (p.key) " v" (p.version) } " " (p.segments) " segments"
                        @if !p.key_enabled { " (key disabled: waits)" }
                        "; "
                    }
                }
            }
            @if writable {
            form #create-kms-key method="post" action="/dashboard/kms/keys" {
                (csrf(session))
                label for="kms-name" { "New key " }
                input #kms-name type="text" name="name" required pattern="[A-Za-z0-9._\\-]{1,128}" autocomplete="off";
                " "
                button type="submit" { "Create key" }
            }
            }
        }
    }
}

#[derive(Deserialize)]
struct NewKey {
    #[serde(default)]
    name: String,
}

async fn create(State(s): State<AdminState>, action: Action<NewKey>) -> Response {
    let outcome = on_writable_zone(&s, kms::create_key(&s, &action.form.name))
        .await
        .map(|k| format!("Created KMS key {}.", k.id));
    action.done(&s, outcome, BACK)
}

#[derive(Deserialize)]
struct NoFields {}

async fn change(
    State(s): State<AdminState>,
    Path((id, change)): Path<(String, String)>,
    action: Action<NoFields>,
) -> Response {
    let run = async {
        match change.as_str() {
            "rotate" => kms::rotate_key(&s, id).await.map(|k| {
                format!(
                    "Rotated {}: version {} wraps new data keys; older ones are being wrapped again.",
                    k.id,
                    k.active().map(|v| v.n).unwrap_or(0)
                )
            }),
            "enable" => kms::set_enabled(&s, id, true)
                .await
                .map(|k| format!("Enabled {}.", k.id)),
            "disable" => kms::set_enabled(&s, id, false).await.map(|k| {
                format!(
                    "Disabled {}: its objects cannot be read or written until it is enabled.",
                    k.id
                )
            }),
            _ => Err(crate::admin::error::not_found("action", &change)),
        }
    };
    let outcome = on_writable_zone(&s, run).await;
    action.done(&s, outcome, BACK)
}

async fn retire(
    State(s): State<AdminState>,
    Path((id, version)): Path<(String, u32)>,
    action: Action<NoFields>,
) -> Response {
    let outcome = on_writable_zone(&s, kms::retire_version(&s, id, version))
        .await
        .map(|k| {
            format!(
                "Retired version {version} of {}: its material is gone.",
                k.id
            )
        });
    action.done(&s, outcome, BACK)
}
