//! Line charts over time, as inline SVG: a time axis (UTC clock labels) spanning the data
//! present (up to a window), a value axis scaled to the highest point, one line per
//! series with a legend. Every chart of the dashboard is drawn here.

use maud::{html, Markup};

/// One series: points are (milliseconds since the epoch, value).
pub struct Line {
    pub name: String,
    pub points: Vec<(u64, f64)>,
}

/// What a chart shows and how its values read.
pub struct Chart<'a> {
    /// The element id (tests and links find the chart by it).
    pub id: &'a str,
    pub title: &'a str,
    /// The longest stretch of time shown, ending now.
    pub window_ms: u64,
    pub value: fn(f64) -> String,
}

const W: f64 = 760.0;
const H: f64 = 170.0;
/// The plot area inside the picture (room for the axes' labels).
const LEFT: f64 = 64.0;
const RIGHT: f64 = 752.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 140.0;
/// Shortest time span drawn, so a zone that just started still has an axis.
const MIN_SPAN_MS: u64 = 60_000;
/// Series colours, by position (CSS classes `s0`..`s5`).
const SERIES: usize = 6;

impl Chart<'_> {
    pub fn draw(&self, lines: &[Line], now_ms: u64) -> Markup {
        let first = lines
            .iter()
            .filter_map(|l| l.points.first().map(|p| p.0))
            .min()
            .unwrap_or(now_ms);
        let span = now_ms
            .saturating_sub(first)
            .clamp(MIN_SPAN_MS, self.window_ms.max(MIN_SPAN_MS));
        let start = now_ms.saturating_sub(span);
        let top = lines
            .iter()
            .flat_map(|l| l.points.iter().filter(|p| p.0 >= start).map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let ceiling = nice_ceiling(top);
        let x = |at: u64| LEFT + (RIGHT - LEFT) * (at.saturating_sub(start) as f64 / span as f64);
        let y = |v: f64| BOTTOM - (BOTTOM - TOP) * (v.max(0.0) / ceiling).min(1.0);
        let step = tick_step(span);
        let ticks: Vec<u64> = ((start / step + 1) * step..=now_ms)
            .step_by(step as usize)
            .collect();
        let clock = |at: u64| clock_label(at, step);
        html! {
            figure.chart id=(self.id) {
                svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(self.title) {
                    // Value axis: 0, half and the top, with guide lines.
                    @for frac in [0.0, 0.5, 1.0] {
                        @let v = ceiling * frac;
                        line.grid x1=(LEFT) x2=(RIGHT) y1=(fmt(y(v))) y2=(fmt(y(v))) {}
                        text.value x=(LEFT - 6.0) y=(fmt(y(v) + 4.0)) text-anchor="end" { ((self.value)(v)) }
                    }
                    line.axis x1=(LEFT) x2=(RIGHT) y1=(BOTTOM) y2=(BOTTOM) {}
                    line.axis x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(BOTTOM) {}
                    @for t in &ticks {
                        line.axis x1=(fmt(x(*t))) x2=(fmt(x(*t))) y1=(BOTTOM) y2=(BOTTOM + 4.0) {}
                        text.time x=(fmt(x(*t))) y=(BOTTOM + 18.0) text-anchor="middle" { (clock(*t)) }
                    }
                    text.time x=(RIGHT) y=(H - 2.0) text-anchor="end" { "UTC" }
                    @for (i, l) in lines.iter().enumerate() {
                        @let pts: Vec<String> = l.points.iter()
                            .filter(|p| p.0 >= start && p.1.is_finite())
                            .map(|p| format!("{},{}", fmt(x(p.0)), fmt(y(p.1))))
                            .collect();
                        @if pts.len() > 1 {
                            polyline class=(format!("line s{}", i % SERIES)) points=(pts.join(" ")) {}
                        } @else if let Some(p) = pts.first() {
                            @let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                            circle class=(format!("dot s{}", i % SERIES)) cx=(px) cy=(py) r="3" {}
                        }
                    }
                }
                figcaption {
                    strong { (self.title) } " "
                    @for (i, l) in lines.iter().enumerate() {
                        span.legend { span class=(format!("swatch s{}", i % SERIES)) {} (l.name) }
                    }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for an empty chart).
pub fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * mag)
}

/// A tick every so often, so a span gets between two and six of them.
fn tick_step(span_ms: u64) -> u64 {
    const STEPS: [u64; 12] = [
        10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
        7_200_000, 14_400_000, 21_600_000,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span_ms / s <= 6)
        .unwrap_or(43_200_000)
}

/// `HH:MM` (or `HH:MM:SS` for ticks under a minute apart), UTC.
fn clock_label(at_ms: u64, step_ms: u64) -> String {
    let secs = (at_ms / 1000) % 86_400;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if step_ms < 60_000 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// Values as counts with a unit suffix (`1.5k`).
pub fn count(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v if v >= 10.0 || v.fract() == 0.0 => format!("{v:.0}"),
        v => format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
    }
}

/// Values as a rate per second.
pub fn per_second(v: f64) -> String {
    format!("{}/s", count(v))
}

/// Values in bytes (binary units).
pub fn byte_size(v: f64) -> String {
    super::format::bytes(v.max(0.0) as u64)
}

/// Values in bytes per second.
pub fn byte_rate(v: f64) -> String {
    format!("{}/s", byte_size(v))
}

/// Values in seconds, shown in milliseconds below one second.
pub fn seconds(v: f64) -> String {
    match v {
        v if v <= 0.0 => "0".into(),
        v if v < 0.01 => format!("{} ms", count(v * 1000.0)),
        v if v < 1.0 => format!("{:.0} ms", v * 1000.0),
        v => format!("{v:.1} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
        assert!((nice_ceiling(0.03) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn the_time_axis_spans_the_data_present() {
        let now = 10 * 3_600_000;
        let chart = Chart {
            id: "c",
            title: "t",
            window_ms: 3_600_000,
            value: count,
        };
        // Two minutes of data: ticks every 30 s with seconds shown, not an hour's axis.
        let short = Line {
            name: "a".into(),
            points: vec![(now - 120_000, 1.0), (now, 4.0)],
        };
        let svg = chart.draw(&[short], now).into_string();
        assert!(svg.contains("09:58:30"), "{svg}");
        assert!(svg.contains(">5<"), "value axis up to 5: {svg}");
        // Data older than the window is cut off; labels are clock minutes.
        let long = Line {
            name: "a".into(),
            points: vec![(now - 7_200_000, 100.0), (now - 1_800_000, 2.0), (now, 3.0)],
        };
        let svg = chart.draw(&[long], now).into_string();
        assert!(svg.contains(">09:10<"), "{svg}");
        assert!(!svg.contains("08:"), "{svg}");
        // No data: still an axis, and nothing drawn.
        let empty = chart.draw(&[], now).into_string();
        assert!(
            !empty.contains("polyline") && empty.contains("UTC"),
            "{empty}"
        );
    }
}
