//! Starting `bascule serve` for a benchmark (the server binary sits next to this one, or
//! is given with `--bascule`), and reading what a running server reports about itself.

use crate::client::Target;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What `bascule serve` writes into its data folder at first start.
pub const TOKEN_FILE: &str = "admin.token";
pub const CREDENTIALS_FILE: &str = "credentials";

/// The admin token of a zone whose data folder is `data_dir`.
pub fn admin_token(data_dir: &Path) -> Result<String, String> {
    std::fs::read_to_string(data_dir.join(TOKEN_FILE))
        .map(|t| t.trim().to_string())
        .map_err(|e| format!("{}: {e}", data_dir.join(TOKEN_FILE).display()))
}

/// The server binary: `BASCULE_BIN`, else `bascule` beside this binary (where cargo
/// builds both).
pub fn server_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BASCULE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let beside = me.with_file_name("bascule");
    if beside.exists() {
        return Ok(beside);
    }
    Err(format!(
        "no server binary at {} (build it with `cargo build --release --workspace`, or set BASCULE_BIN)",
        beside.display()
    ))
}

/// Compacts the metadata database through the admin API.
pub async fn compact(target: &Target, data_dir: &std::path::Path) -> Result<(), String> {
    let admin = target.admin.clone().ok_or("no admin endpoint")?;
    let token = admin_token(data_dir)?;
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

/// Peak resident set size of a process, from /proc.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    rss_field(pid, "VmHWM:")
}

/// Current resident set size of a process, from /proc.
pub fn rss_mib(pid: u32) -> Option<f64> {
    rss_field(pid, "VmRSS:")
}

/// CPU seconds (user + system) a process has used so far, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((utime + stime) as f64 / ticks.max(1) as f64)
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

/// Starts the server binary on a fresh `data_dir` (wiped first), on free ports.
pub fn start_server(data_dir: &Path) -> Result<(OwnServer, Target), String> {
    start_server_from(&server_binary()?, data_dir)
}

/// Like `start_server`, with the server binary `exe` (another build, to compare with).
pub fn start_server_from(exe: &Path, data_dir: &Path) -> Result<(OwnServer, Target), String> {
    let _ = std::fs::remove_dir_all(data_dir);
    start_process(
        exe,
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
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(OwnServer, Target), String> {
    start_process(&server_binary()?, data_dir, args, env)
}

fn start_process(
    exe: &Path,
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(OwnServer, Target), String> {
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
    let creds = std::fs::read_to_string(data_dir.join(CREDENTIALS_FILE)).unwrap_or_default();
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
        pid: Some(server.0.id()),
    };
    Ok((server, target))
}
