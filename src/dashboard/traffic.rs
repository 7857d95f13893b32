//! Traffic history: S3 requests and errors per second by operation, latency p50/p99 and
//! bytes in and out over the last hour, from differences of the zone's own request
//! counters (the ones `/metrics` exports) sampled every few seconds.

use super::chart::Line;
use super::history::History;
use crate::request_metrics::{Totals, LATENCY_BOUNDS, REQUESTS};
use bascule_replication::status::now_ms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const KEEP: usize = 3600 / 10;

/// What happened between two readings of the counters.
#[derive(Clone)]
pub struct Sample {
    pub at_ms: u64,
    pub seconds: f64,
    /// Operation, requests, errors; operations with none left out.
    pub operations: Vec<(&'static str, u64, u64)>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Default)]
pub struct TrafficHistory {
    samples: History<Sample, KEEP>,
    last: Mutex<Option<(u64, Totals)>>,
}

impl TrafficHistory {
    /// Reads the counters and records what changed since the last reading.
    pub fn take(&self, now: u64, totals: Totals) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((then, before)) = last.as_ref() {
            self.samples.record(difference(*then, before, now, &totals));
        }
        *last = Some((now, totals));
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.samples()
    }
}

fn difference(then: u64, before: &Totals, now: u64, after: &Totals) -> Sample {
    let earlier: HashMap<&str, (u64, u64)> = before
        .operations
        .iter()
        .map(|(n, r, e)| (*n, (*r, *e)))
        .collect();
    let operations = after
        .operations
        .iter()
        .filter_map(|(name, r, e)| {
            let (r0, e0) = earlier.get(name).copied().unwrap_or((0, 0));
            let d = (r.saturating_sub(r0), e.saturating_sub(e0));
            (d.0 > 0).then_some((*name, d.0, d.1))
        })
        .collect();
    let latency: Vec<u64> = after
        .latency
        .iter()
        .zip(before.latency.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    Sample {
        at_ms: now,
        seconds: (now.saturating_sub(then) as f64 / 1000.0).max(0.001),
        operations,
        p50: quantile(&latency, 0.5),
        p99: quantile(&latency, 0.99),
        bytes_in: after.bytes_in.saturating_sub(before.bytes_in),
        bytes_out: after.bytes_out.saturating_sub(before.bytes_out),
    }
}

/// The `q` quantile of requests counted in cumulative histogram buckets (the last slot
/// holding every request), interpolated inside its bucket as Prometheus's
/// `histogram_quantile` does; `None` without requests.
pub fn quantile(cumulative: &[u64], q: f64) -> Option<f64> {
    let total = *cumulative.last()?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &count) in cumulative.iter().enumerate() {
        if count as f64 >= rank {
            let Some(upper) = LATENCY_BOUNDS.get(i) else {
                // Slower than the last bound: all that can be said is "at least".
                return LATENCY_BOUNDS.last().copied();
            };
            let lower = if i == 0 { 0.0 } else { LATENCY_BOUNDS[i - 1] };
            let inside = count.saturating_sub(below).max(1) as f64;
            return Some(lower + (upper - lower) * (rank - below as f64) / inside);
        }
        below = count;
    }
    LATENCY_BOUNDS.last().copied()
}

/// Samples the request counters until `stop` turns true.
pub fn spawn(
    history: Arc<TrafficHistory>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    super::history::every(SAMPLE_EVERY, stop, move || {
        history.take(now_ms(), REQUESTS.totals())
    })
}

/// Each operation's requests and errors over the samples, busiest first.
pub fn by_operation(samples: &[Sample]) -> Vec<(&'static str, u64, u64)> {
    let mut sums: HashMap<&'static str, (u64, u64)> = HashMap::new();
    for s in samples {
        for (name, r, e) in &s.operations {
            let t = sums.entry(name).or_default();
            t.0 += r;
            t.1 += e;
        }
    }
    let mut rows: Vec<_> = sums.into_iter().map(|(n, (r, e))| (n, r, e)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    rows
}

pub fn line(name: &str, samples: &[Sample], value: impl Fn(&Sample) -> Option<f64>) -> Line {
    Line {
        name: name.to_string(),
        points: samples
            .iter()
            .filter_map(|s| value(s).map(|v| (s.at_ms, v)))
            .collect(),
    }
}

pub fn rate_of(s: &Sample, name: &str, errors: bool) -> f64 {
    let n: u64 = s
        .operations
        .iter()
        .filter(|o| name.is_empty() || o.0 == name)
        .map(|o| if errors { o.2 } else { o.1 })
        .sum();
    n as f64 / s.seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(ops: &[(&'static str, u64, u64)], latency: Vec<u64>, bytes: u64) -> Totals {
        Totals {
            operations: ops.to_vec(),
            latency,
            bytes_in: bytes,
            bytes_out: 2 * bytes,
        }
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let mut cumulative = vec![0u64; LATENCY_BOUNDS.len() + 1];
        assert_eq!(quantile(&cumulative, 0.5), None);
        // 100 requests, all between 1 ms and 2.5 ms.
        for c in cumulative.iter_mut().skip(2) {
            *c = 100;
        }
        let p50 = quantile(&cumulative, 0.5).unwrap_or_default();
        assert!((p50 - 0.00175).abs() < 1e-9, "{p50}");
        // One request slower than the last bound: p99 of two is "at least 30 s".
        let mut slow = vec![1u64; LATENCY_BOUNDS.len()];
        slow.push(2);
        assert_eq!(quantile(&slow, 0.99), Some(30.0));
    }

    #[test]
    fn samples_are_differences_per_operation() {
        let h = TrafficHistory::default();
        let lat = |n| {
            let mut v = vec![n; LATENCY_BOUNDS.len()];
            v.push(n);
            v
        };
        h.take(1_000, totals(&[("GetObject", 10, 1)], lat(10), 100));
        assert!(h.samples().is_empty(), "one reading is no interval");
        h.take(
            11_000,
            totals(&[("GetObject", 30, 1), ("PutObject", 5, 5)], lat(35), 1100),
        );
        let s = h.samples();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].operations,
            vec![("GetObject", 20, 0), ("PutObject", 5, 5)]
        );
        assert_eq!((s[0].bytes_in, s[0].bytes_out), (1000, 2000));
        assert!((rate_of(&s[0], "", false) - 2.5).abs() < 1e-9);
        assert!((rate_of(&s[0], "PutObject", true) - 0.5).abs() < 1e-9);
        assert_eq!(
            by_operation(&s),
            vec![("GetObject", 20, 0), ("PutObject", 5, 5)]
        );
    }
}
