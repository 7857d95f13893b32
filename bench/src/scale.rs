//! `bascule-bench scale`: what a zone costs once it holds many objects. It starts its own
//! server on a data folder on disk, measures the 4 KiB PUT rate on the empty store, fills
//! `--objects` objects of `--object-size` bytes, compacts, and reports: bytes on disk per
//! object, restart time to the first answered request, RSS after the restart, the admin
//! bucket listing and `/metrics` scrape times, and the 4 KiB PUT rate on the full store.

use crate::client::{create_bench_bucket, parse_size, Payload, Target};
use crate::load::{run_phase, Load};
use crate::server::{admin_token, compact, rss_mib, start_zone_process, OwnServer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ScaleBenchArgs {
    /// Objects to fill the store with.
    #[arg(long, default_value_t = 1_000_000)]
    objects: u64,
    /// Size of each filled object.
    #[arg(long, default_value = "100", value_parser = parse_size)]
    object_size: u64,
    /// Requests in flight while filling and measuring.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of each 4 KiB PUT measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Data folder for the server (wiped first). Keep it on a real disk.
    #[arg(long, default_value = "bench-scale-data")]
    data_dir: PathBuf,
    /// Keep the data folder afterwards.
    #[arg(long)]
    keep: bool,
}

fn du(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += du(&e.path()),
                // Allocated blocks, not apparent size: what the disk really holds.
                Ok(m) => total += m.blocks() * 512,
                Err(_) => {}
            }
        }
    }
    total
}

/// Times one GET on the admin listener (with the admin token), in milliseconds.
async fn timed_admin_get(
    client: &reqwest::Client,
    admin: &str,
    token: &str,
    path: &str,
) -> Result<f64, String> {
    let started = Instant::now();
    let r = client
        .get(format!("{admin}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("{path}: {}", r.status()));
    }
    r.bytes().await.map_err(|e| e.to_string())?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// Starts the server and waits for its first answered S3 request; returns the time taken.
async fn start_and_answer(dir: &Path) -> Result<(OwnServer, Arc<Target>, Duration), String> {
    let started = Instant::now();
    let (srv, target) = start_zone_process(
        dir,
        &[
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    )?;
    let target = Arc::new(target);
    loop {
        if create_bench_bucket(&target).await.is_ok() {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("the server did not answer".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((srv, target, started.elapsed()))
}

fn stop(mut srv: OwnServer) -> Result<(), String> {
    let child = &mut srv.0;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cannot signal the server".into());
    }
    let ended = child.wait().map_err(|e| e.to_string())?;
    if !ended.success() {
        return Err(format!("the server ended with {ended}"));
    }
    Ok(())
}

pub async fn run(args: ScaleBenchArgs) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(&args.data_dir);
    let (srv, target, _) = start_and_answer(&args.data_dir).await?;
    let small = Payload::new(4096, true);
    let measure = |prefix: &str| Load {
        concurrency: 16,
        seconds: args.seconds,
        count: None,
        prefix: prefix.to_string(),
        range: None,
    };
    let empty = run_phase(
        "PUT",
        target.clone(),
        &measure("empty-"),
        small.clone(),
        10_000,
    )
    .await?;
    print!("4 KiB PUT, empty store:  ");
    empty.report();

    let fill = Load {
        concurrency: args.concurrency,
        seconds: u64::MAX / 4,
        count: Some(args.objects),
        prefix: "fill-".into(),
        range: None,
    };
    let filled = run_phase(
        "PUT",
        target.clone(),
        &fill,
        Payload::new(args.object_size, true),
        args.objects,
    )
    .await?;
    print!("fill {} x {} B:  ", args.objects, args.object_size);
    filled.report();
    if filled.errors > 0 {
        return Err(format!("{} fill requests failed", filled.errors));
    }

    compact(&target, &args.data_dir).await?;
    stop(srv)?;
    let objects_total = args.objects;
    let bytes = du(&args.data_dir);
    println!(
        "on disk after compaction: {:.1} MiB, {:.0} bytes per object ({} objects)",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / objects_total as f64,
        objects_total
    );

    let (srv, target, restart) = start_and_answer(&args.data_dir).await?;
    let pid = srv.0.id();
    println!(
        "restart to first answered request: {:.0} ms",
        restart.as_secs_f64() * 1000.0
    );
    if let Some(rss) = rss_mib(pid) {
        println!("RSS after restart: {rss:.1} MiB");
    }
    let admin = target.admin.clone().ok_or("no admin endpoint")?;
    let token = admin_token(&args.data_dir)?;
    let client = reqwest::Client::new();
    let mut buckets = Vec::new();
    let mut metrics = Vec::new();
    for _ in 0..5 {
        buckets.push(timed_admin_get(&client, &admin, &token, "/admin/v1/buckets").await?);
        metrics.push(timed_admin_get(&client, &admin, &token, "/metrics").await?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "admin bucket listing: {:.2} ms (median of 5); /metrics scrape: {:.2} ms",
        median(&mut buckets),
        median(&mut metrics)
    );
    let full = run_phase("PUT", target.clone(), &measure("full-"), small, 10_000).await?;
    print!("4 KiB PUT, full store:   ");
    full.report();
    println!(
        "full / empty PUT rate: {:.0} %",
        100.0 * full.ops_per_sec() / empty.ops_per_sec().max(1e-9)
    );
    if let Some(rss) = rss_mib(pid) {
        println!("RSS at the end: {rss:.1} MiB");
    }
    stop(srv)?;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&args.data_dir);
    }
    Ok(())
}
