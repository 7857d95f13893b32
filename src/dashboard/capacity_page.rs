//! The capacity page: each data directory's filesystem, the zone's totals over the last
//! day and the largest buckets.

use super::capacity::{charts, Point, MAX_BUCKETS};
use super::format::bytes;
use super::layout::{seg, Tab};
use super::{signed_page, Signed};
use crate::admin::state::AdminState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bascule_replication::status::now_ms;
use maud::html;

/// Buckets listed on the page, the largest first.
const LISTED: usize = 20;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/dashboard/capacity", get(show))
}

async fn show(State(s): State<AdminState>, Signed(session): Signed) -> Response {
    let at_ms = now_ms();
    let dirs: Vec<_> = s
        .store
        .directories()
        .into_iter()
        .map(|d| {
            let space = crate::store::blob::disk_space(&d);
            (d, space)
        })
        .collect();
    let mut buckets: Vec<(String, crate::store::Usage)> = s
        .store
        .buckets()
        .unwrap_or_default()
        .into_iter()
        .map(|b| {
            let u = s.store.usage(&b.name).unwrap_or_default();
            (b.name, u)
        })
        .collect();
    let mut now = Point {
        at_ms,
        ..Point::default()
    };
    for (_, u) in &buckets {
        now.objects += u.objects;
        now.bytes += u.bytes;
    }
    let count = buckets.len();
    buckets.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
    buckets.truncate(LISTED);
    let body = html! {
        h1 { "Capacity" }
        section.card {
            h2 { "Data directories" }
            table #directories {
                thead { tr {
                    th { "Directory" } th.num { "Filesystem size" } th.num { "Used" }
                    th.num { "Free" } th { "" }
                } }
                tbody {
                    @for (dir, space) in &dirs {
                        tr {
                            td.mono { (dir.display()) }
                            @match space {
                                Ok((free, size)) => {
                                    @let used = size.saturating_sub(*free);
                                    @let share = used as f64 / (*size).max(1) as f64;
                                    td.num { (bytes(*size)) }
                                    td.num { (bytes(used)) }
                                    td.num { (bytes(*free)) }
                                    td { span.meter.full[share > 0.9] title=(format!("{:.0} % used", share * 100.0)) {
                                        span style=(format!("width: {:.1}%", share * 100.0)) {}
                                    } " " (format!("{:.0} %", share * 100.0)) }
                                }
                                Err(e) => { td colspan="4" { span.badge.bad { "unreadable" } " " (e) } }
                            }
                        }
                    }
                }
            }
            p.muted { "Used and free are the filesystem's (what the store and anything else on it hold); the store refuses writes before a disk fills." }
        }
        section.card #zone-usage {
            h2 { "All buckets" }
            p { (count) " buckets, " (now.objects) " objects, " (bytes(now.bytes)) "." }
            (charts("zone-usage", s.dashboard.usage.zone(), now))
        }
        section.card {
            h2 { "Largest buckets" }
            table #largest {
                thead { tr { th { "Bucket" } th.num { "Objects" } th.num { "Bytes" } } }
                tbody {
                    @for (name, u) in &buckets {
                        tr {
                            td { a.mono href=(format!("/dashboard/buckets/{}", seg(name))) { (name) } }
                            td.num { (u.objects) }
                            td.num { (bytes(u.bytes)) }
                        }
                    }
                }
            }
            @if count > MAX_BUCKETS {
                p.muted { "History is kept for the first " (MAX_BUCKETS) " buckets by name; the totals count all of them." }
            }
        }
    };
    signed_page(&s, &session, Tab::Capacity, "Capacity", body)
}
