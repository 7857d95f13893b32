//! What replication is doing right now, for `zone status`, the admin API and `/metrics`.
//! Kept in memory; the durable facts (cursor, role, epoch) live in the store.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Debug, Clone, Default, Serialize)]
pub struct LastError {
    pub at_ms: u64,
    /// The journal entry being applied, if the failure concerns one.
    pub seq: Option<u64>,
    pub message: String,
    /// Consecutive failed attempts so far (retries continue with backoff).
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicationStatus {
    /// Whether the last call to the peer succeeded.
    pub peer_reachable: bool,
    /// What the peer last said about itself.
    pub peer: Option<crate::protocol::ZoneInfo>,
    pub last_contact_ms: Option<u64>,
    /// The primary's last journal sequence number, as last seen.
    pub primary_last_seq: u64,
    /// Entries seen on the primary and not yet applied here.
    pub entries_pending: u64,
    /// Object bytes those entries carry (of the entries seen so far).
    pub bytes_pending: u64,
    /// Commit time (on the primary) of the oldest entry not yet applied here.
    pub oldest_pending_at_ms: Option<u64>,
    pub entries_applied: u64,
    /// Object bytes fetched from the peer since this process started.
    pub bytes_fetched: u64,
    /// Entries whose object data the primary had already replaced or deleted when it was
    /// fetched; a later entry carries the newer state. Listed, never silently dropped.
    pub superseded: Vec<u64>,
    /// Offset a segment fetch resumed from, the last time one resumed.
    pub last_resume: Option<ResumeInfo>,
    pub last_error: Option<LastError>,
    /// Full resync progress, when one runs.
    pub resync: Option<String>,
    pub resyncs_completed: u64,
    /// Replication lag of recently applied entries (apply time minus commit time on the
    /// primary), milliseconds, newest last.
    #[serde(skip)]
    pub recent_lag_ms: VecDeque<u64>,
    /// Percentiles of `recent_lag_ms`.
    pub lag_ms: Option<LagPercentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LagPercentiles {
    pub samples: usize,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Lag samples kept for percentiles.
const LAG_WINDOW: usize = 20_000;

impl ReplicationStatus {
    pub fn record_lag(&mut self, ms: u64) {
        if self.recent_lag_ms.len() == LAG_WINDOW {
            self.recent_lag_ms.pop_front();
        }
        self.recent_lag_ms.push_back(ms);
    }

    pub fn lag_percentiles(&self) -> Option<LagPercentiles> {
        let mut v: Vec<u64> = self.recent_lag_ms.iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Some(LagPercentiles {
            samples: v.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResumeInfo {
    pub segment: String,
    pub offset: u64,
    pub size: u64,
}

/// Shared, lock-protected status.
#[derive(Default)]
pub struct StatusCell(Mutex<ReplicationStatus>);

impl StatusCell {
    /// A copy for reporting (percentiles computed, raw samples left out).
    pub fn get(&self) -> ReplicationStatus {
        self.update(|s| {
            let samples = std::mem::take(&mut s.recent_lag_ms);
            let mut out = s.clone();
            s.recent_lag_ms = samples;
            out.lag_ms = s.lag_percentiles();
            out
        })
    }

    /// Forgets the lag samples (benchmarks measure one phase at a time).
    pub fn reset_lag(&self) {
        self.update(|s| s.recent_lag_ms.clear());
    }

    pub fn update<T>(&self, f: impl FnOnce(&mut ReplicationStatus) -> T) -> T {
        match self.0.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn error(&self, seq: Option<u64>, message: String) {
        self.update(|s| {
            let attempts = match &s.last_error {
                Some(e) if e.seq == seq => e.attempts + 1,
                _ => 1,
            };
            s.last_error = Some(LastError {
                at_ms: now_ms(),
                seq,
                message,
                attempts,
            });
        });
    }
}

impl StatusCell {
    /// A step succeeded: the error it outdates is cleared, so alerts on it stop. That is
    /// an error without a sequence number (the link or a whole round failed, and this one
    /// went through) and, when `applied` names an entry just applied, an error about that
    /// entry or an earlier one.
    pub fn succeeded(&self, applied: Option<u64>) {
        self.update(|s| {
            let outdated = s
                .last_error
                .as_ref()
                .is_some_and(|e| match (e.seq, applied) {
                    (None, _) => true,
                    (Some(seq), Some(a)) => seq <= a,
                    (Some(_), None) => false,
                });
            if outdated {
                s.last_error = None;
            }
        });
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_percentiles_and_repeated_errors() {
        let cell = StatusCell::default();
        cell.update(|s| {
            for ms in 1..=100 {
                s.record_lag(ms);
            }
        });
        let lag = cell.get().lag_ms.unwrap();
        assert_eq!((lag.samples, lag.p50, lag.p99, lag.max), (100, 51, 99, 100));
        // Raw samples stay in the cell, not in reports.
        assert!(cell.get().recent_lag_ms.is_empty());
        cell.error(Some(7), "boom".into());
        cell.error(Some(7), "bang".into());
        let e = cell.get().last_error.unwrap();
        assert_eq!((e.attempts, e.message.as_str()), (2, "bang"));
        cell.error(Some(8), "boom".into());
        assert_eq!(cell.get().last_error.unwrap().attempts, 1);
        // A round that succeeds does not clear an entry's error; applying it does.
        cell.succeeded(None);
        assert!(cell.get().last_error.is_some());
        cell.succeeded(Some(7));
        assert!(cell.get().last_error.is_some());
        cell.succeeded(Some(8));
        assert!(cell.get().last_error.is_none());
        // An error without a sequence number (the peer was unreachable) clears on the next
        // success of any kind.
        cell.error(None, "connection refused".into());
        cell.error(None, "connection refused".into());
        assert_eq!(cell.get().last_error.unwrap().attempts, 2);
        cell.succeeded(None);
        assert!(cell.get().last_error.is_none());
        cell.error(None, "connection refused".into());
        cell.succeeded(Some(1));
        assert!(cell.get().last_error.is_none());
    }
}
