//! `bascule-bench versions`: what versioning costs. It starts its own server on a data
//! folder on disk and measures, in one bucket: 4 KiB PUT and GET before versioning is
//! enabled and after; then, with `--keys` keys holding 1 version each and `--keys` keys
//! holding `--versions` versions each, ListObjectsV2 and ListObjectVersions pages of
//! 1000 entries. A listing of current objects must not slow down with old versions.

use crate::client::{create_bench_bucket, sign_query, Payload, Target};
use crate::load::{run_phase, Load};
use crate::server::{compact, start_server};
use bascule_api::sigv4;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct VersionsBenchArgs {
    /// Seconds of each PUT, GET and listing measurement.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Requests in flight for PUT and GET.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Keys in each listing set.
    #[arg(long, default_value_t = 1000)]
    keys: u64,
    /// Versions per key in the many-versions set.
    #[arg(long, default_value_t = 100)]
    versions: u64,
    /// Data folder for the server (wiped first). Keep it on a real disk.
    #[arg(long, default_value = "bench-versions-data")]
    data_dir: PathBuf,
}

async fn enable_versioning(t: &Target) -> Result<(), String> {
    let body = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    let mut req = reqwest::Client::new()
        .put(format!("{}/bench?versioning", t.endpoint))
        .body(body);
    for (k, v) in sign_query(t, "PUT", "/bench", "versioning=", &hash) {
        req = req.header(k, v);
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(format!("enabling versioning: {}", r.status())),
    }
}

/// Lists pages of 1000 under `prefix` for `seconds` (restarting at the top when the
/// listing ends); returns (pages per second, entries per second).
async fn list_rate(
    t: &Target,
    versions: bool,
    prefix: &str,
    seconds: u64,
) -> Result<(f64, f64), String> {
    let client = reqwest::Client::new();
    let (mut pages, mut entries) = (0u64, 0u64);
    let started = Instant::now();
    let mut marker: Option<String> = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        // Canonical order: parameters sorted by name.
        let mut params: Vec<(String, String)> = vec![
            ("max-keys".into(), "1000".into()),
            ("prefix".into(), prefix.into()),
        ];
        if versions {
            params.push(("versions".into(), String::new()));
            if let Some(m) = &marker {
                params.push(("key-marker".into(), m.clone()));
            }
        } else {
            params.push(("list-type".into(), "2".into()));
            if let Some(m) = &marker {
                params.push(("start-after".into(), m.clone()));
            }
        }
        params.sort();
        let query = params
            .iter()
            .map(|(k, v)| format!("{k}={}", bascule_api::encoding::uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = client.get(format!("{}/bench?{query}", t.endpoint));
        for (k, v) in sign_query(t, "GET", "/bench", &query, sigv4::EMPTY_SHA256) {
            req = req.header(k, v);
        }
        let body = req
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let tag = if versions { "<Version>" } else { "<Contents>" };
        entries += body.matches(tag).count() as u64;
        pages += 1;
        let last_key = body
            .rsplit("<Key>")
            .next()
            .and_then(|r| r.split("</Key>").next());
        marker = match body.contains("<IsTruncated>true</IsTruncated>") {
            // Version pages resume after the last key (its remaining versions skipped).
            true => last_key.map(String::from),
            false => None,
        };
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    Ok((pages as f64 / secs, entries as f64 / secs))
}

async fn listings(target: &Target, args: &VersionsBenchArgs, when: &str) -> Result<(), String> {
    let t = args.seconds;
    let n = args.versions;
    println!("listing pages of 1000, {when}:");
    for (name, versions) in [("ListObjectsV2", false), ("ListObjectVersions", true)] {
        let (p1, e1) = list_rate(target, versions, "l1-", t).await?;
        let (pn, en) = list_rate(target, versions, "l100-", t).await?;
        println!("  {name:<18}   1 version/key:  {p1:>7.1} pages/s {e1:>9.0} entries/s");
        println!(
            "  {name:<18} {n:>3} versions/key: {pn:>7.1} pages/s {en:>9.0} entries/s ({:.0} % of 1/key)",
            100.0 * en / e1.max(1e-9)
        );
    }
    Ok(())
}

pub async fn run(args: VersionsBenchArgs) -> Result<(), String> {
    let (own, target) = start_server(&args.data_dir)?;
    let target = Arc::new(target);
    create_bench_bucket(&target).await?;
    let small = Payload::new(4096, true);
    let load = |prefix: &str| Load {
        concurrency: args.concurrency,
        seconds: args.seconds,
        count: None,
        prefix: prefix.into(),
        range: None,
    };
    println!(
        "bascule-bench versions: 4 KiB objects, concurrency {}, {} s per phase",
        args.concurrency, args.seconds
    );
    let put_u = run_phase("PUT", target.clone(), &load("u-"), small.clone(), 10_000).await?;
    print!("unversioned ");
    put_u.report();
    let get_u = run_phase(
        "GET",
        target.clone(),
        &load("u-"),
        small.clone(),
        put_u.ops.clamp(1, 10_000),
    )
    .await?;
    print!("unversioned ");
    get_u.report();
    // The listing sets: one version per key, then many versions per key.
    let fill = |prefix: &str, count: u64| Load {
        concurrency: args.concurrency,
        seconds: u64::MAX / 4,
        count: Some(count),
        prefix: prefix.into(),
        range: None,
    };
    let tiny = Payload::new(100, true);
    run_phase(
        "PUT",
        target.clone(),
        &fill("l1-", args.keys),
        tiny.clone(),
        args.keys,
    )
    .await?;
    enable_versioning(&target).await?;
    let put_v = run_phase("PUT", target.clone(), &load("v-"), small.clone(), 10_000).await?;
    print!("versioned   ");
    put_v.report();
    let get_v = run_phase(
        "GET",
        target.clone(),
        &load("v-"),
        small,
        put_v.ops.clamp(1, 10_000),
    )
    .await?;
    print!("versioned   ");
    get_v.report();
    println!(
        "versioned / unversioned: PUT {:.0} %, GET {:.0} %",
        100.0 * put_v.ops_per_sec() / put_u.ops_per_sec().max(1e-9),
        100.0 * get_v.ops_per_sec() / get_u.ops_per_sec().max(1e-9)
    );
    let many = args.keys * args.versions;
    let filled = run_phase("PUT", target.clone(), &fill("l100-", many), tiny, args.keys).await?;
    if filled.errors > 0 {
        return Err(format!("{} fill requests failed", filled.errors));
    }
    println!(
        "filled {} keys x 1 version and {} keys x {} versions",
        args.keys, args.keys, args.versions
    );
    listings(&target, &args, "just written").await?;
    // Overwrites leave superseded entries in the LSM tree until compaction merges them
    // away (as for any overwrite, versioned or not): the steady state is after it.
    compact(&target, &args.data_dir).await?;
    listings(&target, &args, "after compaction").await?;
    drop(own);
    let _ = std::fs::remove_dir_all(&args.data_dir);
    Ok(())
}
