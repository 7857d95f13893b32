//! `bascule-bench replication`: starts a primary and a secondary zone (same binary, data
//! on disk, fsync on), drives a steady PUT rate at the primary, and reports
//! 1. replication lag percentiles (apply time on the secondary minus commit time on the
//!    primary, for every entry) during steady ingest;
//! 2. catch-up: the secondary is stopped for a while under the same ingest, restarted, and
//!    timed until it has applied everything (ingest continues meanwhile);
//! 3. with `--verify-objects N`: a cross-zone verify of N identical objects (time, and how
//!    much metadata crossed the zone link).

use crate::client::{create_bench_bucket, parse_size, sign, Payload, Target};
use crate::load::{run_phase, Load};
use crate::server::{admin_token, start_zone_process, OwnServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ReplicationBenchArgs {
    /// PUTs per second sent to the primary.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Object size.
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    size: u64,
    /// Seconds of steady ingest for the lag measurement.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds the secondary stays down (ingest continues) before the catch-up.
    #[arg(long, default_value_t = 600)]
    down_seconds: u64,
    /// Folder for both zones' data (wiped first). Keep it on a real disk.
    #[arg(long, default_value = "bench-replication-data")]
    data_dir: PathBuf,
    /// Then fill this many 100-byte objects, let the secondary catch up, and time a
    /// cross-zone verify of the two zones (0: skip).
    #[arg(long, default_value_t = 0)]
    verify_objects: u64,
}

struct Zone {
    process: Option<OwnServer>,
    admin: String,
    token: String,
    args: Vec<String>,
    dir: PathBuf,
    secret: String,
}

impl Zone {
    fn start(&mut self) -> Result<Target, String> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let (p, t) = start_zone_process(
            &self.dir,
            &args,
            &[("BASCULE_REPLICATION_SECRET", self.secret.as_str())],
        )?;
        self.process = Some(p);
        self.token = admin_token(&self.dir)?;
        Ok(t)
    }

    fn stop(&mut self) {
        self.process = None;
    }

    async fn report(&self, http: &reqwest::Client) -> Result<Value, String> {
        http.get(format!("{}/admin/v1/zone", self.admin))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn zone(dir: &Path, role: &str, s3: u16, admin: u16, peer: u16, secret: &str) -> Zone {
    Zone {
        process: None,
        admin: format!("http://127.0.0.1:{admin}"),
        token: String::new(),
        args: vec![
            "--s3-listen".into(),
            format!("127.0.0.1:{s3}"),
            "--admin-listen".into(),
            format!("127.0.0.1:{admin}"),
            "--role".into(),
            role.into(),
            "--peer".into(),
            format!("http://127.0.0.1:{peer}"),
        ],
        dir: dir.to_path_buf(),
        secret: secret.into(),
    }
}

/// PUTs at a steady rate (open loop) until `until` passes. Returns (acknowledged, failed).
async fn ingest(
    t: Arc<Target>,
    payload: Payload,
    rate: u64,
    until: Instant,
    next_key: Arc<AtomicU64>,
) -> (u64, u64) {
    let http = reqwest::Client::new();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while Instant::now() < until {
        tick.tick().await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let n = next_key.fetch_add(1, Ordering::Relaxed);
        let (http, t, payload, ok, failed) = (
            http.clone(),
            t.clone(),
            payload.clone(),
            ok.clone(),
            failed.clone(),
        );
        tokio::spawn(async move {
            let path = format!("/repl/obj-{n:09}");
            let mut req = http
                .put(format!("{}{path}", t.endpoint))
                .body(payload.body())
                .header("content-length", payload.size);
            for (k, v) in sign(&t, "PUT", &path, &payload.sha256) {
                req = req.header(k, v);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                _ => failed.fetch_add(1, Ordering::Relaxed),
            };
            drop(permit);
        });
    }
    // Let the last requests finish.
    let _ = in_flight.acquire_many(256).await;
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

/// Waits until the secondary has applied `target`; returns when it did.
async fn applied(
    http: &reqwest::Client,
    z: &Zone,
    target: u64,
    limit: Duration,
) -> Result<Instant, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = z.report(http).await {
            if r["last_seq"].as_u64().unwrap_or(0) >= target {
                return Ok(Instant::now());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("the secondary did not reach {target} in {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(args: ReplicationBenchArgs) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(&args.data_dir);
    let secret = hex::encode(rand::random::<[u8; 16]>());
    let (a_s3, a_admin, b_s3, b_admin) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let mut a = zone(
        &args.data_dir.join("a"),
        "primary",
        a_s3,
        a_admin,
        b_admin,
        &secret,
    );
    let mut b = zone(
        &args.data_dir.join("b"),
        "secondary",
        b_s3,
        b_admin,
        a_admin,
        &secret,
    );
    let target = Arc::new(a.start()?);
    b.start()?;
    let http = reqwest::Client::new();
    let mut req = http.put(format!("{}/repl", target.endpoint));
    for (k, v) in sign(&target, "PUT", "/repl", bascule_api::sigv4::EMPTY_SHA256) {
        req = req.header(k, v);
    }
    req.send().await.map_err(|e| e.to_string())?;
    let payload = Payload::new(args.size, true);
    let keys = Arc::new(AtomicU64::new(0));
    println!(
        "bascule-bench replication: {} PUT/s of {} B, {} s steady, secondary down {} s",
        args.rate, args.size, args.seconds, args.down_seconds
    );

    // 1. Lag under steady ingest.
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let (ok, failed) = ingest(
        target.clone(),
        payload.clone(),
        args.rate,
        until,
        keys.clone(),
    )
    .await;
    let last = a.report(&http).await?["last_seq"].as_u64().unwrap_or(0);
    applied(&http, &b, last, Duration::from_secs(120)).await?;
    let lag = b.report(&http).await?["replication"]["lag_ms"].clone();
    println!(
        "steady: {ok} PUTs acknowledged ({failed} failed), {:.1} PUT/s",
        ok as f64 / args.seconds.max(1) as f64
    );
    println!(
        "lag (ms): p50 {} p90 {} p99 {} max {} over {} entries",
        lag["p50"], lag["p90"], lag["p99"], lag["max"], lag["samples"]
    );

    // 2. Catch-up after the secondary was down.
    if args.down_seconds > 0 {
        b.stop();
        let until = Instant::now() + Duration::from_secs(args.down_seconds);
        let (ok, _) = ingest(
            target.clone(),
            payload.clone(),
            args.rate,
            until,
            keys.clone(),
        )
        .await;
        let backlog_to = a.report(&http).await?["last_seq"].as_u64().unwrap_or(0);
        let b_start = {
            // The secondary's cursor as it restarts.
            b.start()?;
            b.report(&http).await?["last_seq"].as_u64().unwrap_or(0)
        };
        let started = Instant::now();
        // Ingest goes on while the secondary catches up; it must overtake it.
        let keep = tokio::spawn(ingest(
            target.clone(),
            payload.clone(),
            args.rate,
            Instant::now() + Duration::from_secs(3600),
            keys.clone(),
        ));
        let backlog = backlog_to.saturating_sub(b_start);
        let caught = applied(&http, &b, backlog_to, Duration::from_secs(3600)).await?;
        let secs = caught.duration_since(started).as_secs_f64().max(1e-3);
        keep.abort();
        println!(
            "catch-up: {ok} PUTs while down; backlog of {backlog} entries applied in {secs:.1} s = {:.0} entries/s ({:.1}x the ingest rate)",
            backlog as f64 / secs,
            backlog as f64 / secs / args.rate.max(1) as f64
        );
    }
    if args.verify_objects > 0 {
        verify_identical(&http, &target, &a, &b, args.verify_objects).await?;
    }
    a.stop();
    b.stop();
    let _ = std::fs::remove_dir_all(&args.data_dir);
    Ok(())
}

/// Fills `objects` objects, waits for the secondary, and times a verify run there.
async fn verify_identical(
    http: &reqwest::Client,
    target: &Arc<Target>,
    a: &Zone,
    b: &Zone,
    objects: u64,
) -> Result<(), String> {
    create_bench_bucket(target).await?;
    let fill = Load {
        concurrency: 32,
        seconds: u64::MAX / 4,
        count: Some(objects),
        prefix: "verify-".into(),
        range: None,
    };
    let filled = run_phase(
        "PUT",
        target.clone(),
        &fill,
        Payload::new(100, true),
        objects,
    )
    .await?;
    print!("verify: filled {objects} objects: ");
    filled.report();
    let last = a.report(http).await?["last_seq"].as_u64().unwrap_or(0);
    applied(http, b, last, Duration::from_secs(3600)).await?;
    let started = Instant::now();
    let post = http
        .post(format!("{}/admin/v1/zone/verify", b.admin))
        .bearer_auth(&b.token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if post.status().as_u16() != 202 {
        return Err(format!("verify not started: {}", post.status()));
    }
    let r = verify_result(http, b).await?;
    let secs = started.elapsed().as_secs_f64();
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let keys = n("keys").max(1);
    let moved = n("ranges") + n("key_digests_moved") + n("records_moved");
    println!(
        "verify: {} keys in {secs:.1} s ({:.0} keys/s); crossed the zone link: {} range summaries, {} key digests, {} records = {:.3} % of the keys; differences {}; error {}",
        n("keys"),
        keys as f64 / secs.max(1e-3),
        n("ranges"),
        n("key_digests_moved"),
        n("records_moved"),
        100.0 * moved as f64 / keys as f64,
        r["missing"]["count"].as_u64().unwrap_or(0)
            + r["extra"]["count"].as_u64().unwrap_or(0)
            + r["different"]["count"].as_u64().unwrap_or(0),
        r["error"]
    );
    Ok(())
}

/// Waits for the verify running on `z` to end; returns its report.
async fn verify_result(http: &reqwest::Client, z: &Zone) -> Result<Value, String> {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let state: Value = http
            .get(format!("{}/admin/v1/zone/verify", z.admin))
            .bearer_auth(&z.token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if state["running"] == false {
            return Ok(state["last"].clone());
        }
    }
}
