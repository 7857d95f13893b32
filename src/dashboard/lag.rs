//! The last hour of replication lag, sampled from the zone report (counters, no scan), and
//! drawn as an inline SVG chart.

use crate::zone::report::report;
use crate::zone::ZoneService;
use maud::{html, Markup};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const KEEP: usize = 3600 / 5;

#[derive(Clone, Copy)]
pub struct Sample {
    pub at_ms: u64,
    pub entries_pending: u64,
    pub oldest_pending_age_ms: u64,
}

#[derive(Default)]
pub struct LagHistory {
    samples: Mutex<VecDeque<Sample>>,
}

impl LagHistory {
    pub fn record(&self, s: Sample) {
        let mut q = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= KEEP {
            q.pop_front();
        }
        q.push_back(s);
    }

    pub fn samples(&self) -> Vec<Sample> {
        let q = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().copied().collect()
    }
}

/// Samples the zone's lag until `stop` turns true.
pub fn spawn(
    zone: Arc<ZoneService>,
    history: Arc<LagHistory>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let r = report(&zone);
                    history.record(Sample {
                        at_ms: bascule_replication::status::now_ms(),
                        entries_pending: r.entries_pending,
                        oldest_pending_age_ms: r.oldest_pending_age_ms,
                    });
                }
                _ = stop.changed() => return,
            }
        }
    })
}

/// Entries pending over the last hour, as a polyline scaled to its highest point.
pub fn chart(samples: &[Sample], now_ms: u64) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 120.0;
    let hour_ms = 3_600_000.0;
    let max = samples
        .iter()
        .map(|s| s.entries_pending)
        .max()
        .unwrap_or(0)
        .max(1);
    let points: Vec<String> = samples
        .iter()
        .map(|s| {
            let age = now_ms.saturating_sub(s.at_ms) as f64;
            let x = (W * (1.0 - age / hour_ms)).clamp(0.0, W);
            let y = H - H * s.entries_pending as f64 / max as f64;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let worst_age = samples
        .iter()
        .map(|s| s.oldest_pending_age_ms)
        .max()
        .unwrap_or(0);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {H}")) preserveAspectRatio="none" role="img"
                aria-label="entries pending over the last hour" {
                line x1="0" y1=(H) x2=(W) y2=(H) class="axis" {}
                @if points.len() > 1 {
                    polyline class="lag" points=(points.join(" ")) {}
                }
            }
            figcaption {
                "Entries pending, last hour (" (samples.len()) " samples every "
                (SAMPLE_EVERY.as_secs()) " s; peak " (max_pending(samples)) ", oldest pending peak "
                (super::format::duration_ms(worst_age)) ")."
            }
        }
    }
}

fn max_pending(samples: &[Sample]) -> u64 {
    samples.iter().map(|s| s.entries_pending).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_one_hour() {
        let h = LagHistory::default();
        for i in 0..(KEEP as u64 + 10) {
            h.record(Sample {
                at_ms: i,
                entries_pending: i,
                oldest_pending_age_ms: 0,
            });
        }
        let s = h.samples();
        assert_eq!(s.len(), KEEP);
        assert_eq!(s[0].at_ms, 10);
    }

    #[test]
    fn chart_draws_a_line_once_there_are_two_points() {
        let s = |at_ms, n| Sample {
            at_ms,
            entries_pending: n,
            oldest_pending_age_ms: 0,
        };
        let one = chart(&[s(1000, 3)], 2000).into_string();
        assert!(!one.contains("polyline"));
        let two = chart(&[s(1000, 3), s(2000, 0)], 2000).into_string();
        assert!(two.contains("polyline"), "{two}");
        assert!(two.contains("peak 3"), "{two}");
    }
}
