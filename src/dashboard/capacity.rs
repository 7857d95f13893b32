//! Capacity: free and used bytes of each data directory's filesystem, and objects and
//! bytes per bucket over the last day, from the per-bucket counters (one counter read per
//! bucket every few minutes, never a scan of objects).

use super::chart::{self, Chart, Line};
use super::format::bytes;
use super::layout::{seg, Tab};
use super::{signed_page, Signed};
use crate::admin::state::AdminState;
use crate::store::Store;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bascule_replication::status::now_ms;
use maud::{html, Markup};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/dashboard/capacity", get(show))
}

pub const SAMPLE_EVERY: Duration = Duration::from_secs(300);
/// A day of samples.
const KEEP: usize = 24 * 3600 / 300;
const WINDOW_MS: u64 = 24 * 3_600_000;
/// Buckets followed over time (the first by name); memory stays bounded however many
/// buckets a zone holds. The zone's totals count them all.
pub const MAX_BUCKETS: usize = 1000;
/// Buckets listed on the page, the largest first.
const LISTED: usize = 20;

#[derive(Clone, Copy, Default)]
pub struct Point {
    pub at_ms: u64,
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Default)]
pub struct UsageHistory {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    zone: VecDeque<Point>,
    buckets: HashMap<String, VecDeque<Point>>,
}

fn push(q: &mut VecDeque<Point>, p: Point) {
    if q.len() >= KEEP {
        q.pop_front();
    }
    q.push_back(p);
}

impl UsageHistory {
    /// Reads every bucket's counters once.
    pub fn take(&self, store: &Store, at_ms: u64) {
        let Ok(buckets) = store.buckets() else { return };
        let mut total = Point {
            at_ms,
            ..Point::default()
        };
        let mut now = Vec::new();
        for b in &buckets {
            let u = store.usage(&b.name).unwrap_or_default();
            total.objects += u.objects;
            total.bytes += u.bytes;
            now.push((
                b.name.clone(),
                Point {
                    at_ms,
                    objects: u.objects,
                    bytes: u.bytes,
                },
            ));
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        push(&mut inner.zone, total);
        // A deleted bucket's history goes with it.
        let live: std::collections::HashSet<&str> = now.iter().map(|(n, _)| n.as_str()).collect();
        inner.buckets.retain(|name, _| live.contains(name.as_str()));
        for (name, p) in now {
            let tracked = inner.buckets.len();
            match inner.buckets.get_mut(&name) {
                Some(q) => push(q, p),
                None if tracked < MAX_BUCKETS => {
                    inner.buckets.insert(name, VecDeque::from([p]));
                }
                None => {}
            }
        }
    }

    pub fn zone(&self) -> Vec<Point> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.zone.iter().copied().collect()
    }

    pub fn bucket(&self, name: &str) -> Vec<Point> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .buckets
            .get(name)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Samples every bucket's usage until `stop` turns true.
pub fn spawn(
    store: Arc<Store>,
    history: Arc<UsageHistory>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    super::history::every(SAMPLE_EVERY, stop, move || history.take(&store, now_ms()))
}

/// Objects and bytes over the last day: the samples, then the counters as they are now.
pub fn charts(id: &str, mut points: Vec<Point>, now: Point) -> Markup {
    points.push(now);
    let objects = Line {
        name: "objects".into(),
        points: points.iter().map(|p| (p.at_ms, p.objects as f64)).collect(),
    };
    let size = Line {
        name: "bytes".into(),
        points: points.iter().map(|p| (p.at_ms, p.bytes as f64)).collect(),
    };
    let draw = |suffix: &str, title, value, line: Line| {
        Chart {
            id: &format!("{id}-{suffix}"),
            title,
            window_ms: WINDOW_MS,
            value,
        }
        .draw(&[line], now.at_ms)
    };
    html! {
        (draw("bytes", "Bytes stored, last day", chart::byte_size as fn(f64) -> String, size))
        (draw("objects", "Objects, last day", chart::count, objects))
        p.muted { "Read every " (SAMPLE_EVERY.as_secs() / 60) " min since the zone started." }
    }
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
