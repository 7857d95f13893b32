//! The last hour of replication lag, sampled from the zone report (counters, no scan), and
//! drawn as an inline SVG chart.

use super::chart::{Chart, Line};
use super::history::History;
use crate::zone::report::report;
use crate::zone::ZoneService;
use maud::{html, Markup};
use std::sync::Arc;
use std::time::Duration;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const KEEP: usize = 3600 / 5;

#[derive(Clone, Copy)]
pub struct Sample {
    pub at_ms: u64,
    pub entries_pending: u64,
    pub oldest_pending_age_ms: u64,
}

pub type LagHistory = History<Sample, KEEP>;

/// Samples the zone's lag until `stop` turns true.
pub fn spawn(
    zone: Arc<ZoneService>,
    history: Arc<LagHistory>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    super::history::every(SAMPLE_EVERY, stop, move || {
        let r = report(&zone);
        history.record(Sample {
            at_ms: bascule_replication::status::now_ms(),
            entries_pending: r.entries_pending,
            oldest_pending_age_ms: r.oldest_pending_age_ms,
        });
    })
}

/// Entries pending over the last hour, on a time axis spanning the samples present.
pub fn chart(samples: &[Sample], now_ms: u64) -> Markup {
    let worst_age = samples
        .iter()
        .map(|s| s.oldest_pending_age_ms)
        .max()
        .unwrap_or(0);
    let line = Line {
        name: "entries pending".into(),
        points: samples
            .iter()
            .map(|s| (s.at_ms, s.entries_pending as f64))
            .collect(),
    };
    let chart = Chart {
        id: "lag-chart",
        title: "Replication lag, last hour",
        window_ms: KEEP as u64 * SAMPLE_EVERY.as_millis() as u64,
        value: super::chart::count,
    };
    html! {
        (chart.draw(&[line], now_ms))
        p.muted {
            (samples.len()) " samples every " (SAMPLE_EVERY.as_secs()) " s; peak "
            (max_pending(samples)) " entries, oldest pending peak "
            (super::format::duration_ms(worst_age)) "."
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
    fn chart_draws_a_line_once_there_are_two_points() {
        let s = |at_ms, n| Sample {
            at_ms,
            entries_pending: n,
            oldest_pending_age_ms: 0,
        };
        let one = chart(&[s(1000, 3)], 2000).into_string();
        assert!(!one.contains("polyline") && one.contains("circle"), "{one}");
        let two = chart(&[s(1000, 3), s(2000, 0)], 2000).into_string();
        assert!(two.contains("polyline"), "{two}");
        assert!(two.contains("peak 3"), "{two}");
    }
}
