//! Capacity history: objects and bytes per bucket over the last day, from the per-bucket
//! counters (one counter read per bucket every few minutes, never a scan of objects).

use super::chart::{self, Chart, Line};
use crate::store::Store;
use bascule_replication::status::now_ms;
use maud::{html, Markup};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(300);
/// A day of samples.
const KEEP: usize = 24 * 3600 / 300;
const WINDOW_MS: u64 = 24 * 3_600_000;
/// Buckets followed over time (the first by name); memory stays bounded however many
/// buckets a zone holds. The zone's totals count them all.
pub const MAX_BUCKETS: usize = 1000;

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
