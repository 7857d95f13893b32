//! The zone page's data checks: the cross-zone verify (its last result, and buttons to
//! run one or to repair the secondary) and the scrub (damaged objects found, repaired or
//! not, and a button for a pass now).

use super::format::{bytes, time};
use super::layout::csrf;
use super::session::Session;
use super::Action;
use crate::admin::state::AdminState;
use crate::zone::verify::VerifyRequest;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bascule_replication::zone::Role;
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/zone/verify", post(verify))
        .route("/dashboard/zone/scrub", post(scrub))
}

/// Damaged objects listed on the page; the admin API lists up to its own bound.
const DAMAGED_SHOWN: usize = 50;

pub fn card(s: &AdminState, session: &Session) -> Markup {
    let v = s.verify.status.state();
    let scrub = s.scrub.report(&s.config.scrub);
    let secondary = s.store.zone.role() == Role::Secondary;
    let has_peer = s.zone.peer.is_some();
    html! {
        section.card #checks {
            h2 { "Data checks" }
            h3 { "Cross-zone verify" }
            @if !has_peer {
                p.muted { "A standalone zone: there is no peer to compare with." }
            } @else {
                p.muted {
                    "Compares this zone's objects, versions and settings with the peer's, without moving object data. "
                    @if s.config.zone.verify_interval > 0 {
                        "The secondary runs one every " (s.config.zone.verify_interval / 3600) " h."
                    }
                }
                @if v.running { p #verify-running { span.badge { "running" } } }
                @match &v.last {
                    None => p #verify-last.muted { "No verify has run since this zone started." },
                    Some(r) => {
                        table #verify-last {
                            tbody {
                                tr { th { "Ended" } td { (time(r.finished_ms)) } }
                                tr { th { "Keys compared" } td.num { (r.keys) " in " (r.buckets) " buckets" } }
                                @for (label, found) in [("Missing on the secondary", &r.missing), ("Extra on the secondary", &r.extra), ("Different", &r.different), ("Settings differing", &r.settings)] {
                                    tr {
                                        th { (label) }
                                        td {
                                            @if found.count == 0 { span.badge.ok { "0" } }
                                            @else { span.badge.bad { (found.count) } " " span.mono { (found.first.join(", ")) } }
                                        }
                                    }
                                }
                                @if r.repaired + r.repair_failed > 0 {
                                    tr { th { "Repaired" } td { (r.repaired) @if r.repair_failed > 0 { " (" (r.repair_failed) " could not be)" } } }
                                }
                                @if let Some(e) = &r.error {
                                    tr { th { "Did not finish" } td { span.badge.bad { "error" } " " (e) } }
                                }
                            }
                        }
                    }
                }
                form.inline method="post" action="/dashboard/zone/verify" {
                    (csrf(session))
                    button #verify-now type="submit" { "Verify now" }
                }
                @if secondary {
                    form.inline method="post" action="/dashboard/zone/verify" {
                        (csrf(session))
                        input type="hidden" name="repair" value="true";
                        button #verify-repair type="submit" { "Verify and repair this zone" }
                    }
                }
            }
            h3 { "Scrub" }
            p.muted {
                @if scrub.enabled {
                    "Re-reads stored data at " (bytes(scrub.bytes_per_second)) "/s against the checksums recorded at write time; "
                    (scrub.passes_completed) " passes completed, " (bytes(scrub.bytes_checked)) " checked since start."
                } @else { "Off (scrub.bytes_per_second = 0)." }
            }
            @if scrub.damaged.is_empty() {
                p #scrub-damaged.muted { "No damaged object found." }
            } @else {
                table #scrub-damaged {
                    thead { tr { th { "Object" } th { "Problem" } th { "State" } th { "Found" } } }
                    tbody {
                        @for d in scrub.damaged.iter().rev().take(DAMAGED_SHOWN) {
                            tr {
                                td.mono { (d.bucket) "/" (d.key) }
                                td { (d.problem) }
                                td {
                                    @if d.repaired { span.badge.ok { "repaired from the peer" } }
                                    @else { span.badge.bad { "damaged" } " " (d.repair_error.as_deref().unwrap_or("")) }
                                }
                                td { (time(d.found_at_ms)) }
                            }
                        }
                    }
                }
            }
            @if scrub.enabled {
                form.inline method="post" action="/dashboard/zone/scrub" {
                    (csrf(session))
                    button #scrub-now type="submit" { "Scrub now" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    repair: bool,
}

async fn verify(State(s): State<AdminState>, action: Action<VerifyForm>) -> Response {
    let req = VerifyRequest {
        bucket: None,
        repair: action.form.repair,
        paced: false,
    };
    let outcome = s
        .verify
        .start(req)
        .map(|()| "Verify started: reload this page to see its result.".to_string());
    action.done(&s, outcome, "/dashboard#checks")
}

/// The scrub's form carries nothing but its CSRF field.
#[derive(Deserialize)]
struct NoFields {}

async fn scrub(State(s): State<AdminState>, action: Action<NoFields>) -> Response {
    let outcome = if s.config.scrub.bytes_per_second == 0 {
        Err("The scrub is off (scrub.bytes_per_second = 0).")
    } else {
        s.scrub.wake.notify_one();
        Ok("Scrub pass started.".to_string())
    };
    action.done(&s, outcome, "/dashboard#checks")
}
