//! `bascule-bench compare`: the same workloads against two S3 servers, alternating (A B,
//! then B A, ...) so that drift in the machine (page cache, thermal state, other load)
//! falls on both alike; prints each side's median with its spread and the ratio of the
//! medians.
//!
//! Side A is Bascule: the server binary beside this one (`BASCULE_BIN`), started afresh
//! for every round on its own data folder. Side B is either a running endpoint
//! (`--against URL` with its keys: any S3 server, whose bucket `bench` is created if
//! missing) or another Bascule build started the same way (`--against-bin PATH`, for
//! before/after figures).

use crate::client::{create_bench_bucket, parse_size, Payload, Target};
use crate::load::{run_phase, Load, Phase};
use crate::multipart::Multipart;
use crate::server::{server_binary, start_server_from, OwnServer};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A running S3 endpoint to compare with (path-style addressing, SigV4).
    #[arg(long, conflicts_with = "against_bin", requires_all = ["access_key", "secret_key"])]
    against: Option<String>,
    #[arg(long)]
    access_key: Option<String>,
    #[arg(long, hide_env_values = true, env = "BENCH_SECRET_KEY")]
    secret_key: Option<String>,
    /// PID of the `--against` server, for its CPU time per request.
    #[arg(long)]
    against_pid: Option<u32>,
    /// Another Bascule binary to compare with (say, an older commit's build).
    #[arg(long)]
    against_bin: Option<PathBuf>,
    /// Workloads as SIZE:CONNECTIONS, or SIZE/PART:CONNECTIONS for multipart uploads
    /// (parts of PART, CONNECTIONS in flight), comma-separated.
    #[arg(long, default_value = "4KiB:16,64MiB:2", value_delimiter = ',')]
    workloads: Vec<String>,
    /// Rounds per workload: each round runs both sides once, in alternating order.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per phase (PUT, then GET).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Sign payloads hashing every request's body as SDKs do (`signed-each`), sign them
    /// with a hash computed once (`signed`: the client costs less), or send
    /// UNSIGNED-PAYLOAD.
    #[arg(long, default_value = "signed-each", value_parser = ["signed", "signed-each", "unsigned"])]
    payload: String,
    /// Where the started servers keep their data (wiped before every round). Keep it on
    /// a real disk.
    #[arg(long, default_value = "bench-compare-data")]
    data_dir: PathBuf,
}

/// One side of the comparison.
enum Side {
    /// A Bascule binary, started afresh for each round.
    Binary(PathBuf),
    /// A running endpoint, shared by every round (keys differ per round).
    Running(Arc<Target>),
}

impl Side {
    fn label(&self) -> String {
        match self {
            Side::Binary(p) => p.display().to_string(),
            Side::Running(t) => t.endpoint.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Workload {
    size: u64,
    /// Multipart uploads in parts of this size.
    part_size: Option<u64>,
    connections: usize,
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    let (size, conns) = s
        .split_once(':')
        .ok_or_else(|| format!("workload {s}: expected SIZE:CONNECTIONS"))?;
    let connections: usize = conns
        .parse()
        .map_err(|_| format!("workload {s}: bad connection count"))?;
    if connections == 0 {
        return Err(format!("workload {s}: at least one connection"));
    }
    let (size, part_size) = match size.split_once('/') {
        Some((size, part)) => (size, Some(parse_size(part)?)),
        None => (size, None),
    };
    Ok(Workload {
        size: parse_size(size)?,
        part_size,
        connections,
    })
}

/// What one round measured on one side.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    put_ops: f64,
    put_mib: f64,
    put_cpu_us: Option<f64>,
    get_ops: f64,
    get_mib: f64,
    get_cpu_us: Option<f64>,
    errors: u64,
}

pub async fn run(args: CompareArgs) -> Result<(), String> {
    let a = Side::Binary(server_binary()?);
    let b = match (&args.against, &args.against_bin) {
        (Some(url), _) => Side::Running(Arc::new(Target::running(
            url,
            args.access_key.as_deref().unwrap_or_default(),
            args.secret_key.as_deref().unwrap_or_default(),
            args.against_pid,
        ))),
        (None, Some(bin)) => Side::Binary(bin.clone()),
        (None, None) => return Err("give --against URL or --against-bin PATH".into()),
    };
    let workloads = args
        .workloads
        .iter()
        .map(|w| parse_workload(w))
        .collect::<Result<Vec<_>, _>>()?;
    println!("A: {}\nB: {}", a.label(), b.label());
    println!(
        "{} rounds per workload, alternating, {} s per phase, {} payload",
        args.rounds, args.seconds, args.payload
    );
    for w in workloads {
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            let first_a = round % 2 == 0;
            for on_a in [first_a, !first_a] {
                let side = if on_a { &a } else { &b };
                let s = measure(side, w, round, &args).await?;
                if on_a {
                    sa.push(s);
                } else {
                    sb.push(s);
                }
            }
        }
        print_table(w, &sa, &sb);
    }
    let _ = std::fs::remove_dir_all(&args.data_dir);
    Ok(())
}

/// One round of one workload on one side: PUT for `seconds`, then GET what was written.
async fn measure(
    side: &Side,
    w: Workload,
    round: usize,
    args: &CompareArgs,
) -> Result<Sample, String> {
    let (_own, target): (Option<OwnServer>, Arc<Target>) = match side {
        Side::Binary(bin) => {
            let (own, t) = start_server_from(bin, &args.data_dir)?;
            (Some(own), Arc::new(t))
        }
        Side::Running(t) => (None, t.clone()),
    };
    create_bench_bucket(&target).await?;
    let payload = Payload::named(w.size, &args.payload);
    let keys = if w.size <= (1 << 20) {
        10_000
    } else {
        w.connections as u64
    };
    let load = Load {
        concurrency: w.connections,
        seconds: args.seconds,
        count: None,
        prefix: format!("cmp-{round}-"),
        range: None,
    };
    if let Some(part_size) = w.part_size {
        let mp = Multipart {
            size: w.size,
            part_size,
            connections: w.connections,
        };
        let up = crate::multipart::run(
            target.clone(),
            mp,
            args.seconds,
            &args.payload,
            &load.prefix,
        )
        .await?;
        let get = run_phase("GET", target, &load, payload, up.objects.max(1)).await?;
        let secs = up.elapsed.as_secs_f64().max(1e-9);
        return Ok(Sample {
            put_ops: up.objects as f64 / secs,
            put_mib: up.mib_per_sec(),
            put_cpu_us: up.cpu_seconds.map(|c| c * 1e6 / up.objects.max(1) as f64),
            ..sample_get(&get, up.errors)
        });
    }
    let put = run_phase("PUT", target.clone(), &load, payload.clone(), keys).await?;
    let get = run_phase("GET", target, &load, payload, keys.min(put.ops.max(1))).await?;
    Ok(Sample {
        put_ops: put.ops_per_sec(),
        put_mib: put.mib_per_sec(),
        put_cpu_us: put.cpu_us_per_op(),
        ..sample_get(&get, put.errors)
    })
}

fn sample_get(get: &Phase, put_errors: u64) -> Sample {
    Sample {
        get_ops: get.ops_per_sec(),
        get_mib: get.mib_per_sec(),
        get_cpu_us: get.cpu_us_per_op(),
        errors: put_errors + get.errors,
        ..Sample::default()
    }
}

/// The median and the range of `values` (empty: zeros).
fn median_and_spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn print_table(w: Workload, a: &[Sample], b: &[Sample]) {
    let size = human_size(w.size);
    match w.part_size {
        Some(p) => println!(
            "\n{size} multipart uploads in {} parts, {} connections",
            human_size(p),
            w.connections
        ),
        None => println!("\n{size} at {} connections", w.connections),
    }
    println!(
        "{:<16} {:>24} {:>24} {:>8}",
        "", "A median (min–max)", "B median (min–max)", "A / B"
    );
    type Metric = fn(&Sample) -> Option<f64>;
    let large = w.size > (1 << 20);
    let rows: [(&str, Metric); 4] = if large {
        [
            ("PUT MiB/s", |s| Some(s.put_mib)),
            ("GET MiB/s", |s| Some(s.get_mib)),
            ("PUT CPU µs/req", |s| s.put_cpu_us),
            ("GET CPU µs/req", |s| s.get_cpu_us),
        ]
    } else {
        [
            ("PUT req/s", |s| Some(s.put_ops)),
            ("GET req/s", |s| Some(s.get_ops)),
            ("PUT CPU µs/req", |s| s.put_cpu_us),
            ("GET CPU µs/req", |s| s.get_cpu_us),
        ]
    };
    for (name, metric) in rows {
        let va: Vec<f64> = a.iter().filter_map(metric).collect();
        let vb: Vec<f64> = b.iter().filter_map(metric).collect();
        if va.is_empty() && vb.is_empty() {
            continue;
        }
        let cell = |v: &[f64]| {
            if v.is_empty() {
                return "n/a".to_string();
            }
            let (m, lo, hi) = median_and_spread(v.to_vec());
            format!("{m:.1} ({lo:.1}–{hi:.1})")
        };
        let ratio = match (va.is_empty(), vb.is_empty()) {
            (false, false) => {
                let (ma, mb) = (
                    median_and_spread(va.clone()).0,
                    median_and_spread(vb.clone()).0,
                );
                if mb > 0.0 {
                    format!("{:.2}×", ma / mb)
                } else {
                    "–".into()
                }
            }
            _ => "–".into(),
        };
        println!("{name:<16} {:>24} {:>24} {ratio:>8}", cell(&va), cell(&vb));
    }
    let (ea, eb): (u64, u64) = (
        a.iter().map(|s| s.errors).sum(),
        b.iter().map(|s| s.errors).sum(),
    );
    if ea + eb > 0 {
        println!("errors: A {ea}, B {eb}");
    }
}

fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_and_medians() {
        assert_eq!(
            parse_workload("64MiB:2").unwrap(),
            Workload {
                size: 64 << 20,
                part_size: None,
                connections: 2
            }
        );
        assert_eq!(
            parse_workload("256MiB/8MiB:4").unwrap(),
            Workload {
                size: 256 << 20,
                part_size: Some(8 << 20),
                connections: 4
            }
        );
        assert!(parse_workload("64MiB").is_err());
        assert!(parse_workload("4KiB:0").is_err());
        assert_eq!(median_and_spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(median_and_spread(vec![4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(human_size(4096), "4 KiB");
    }
}
