//! `bascule bench`: PUT then GET load at a chosen object size and concurrency, reporting
//! ops/s, MiB/s, latency percentiles and the server's peak RSS. By default it starts its
//! own server (same binary) on a data folder on disk, so every PUT is fsynced as in
//! production; `--endpoint` targets a running zone instead.

use bascule_api::sigv4::{self, PathMode, Scope, SigningKey};
use bytes::Bytes;
use hdrhistogram::Histogram;
use sha2::{Digest, Sha256};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
    /// Sign payloads (SHA-256 in the signature) or send UNSIGNED-PAYLOAD.
    #[arg(long, default_value = "signed", value_parser = ["signed", "unsigned"])]
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
    /// GET ranges of this many bytes at random offsets instead of whole objects (range
    /// reads inside large objects, e.g. `--size 1GiB --range 1MiB`).
    #[arg(long, value_parser = parse_size)]
    range: Option<u64>,
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("bad size {s}"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("bad size unit in {s}")),
    };
    Ok(n * mult)
}

pub struct Target {
    pub endpoint: String,
    pub host: String,
    pub ak: String,
    pub sk: String,
    /// The admin endpoint, when bench started the server itself.
    pub admin: Option<String>,
}

/// Signs a request for the benchmark client (the server verifies with the same rules).
pub fn sign(t: &Target, method: &str, path: &str, payload_hash: &str) -> Vec<(String, String)> {
    sign_query(t, method, path, "", payload_hash)
}

/// Like `sign`, for a request with a query string (given in canonical form: parameters
/// sorted by name, values URI-encoded).
pub fn sign_query(
    t: &Target,
    method: &str,
    path: &str,
    canonical_query: &str,
    payload_hash: &str,
) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc();
    let amz_date = sigv4::format_amz_date(now);
    let scope = Scope {
        access_key: t.ak.clone(),
        date: amz_date[..8].to_string(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let signed = vec![
        "host".to_string(),
        "x-amz-content-sha256".to_string(),
        "x-amz-date".to_string(),
    ];
    let values = [t.host.clone(), payload_hash.to_string(), amz_date.clone()];
    let headers = sigv4::canonical_headers(&signed, |n| {
        let i = signed.iter().position(|s| s == n).unwrap_or(0);
        vec![values[i].as_bytes()]
    });
    let creq = sigv4::canonical_request(
        method,
        &sigv4::canonical_uri(path, PathMode::S3),
        canonical_query,
        &headers,
        &signed,
        payload_hash,
    );
    let sts = sigv4::string_to_sign(&amz_date, &scope, &creq);
    let sig = SigningKey::derive(&t.sk, &scope)
        .map(|k| k.sign(&sts))
        .unwrap_or_default();
    vec![
        ("x-amz-date".into(), amz_date),
        ("x-amz-content-sha256".into(), payload_hash.into()),
        (
            "authorization".into(),
            format!(
                "{} Credential={}/{}, SignedHeaders={}, Signature={sig}",
                sigv4::ALGORITHM,
                t.ak,
                scope.to_scope_string(),
                signed.join(";")
            ),
        ),
    ]
}

/// The object body: one buffer up to 256 MiB; larger sizes repeat a 1 MiB block.
#[derive(Clone)]
pub struct Payload {
    block: Bytes,
    pub size: u64,
    pub sha256: String,
}

impl Payload {
    pub fn new(size: u64, signed: bool) -> Payload {
        let block_len = size.min(256 << 20) as usize;
        let block_len = if size > (256 << 20) {
            1 << 20
        } else {
            block_len
        };
        let block: Bytes = (0..block_len)
            .map(|i| (i * 131 % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let sha256 = if signed {
            let mut h = Sha256::new();
            let mut left = size;
            while left > 0 {
                let n = left.min(block.len() as u64) as usize;
                h.update(&block[..n]);
                left -= n as u64;
            }
            hex::encode(h.finalize())
        } else {
            sigv4::UNSIGNED_PAYLOAD.to_string()
        };
        Payload {
            block,
            size,
            sha256,
        }
    }

    pub fn body(&self) -> reqwest::Body {
        if self.size <= self.block.len() as u64 {
            return reqwest::Body::from(self.block.slice(..self.size as usize));
        }
        let (block, size) = (self.block.clone(), self.size);
        let stream = futures::stream::unfold(0u64, move |sent| {
            let block = block.clone();
            async move {
                if sent >= size {
                    return None;
                }
                let n = (size - sent).min(block.len() as u64) as usize;
                Some((
                    Ok::<Bytes, std::io::Error>(block.slice(..n)),
                    sent + n as u64,
                ))
            }
        });
        reqwest::Body::wrap_stream(stream)
    }
}

pub struct Phase {
    name: &'static str,
    pub ops: u64,
    pub errors: u64,
    bytes: u64,
    pub elapsed: Duration,
    hist: Histogram<u64>,
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
    }
}

pub async fn run_phase(
    name: &'static str,
    t: Arc<Target>,
    load: &Load,
    payload: Payload,
    keys: u64,
) -> Result<Phase, String> {
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
                    for (k, v) in sign(&t, "PUT", &path, &payload.sha256) {
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
    };
    for task in tasks {
        let (o, e, b, h) = task.await.map_err(|e| e.to_string())??;
        phase.ops += o;
        phase.errors += e;
        phase.bytes += b;
        phase.hist.add(h).map_err(|e| e.to_string())?;
    }
    phase.elapsed = start.elapsed();
    Ok(phase)
}

/// Compacts the metadata database through the admin API.
pub async fn compact(target: &Target, data_dir: &std::path::Path) -> Result<(), String> {
    let admin = target.admin.clone().ok_or("no admin endpoint")?;
    let token = std::fs::read_to_string(data_dir.join(crate::bootstrap::TOKEN_FILE))
        .map_err(|e| e.to_string())?;
    let r = reqwest::Client::new()
        .post(format!("{admin}/admin/v1/compact"))
        .bearer_auth(token.trim())
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(format!("compaction: {}", r.status())),
    }
}

/// Creates the bucket `bench` (an existing one is fine).
pub async fn create_bench_bucket(target: &Target) -> Result<(), String> {
    let client = reqwest::Client::new();
    let mut req = client.put(format!("{}/bench", target.endpoint));
    for (k, v) in sign(target, "PUT", "/bench", sigv4::EMPTY_SHA256) {
        req = req.header(k, v);
    }
    req.send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", target.endpoint))?;
    Ok(())
}

/// Sets the `bench` bucket's default encryption (`AES256` or `aws:kms`).
pub async fn encrypt_bench_bucket(target: &Target, algorithm: &str) -> Result<(), String> {
    let doc = format!(
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    );
    let sha = hex::encode(Sha256::digest(doc.as_bytes()));
    let mut req = reqwest::Client::new()
        .put(format!("{}/bench?encryption", target.endpoint))
        .body(doc);
    for (k, v) in sign_query(target, "PUT", "/bench", "encryption=", &sha) {
        req = req.header(k, v);
    }
    let r = req
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", target.endpoint))?;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(format!("bucket encryption: {}", r.status())),
    }
}

/// Peak resident set size of a process, from /proc.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    rss_field(pid, "VmHWM:")
}

/// Current resident set size of a process, from /proc.
pub fn rss_mib(pid: u32) -> Option<f64> {
    rss_field(pid, "VmRSS:")
}

fn rss_field(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

pub struct OwnServer(pub Child);

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_server(data_dir: &PathBuf) -> Result<(OwnServer, Target), String> {
    let _ = std::fs::remove_dir_all(data_dir);
    start_zone_process(
        data_dir,
        &[
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    )
}

/// Starts `bascule serve` on `data_dir` (kept as is) with extra arguments and
/// environment; returns it with its S3 endpoint and the credentials it holds, if any.
pub fn start_zone_process(
    data_dir: &PathBuf,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(OwnServer, Target), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().copied())
        .env("BASCULE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = OwnServer(child);
    let (mut endpoint, mut admin) = (None, None);
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(e) = line.strip_prefix("S3 endpoint: ") {
            endpoint = Some(e.to_string());
        }
        if let Some(e) = line.strip_prefix("Admin endpoint: ") {
            admin = Some(e.to_string());
        }
        if endpoint.is_some() && admin.is_some() {
            break;
        }
    }
    // Keep reading the server's stdout so that it never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let endpoint = endpoint.ok_or("the server did not start")?;
    let creds = std::fs::read_to_string(data_dir.join(crate::bootstrap::CREDENTIALS_FILE))
        .unwrap_or_default();
    let field = |k: &str| {
        creds
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
    };
    let target = Target {
        host: endpoint.trim_start_matches("http://").to_string(),
        endpoint,
        ak: field("aws_access_key_id").unwrap_or_default(),
        sk: field("aws_secret_access_key").unwrap_or_default(),
        admin,
    };
    Ok((server, target))
}

pub async fn run(args: BenchArgs) -> Result<(), String> {
    let (own, target, pid) = match &args.endpoint {
        Some(e) => {
            let t = Target {
                endpoint: e.trim_end_matches('/').to_string(),
                host: e
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string(),
                ak: args.access_key.clone().unwrap_or_default(),
                sk: args.secret_key.clone().unwrap_or_default(),
                admin: None,
            };
            (None, t, args.server_pid)
        }
        None => {
            let (s, t) = start_server(&args.data_dir)?;
            let pid = s.0.id();
            (Some(s), t, Some(pid))
        }
    };
    let target = Arc::new(target);
    create_bench_bucket(&target).await?;
    if args.sse != "none" {
        encrypt_bench_bucket(&target, &args.sse).await?;
    }

    let payload = Payload::new(args.size, args.payload == "signed");
    // Small objects: many distinct keys; large ones: as many keys as requests in flight.
    let keys = if args.size <= (1 << 20) {
        10_000
    } else {
        args.concurrency as u64
    };
    println!(
        "bascule bench: size {} B, concurrency {}, {} s per phase, {} payload, encryption {}, server {}",
        args.size, args.concurrency, args.seconds, args.payload, args.sse, target.endpoint
    );
    let load = Load {
        concurrency: args.concurrency,
        seconds: args.seconds,
        count: args.count,
        prefix: "obj-".into(),
        range: None,
    };
    let put = run_phase("PUT", target.clone(), &load, payload.clone(), keys).await?;
    put.report();
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
        keys.min(put.ops.max(1)),
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("5GiB").unwrap(), 5 << 30);
        assert!(parse_size("4XB").is_err());
    }
}
