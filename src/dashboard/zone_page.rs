//! The zone page: role, epoch, peer, lag now and over the last hour, the last error, a
//! resync's progress, divergent writes; promote and switchover behind a confirmation that
//! states what is at risk.

use super::format::{bytes, duration_ms, time};
use super::layout::{csrf, seg, Tab};
use super::{signed_page, Action, Signed};
use crate::admin::state::AdminState;
use crate::zone::report::{report, ZoneReport};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bascule_replication::status::now_ms;
use bascule_replication::zone::Role;
use maud::{html, Markup};
use serde::Deserialize;
use std::time::Duration;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/zone/live", get(live))
        .route(
            "/dashboard/zone/promote",
            get(confirm_promote).post(promote),
        )
        .route(
            "/dashboard/zone/switchover",
            get(confirm_switchover).post(switchover),
        )
        .route("/dashboard/zone/divergent/{id}/data", get(divergent_data))
}

/// Divergent writes listed on the page; the admin API lists them all.
const DIVERGENT_SHOWN: usize = 200;

pub async fn show(State(s): State<AdminState>, Signed(session): Signed) -> Response {
    let r = report(&s.zone);
    let divergent = crate::zone::quarantine::list(&s.store).unwrap_or_default();
    let body = html! {
        h1 { "Zone" }
        section.card #live data-src="/dashboard/zone/live" data-refresh-ms="3000" {
            (live_panel(&s, &r))
        }
        section.card {
            h2 { "Actions" }
            @match (r.role, r.peer.is_some()) {
                (Role::Secondary, _) => p {
                    a #promote href="/dashboard/zone/promote" { "Promote this zone" }
                    " (unplanned failover: the primary is lost) · "
                    a #switchover href="/dashboard/zone/switchover" { "Switch over" }
                    " (planned: the primary hands over, nothing is lost)"
                },
                (Role::Primary, true) => p {
                    a #switchover href="/dashboard/zone/switchover" { "Switch over to the peer" }
                    " (planned: this zone stops writes, the peer catches up and becomes primary)"
                },
                (Role::Primary, false) => p.muted { "A standalone primary: nothing to fail over to." },
            }
        }
        (super::checks_panel::card(&s, &session))
        (super::keys_panel::card(&s, &session))
        section.card {
            h2 { "Divergent writes (" (divergent.len()) ")" }
            @if divergent.is_empty() {
                p.muted { "None: no write was set aside when this zone rejoined." }
            } @else {
                p.muted { "Writes this zone made that the new primary never saw, set aside when it rejoined. Download the data to recover it." }
                table #divergent {
                    thead { tr { th { "ID" } th.num { "Epoch" } th { "Kind" } th { "Object" } th { "Set aside" } th { "" } } }
                    tbody {
                        @for q in divergent.iter().take(DIVERGENT_SHOWN) {
                            tr {
                                td.mono { (q.id) }
                                td.num { (q.epoch) }
                                td { (q.kind) }
                                td.mono {
                                    (q.bucket.as_deref().unwrap_or("-")) "/" (q.key.as_deref().unwrap_or(""))
                                }
                                td { (time(q.quarantined_ms)) }
                                td {
                                    @if q.record.is_some() {
                                        a href=(format!("/dashboard/zone/divergent/{}/data", seg(&q.id))) { "download" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    signed_page(&s, &session, Tab::Zone, "Zone", body)
}

/// The figures that change: refreshed in place every few seconds.
async fn live(State(s): State<AdminState>, Signed(_): Signed) -> Response {
    let r = report(&s.zone);
    super::layout::respond(axum::http::StatusCode::OK, live_panel(&s, &r))
}

fn live_panel(s: &AdminState, r: &ZoneReport) -> Markup {
    let samples = s.dashboard.lag.samples();
    html! {
        dl.facts {
            dt { "Role" }
            dd #role {
                (r.role.as_str())
                @if r.fenced { " " span.badge.bad { "fenced: not taking writes" } }
                @if s.store.zone.writable() { " " span.badge.ok { "takes writes" } }
            }
            dt { "Epoch" } dd #epoch { (r.epoch) }
            dt { "Peer" }
            dd #peer {
                @match &r.peer {
                    Some(p) => {
                        span.mono { (p) } " "
                        @if r.peer_reachable { span.badge.ok { "reachable" } }
                        @else { span.badge.bad { "unreachable" } }
                    }
                    None => span.muted { "none (standalone)" },
                }
            }
            @if r.peer.is_some() {
                dt { "Write lease" }
                dd #lease {
                    @if r.role == bascule_replication::zone::Role::Primary {
                        @if r.lease.rule == "until_first_grant" {
                            span.badge.warn { "not yet granted" } " takes writes until its first lease"
                        } @else if r.lease.held {
                            span.badge.ok { "held" } " " (duration_ms(r.lease.ms_left)) " left"
                        } @else {
                            span.badge.bad { "not held: writes refused" }
                        }
                    } @else {
                        span.muted { "granted to the primary for " (duration_ms(r.lease.promised_ms_left)) " more" }
                    }
                    " (T = " (r.lease.lease_seconds) " s)"
                    @for g in &r.lease.grantors {
                        br;
                        (g.name) " " span.mono { (g.url) } " "
                        @if g.granted { span.badge.ok { "granting" } }
                        @else if g.reachable { span.badge.warn { "answers, not granting" } }
                        @else { span.badge.bad { "unreachable" } }
                        @if let Some(e) = &g.error { " " span.muted { (e) } }
                    }
                    @if let Some(w) = &r.lease.witness {
                        @if r.lease.grantors.is_empty() { br; "witness " span.mono { (w) } }
                    } @else {
                        br; span.muted { "no witness: the peer alone grants the lease" }
                    }
                    @if let (Some(d), Some(at)) = (&r.lease.last_denial, r.lease.last_denial_at_ms) {
                        br; "last denial: " (d) " at " (time(at))
                    }
                }
            }
            dt { "Journal position" } dd { (r.last_seq) " (primary: " (r.primary_last_seq) ")" }
            dt { "Entries pending" } dd #entries-pending { (r.entries_pending) }
            dt { "Bytes pending" } dd #bytes-pending { (bytes(r.bytes_pending)) }
            dt { "Oldest pending" } dd #oldest-pending { (duration_ms(r.oldest_pending_age_ms)) }
            @if let Some(l) = &r.replication.lag_ms {
                dt { "Recent lag" }
                dd { "p50 " (duration_ms(l.p50)) ", p99 " (duration_ms(l.p99)) " (" (l.samples) " entries)" }
            }
            dt { "Last error" }
            dd #last-error {
                @match &r.last_error {
                    Some(e) => {
                        span.badge.bad { (e.attempts) " attempts" } " " (e.message)
                        @if let Some(seq) = e.seq { " (entry " (seq) ")" }
                        " at " (time(e.at_ms))
                    }
                    None => span.muted { "none" },
                }
            }
            @if let Some(resync) = &r.resync {
                dt { "Resync" }
                dd #resync {
                    (resync.stage)
                    @if let Some(b) = &resync.bucket { ", bucket " span.mono { (b) } }
                    @if let Some(k) = &resync.after_key { ", after " span.mono { (k) } }
                    @if let Some(p) = &r.replication.resync { " (" (p) ")" }
                }
            }
            @if let Some(p) = r.promotions.last() {
                dt { "Last promotion" }
                dd { (p.kind) " to epoch " (p.epoch) " after entry " (p.after_seq) ", " (time(p.at_ms)) }
            }
        }
        (super::lag::chart(&samples, now_ms()))
    }
}

/// What a promotion would put at risk, in words (the number `promote` reports too).
fn at_risk_text(at_risk: Option<u64>) -> String {
    match at_risk {
        Some(n) => format!(
            "Entries at risk: at least {n}. The primary has shown {n} entries this zone has not applied, and may have written more; they are not on this zone, and are set aside if the old primary rejoins."
        ),
        None => "Entries at risk: unknown (the primary was never heard from). Whatever it wrote that this zone has not applied is set aside if it rejoins.".into(),
    }
}

#[derive(Deserialize)]
struct Confirm {
    #[serde(default)]
    confirm: String,
}

fn confirm_page(
    s: &AdminState,
    session: &super::session::Session,
    what: &str,
    consequence: &str,
    action: &str,
) -> Response {
    let body = html! {
        h1 { "Confirm: " (what) }
        section.card {
            p #consequence { strong { (consequence) } }
            form method="post" action=(action) {
                (csrf(session))
                p {
                    label for="confirm" { "Type " code { (what) } " to confirm:" } " "
                    input #confirm type="text" name="confirm" required autocomplete="off";
                }
                button.danger #confirm-button type="submit" { (what) } " "
                a href="/dashboard" { "Cancel" }
            }
        }
    };
    signed_page(s, session, Tab::Zone, "Confirm", body)
}

async fn confirm_promote(State(s): State<AdminState>, Signed(session): Signed) -> Response {
    let r = report(&s.zone);
    let mut consequence = at_risk_text(s.zone.entries_at_risk());
    if r.peer_reachable && r.role == Role::Secondary {
        consequence += " The primary is reachable now: a switchover loses nothing.";
    }
    confirm_page(
        &s,
        &session,
        "promote",
        &consequence,
        "/dashboard/zone/promote",
    )
}

async fn promote(State(s): State<AdminState>, action: Action<Confirm>) -> Response {
    if action.form.confirm != "promote" {
        return action.done(
            &s,
            Err("Not promoted: type promote to confirm."),
            "/dashboard",
        );
    }
    let outcome = s
        .zone
        .promote(crate::zone::lease::Promotion::Manual)
        .await
        .map_err(|e| e.to_string())
        .and_then(|p| serde_json::to_value(&p).map_err(|e| e.to_string()))
        .map(|v| crate::admin::zone_text::promotion(&v));
    action.done(&s, outcome, "/dashboard")
}

async fn confirm_switchover(State(s): State<AdminState>, Signed(session): Signed) -> Response {
    let r = report(&s.zone);
    let peer = r.peer.clone().unwrap_or_else(|| "the peer".into());
    let consequence = match r.role {
        Role::Primary => format!(
            "This zone stops taking writes now, waits (up to {} s) until {peer} has applied the {} entries pending, then {peer} becomes primary and this zone follows it. Entries at risk: 0 (writes are refused meanwhile and the switchover is abandoned, writes resuming here, if the peer does not catch up in time).",
            SWITCHOVER_TIMEOUT.as_secs(),
            r.entries_pending
        ),
        Role::Secondary => format!(
            "Asks the primary ({peer}) to hand over: it stops taking writes until this zone has applied everything, then this zone becomes primary. Entries at risk: 0."
        ),
    };
    confirm_page(
        &s,
        &session,
        "switchover",
        &consequence,
        "/dashboard/zone/switchover",
    )
}

/// As long as the admin API's default.
const SWITCHOVER_TIMEOUT: Duration = Duration::from_secs(60);

async fn switchover(State(s): State<AdminState>, action: Action<Confirm>) -> Response {
    if action.form.confirm != "switchover" {
        return action.done(
            &s,
            Err("No switchover: type switchover to confirm."),
            "/dashboard",
        );
    }
    let outcome = s
        .zone
        .switchover(SWITCHOVER_TIMEOUT)
        .await
        .map(|info| {
            format!(
                "Switchover done: {} is now primary (epoch {}); this zone follows it.",
                info.s3_endpoint, info.epoch
            )
        })
        .map_err(|e| e.to_string());
    action.done(&s, outcome, "/dashboard")
}

async fn divergent_data(state: State<AdminState>, Signed(_): Signed, id: Path<String>) -> Response {
    let name = format!(
        "attachment; filename=\"divergent-{}\"",
        id.0.replace('"', "")
    );
    let mut r = crate::admin::zone_api::divergent_data(state, id)
        .await
        .into_response();
    if r.status().is_success() {
        if let Ok(v) = http::HeaderValue::from_str(&name) {
            r.headers_mut().insert(http::header::CONTENT_DISPOSITION, v);
        }
    }
    r
}
