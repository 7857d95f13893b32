//! The traffic page: requests, errors, latency and bytes over the last hour, from the
//! samples `traffic` keeps.

use super::chart::{self, Chart, Line};
use super::layout::Tab;
use super::traffic::{by_operation, line, rate_of, SAMPLE_EVERY};
use super::{signed_page, Signed};
use crate::admin::state::AdminState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bascule_replication::status::now_ms;
use maud::html;

const WINDOW_MS: u64 = 3_600_000;
/// Operations drawn one line each (the busiest); the table lists them all.
const LINES: usize = 4;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/dashboard/traffic", get(show))
}

async fn show(State(s): State<AdminState>, Signed(session): Signed) -> Response {
    let samples = s.dashboard.traffic.samples();
    let now = now_ms();
    let ops = by_operation(&samples);
    let seconds: f64 = samples.iter().map(|s| s.seconds).sum();
    let mut requests = vec![line("all", &samples, |x| Some(rate_of(x, "", false)))];
    requests.extend(
        ops.iter()
            .take(LINES)
            .map(|(name, _, _)| line(name, &samples, |x| Some(rate_of(x, name, false)))),
    );
    let mut errors = vec![line("all", &samples, |x| Some(rate_of(x, "", true)))];
    errors.extend(
        ops.iter()
            .filter(|o| o.2 > 0)
            .take(LINES)
            .map(|(name, _, _)| line(name, &samples, |x| Some(rate_of(x, name, true)))),
    );
    let latency = [
        line("p50", &samples, |x| x.p50),
        line("p99", &samples, |x| x.p99),
    ];
    let bytes = [
        line("in", &samples, |x| Some(x.bytes_in as f64 / x.seconds)),
        line("out", &samples, |x| Some(x.bytes_out as f64 / x.seconds)),
    ];
    let draw = |id, title, value, lines: &[Line]| {
        Chart {
            id,
            title,
            window_ms: WINDOW_MS,
            value,
        }
        .draw(lines, now)
    };
    let body = html! {
        h1 { "Traffic" }
        section.card {
            p.muted {
                "S3 requests answered by this zone over the last hour, from its request counters (those "
                code { "/metrics" } " exports), read every " (SAMPLE_EVERY.as_secs()) " s: "
                (samples.len()) " readings so far."
            }
            (draw("requests-chart", "Requests per second", chart::per_second as fn(f64) -> String, &requests))
            (draw("errors-chart", "Errors per second (4xx and 5xx answers)", chart::per_second, &errors))
            (draw("latency-chart", "Latency to the response head", chart::seconds, &latency))
            (draw("bytes-chart", "Bytes per second", chart::byte_rate, &bytes))
        }
        section.card {
            h2 { "By operation, last hour" }
            table #operations {
                thead { tr {
                    th { "Operation" } th.num { "Requests" } th.num { "Per second" }
                    th.num { "Errors" } th.num { "Error share" }
                } }
                tbody {
                    @for (name, r, e) in &ops {
                        tr {
                            td.mono { (name) }
                            td.num { (r) }
                            td.num { (chart::count(*r as f64 / seconds.max(1.0))) }
                            td.num { (e) }
                            td.num { (format!("{:.1} %", 100.0 * *e as f64 / (*r).max(1) as f64)) }
                        }
                    }
                }
            }
            @if ops.is_empty() { p.muted { "No S3 requests yet." } }
        }
    };
    signed_page(&s, &session, Tab::Traffic, "Traffic", body)
}
