//! `bascule-bench load`: PUT then GET load at a chosen object size and concurrency,
//! reporting ops/s, MiB/s, latency percentiles and the server's peak RSS. By default it
//! starts its own server on a data folder on disk, so every PUT is fsynced as in
//! production; `--endpoint` targets a running server instead (Bascule or any S3 server).

use crate::client::{create_bench_bucket, encrypt_bench_bucket, parse_size, sign, Payload, Target};
use crate::server::{cpu_seconds, peak_rss_mib, start_server};
use bascule_api::sigv4;
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Object size, e.g. 4KiB, 64MiB, 5GiB.
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    size: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per phase (PUT, then GET).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Stop a phase after this many requests (whichever comes first).
    #[arg(long)]
    count: Option<u64>,
    /// Sign payloads (SHA-256 in the signature, computed once), sign them hashing every
    /// request's body as SDKs do (`signed-each`), or send UNSIGNED-PAYLOAD.
    #[arg(long, default_value = "signed", value_parser = ["signed", "signed-each", "unsigned"])]
    payload: String,
    /// Target a running zone instead of starting one.
    #[arg(long, requires_all = ["access_key", "secret_key"])]
    endpoint: Option<String>,
    #[arg(long)]
    access_key: Option<String>,
    #[arg(long, hide_env_values = true)]
    secret_key: Option<String>,
    /// PID of the server for peak-RSS reporting (set automatically when bench starts it).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Data folder for the server bench starts (wiped first). Keep it on a real disk.
    #[arg(long, default_value = "bench-data")]
    data_dir: PathBuf,
    /// Encrypt at rest: the bench bucket's default encryption (AES256 is SSE-S3, aws:kms
    /// the zone key through the key service), to compare with plaintext in one run.
    #[arg(long, value_parser = ["none", "AES256", "aws:kms"], default_value = "none")]
    sse: String,
    /// Write objects as multipart uploads in parts of this size (parts sent over
    /// `--concurrency` requests in flight, one object at a time, as the aws CLI does).
    #[arg(long, value_parser = parse_size)]
    part_size: Option<u64>,
    /// GET ranges of this many bytes at random offsets instead of whole objects (range
    /// reads inside large objects, e.g. `--size 1GiB --range 1MiB`).
    #[arg(long, value_parser = parse_size)]
    range: Option<u64>,
}

pub struct Phase {
    name: &'static str,
    pub ops: u64,
    pub errors: u64,
    bytes: u64,
    pub elapsed: Duration,
    hist: Histogram<u64>,
    /// The server's CPU seconds (user + system) during the phase, when its process is
    /// known.
    pub cpu_seconds: Option<f64>,
}

/// How one phase loads the server: requests in flight, how long, how many at most, and
/// under which key prefix (`<prefix><n>` in bucket `bench`).
pub struct Load {
    pub concurrency: usize,
    pub seconds: u64,
    pub count: Option<u64>,
    pub prefix: String,
    /// GETs read this many bytes at a random offset (None: whole objects).
    pub range: Option<u64>,
}

impl Phase {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / (1 << 20) as f64
    }

    /// The server's CPU microseconds per successful request, when known.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        self.cpu_seconds.map(|c| c * 1e6 / self.ops.max(1) as f64)
    }

    pub fn report(&self) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let ms = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<4} {:>8} ops {:>6} err {:>10.1} ops/s {:>9.1} MiB/s  p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
            self.name,
            self.ops,
            self.errors,
            self.ops as f64 / secs,
            self.bytes as f64 / secs / (1 << 20) as f64,
            ms(0.5),
            ms(0.9),
            ms(0.99),
            self.hist.max() as f64 / 1000.0
        );
        if let Some(us) = self.cpu_us_per_op() {
            println!("     server CPU {us:.1} µs per request");
        }
    }
}

pub async fn run_phase(
    name: &'static str,
    t: Arc<Target>,
    load: &Load,
    payload: Payload,
    keys: u64,
) -> Result<Phase, String> {
    let cpu_before = t.pid.and_then(cpu_seconds);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.concurrency * 2)
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(load.seconds);
    let limit = load.count.unwrap_or(u64::MAX);
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..load.concurrency {
        let (client, t, payload, issued) =
            (client.clone(), t.clone(), payload.clone(), issued.clone());
        let prefix = load.prefix.clone();
        let range = load.range.filter(|r| *r > 0 && *r <= payload.size);
        tasks.push(tokio::spawn(async move {
            let mut hist =
                Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
            let (mut ops, mut errors, mut bytes) = (0u64, 0u64, 0u64);
            while Instant::now() < deadline {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= limit {
                    break;
                }
                let path = format!("/bench/{prefix}{}", n % keys.max(1));
                let began = Instant::now();
                let ok = if name == "PUT" {
                    let mut req = client
                        .put(format!("{}{path}", t.endpoint))
                        .body(payload.body());
                    let sha256 = payload.sha256_for_request().await;
                    for (k, v) in sign(&t, "PUT", &path, &sha256) {
                        req = req.header(k, v);
                    }
                    req = req.header("content-length", payload.size);
                    match req.send().await {
                        Ok(r) => r.status().is_success(),
                        Err(_) => false,
                    }
                } else {
                    let mut req = client.get(format!("{}{path}", t.endpoint));
                    for (k, v) in sign(&t, "GET", &path, sigv4::EMPTY_SHA256) {
                        req = req.header(k, v);
                    }
                    let want = match range {
                        Some(len) => {
                            let at = rand::random::<u64>() % (payload.size - len + 1);
                            req = req.header("range", format!("bytes={at}-{}", at + len - 1));
                            len
                        }
                        None => payload.size,
                    };
                    match req.send().await {
                        Ok(mut r) if r.status().is_success() => {
                            let mut got = 0u64;
                            while let Ok(Some(chunk)) = r.chunk().await {
                                got += chunk.len() as u64;
                            }
                            got == want
                        }
                        _ => false,
                    }
                };
                let _ = hist.record(began.elapsed().as_micros().max(1) as u64);
                if ok {
                    ops += 1;
                    bytes += match (name, range) {
                        ("GET", Some(len)) => len,
                        _ => payload.size,
                    };
                } else {
                    errors += 1;
                }
            }
            Ok::<_, String>((ops, errors, bytes, hist))
        }));
    }
    let mut phase = Phase {
        name,
        ops: 0,
        errors: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new(3).map_err(|e| e.to_string())?,
        cpu_seconds: None,
    };
    for task in tasks {
        let (o, e, b, h) = task.await.map_err(|e| e.to_string())??;
        phase.ops += o;
        phase.errors += e;
        phase.bytes += b;
        phase.hist.add(h).map_err(|e| e.to_string())?;
    }
    phase.elapsed = start.elapsed();
    phase.cpu_seconds = match (cpu_before, t.pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(phase)
}

pub async fn run(args: BenchArgs) -> Result<(), String> {
    let (own, target) = match &args.endpoint {
        Some(e) => {
            let t = Target::running(
                e,
                args.access_key.as_deref().unwrap_or_default(),
                args.secret_key.as_deref().unwrap_or_default(),
                args.server_pid,
            );
            (None, t)
        }
        None => {
            let (s, t) = start_server(&args.data_dir)?;
            (Some(s), t)
        }
    };
    let pid = target.pid;
    let target = Arc::new(target);
    create_bench_bucket(&target).await?;
    if args.sse != "none" {
        encrypt_bench_bucket(&target, &args.sse).await?;
    }

    let payload = Payload::named(args.size, &args.payload);
    // Small objects: many distinct keys; large ones: as many keys as requests in flight.
    let keys = if args.size <= (1 << 20) {
        10_000
    } else {
        args.concurrency as u64
    };
    println!(
        "bascule-bench load: size {} B, concurrency {}, {} s per phase, {} payload, encryption {}, server {}",
        args.size, args.concurrency, args.seconds, args.payload, args.sse, target.endpoint
    );
    let load = Load {
        concurrency: args.concurrency,
        seconds: args.seconds,
        count: args.count,
        prefix: "obj-".into(),
        range: None,
    };
    let written = match args.part_size {
        Some(part_size) => {
            let w = crate::multipart::Multipart {
                size: args.size,
                part_size,
                connections: args.concurrency,
            };
            let up = crate::multipart::run(target.clone(), w, args.seconds, &args.payload, "obj-")
                .await?;
            up.report();
            up.objects
        }
        None => {
            let put = run_phase("PUT", target.clone(), &load, payload.clone(), keys).await?;
            put.report();
            put.ops
        }
    };
    // A range run writes few large objects (`--count`) and then reads for `--seconds`.
    let get_load = Load {
        range: args.range,
        count: if args.range.is_some() {
            None
        } else {
            load.count
        },
        ..load
    };
    if let Some(r) = args.range {
        println!("GET reads ranges of {r} B at random offsets");
    }
    let get = run_phase(
        "GET",
        target.clone(),
        &get_load,
        payload,
        keys.min(written.max(1)),
    )
    .await?;
    get.report();
    if let Some(rss) = pid.and_then(peak_rss_mib) {
        println!("server peak RSS: {rss:.1} MiB");
    }
    drop(own);
    if args.endpoint.is_none() {
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    Ok(())
}
