//! `bascule`: an S3-compatible object store with zone replication and failover.

mod admin;
mod bootstrap;
mod config;
mod crypt;
mod dashboard;
mod http_server;
mod lifecycle;
mod request_metrics;
mod s3;
mod server;
mod store;
mod tls;
mod walker;
mod witness;
mod zone;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "bascule",
    version,
    about = "S3-compatible object store with zone replication and failover"
)]
struct Cli {
    /// Log lines as text (colours only on a terminal) or as JSON objects, one per line.
    /// Each S3 request is logged at info level (target `bascule::access`).
    #[arg(
        long,
        global = true,
        env = "BASCULE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a zone (with no options: a primary zone on ./bascule-data, S3 on 127.0.0.1:9000).
    Serve {
        /// TOML configuration file.
        #[arg(long, env = "BASCULE_CONFIG")]
        config: Option<PathBuf>,
        /// Data folder: metadata in <data-dir>/meta, blobs in <data-dir>/data.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address of the S3 listener (default 127.0.0.1:9000).
        #[arg(long)]
        s3_listen: Option<SocketAddr>,
        /// Address of the admin listener: admin API, zone link, health, metrics
        /// (default 127.0.0.1:9001).
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Domain for virtual-host-style requests (`<bucket>.<domain>`).
        #[arg(long)]
        domain: Option<String>,
        /// Role of a new zone (a promoted or switched-over zone keeps its own).
        #[arg(long, value_enum)]
        role: Option<config::Role>,
        /// The peer zone's admin endpoint (replication link).
        #[arg(long)]
        peer: Option<String>,
        /// Take writes as primary without first checking the peer (after a restart).
        /// Dangerous if the peer was promoted meanwhile: the zones would diverge.
        #[arg(long)]
        force_primary: bool,
    },
    /// Drive a zone's admin API: users, keys, buckets, journal.
    Admin(admin::cli::AdminArgs),
    /// Run the witness of a zone pair (a third site): grants the write lease to one zone
    /// at a time and agrees to promotions.
    Witness(witness::WitnessArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BASCULE_LOG")
        .unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            logs.with_ansi(std::io::stderr().is_terminal()).init()
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                config,
                data_dir,
                s3_listen,
                admin_listen,
                domain,
                role,
                peer,
                force_primary,
            } => {
                let mut cfg = config::Config::load(config.as_deref()).map_err(|e| e.to_string())?;
                if let Some(d) = data_dir {
                    cfg.data_dir = d;
                }
                if let Some(a) = s3_listen {
                    cfg.s3_listen = a;
                }
                if let Some(a) = admin_listen {
                    cfg.admin_listen = a;
                }
                if let Some(d) = domain {
                    cfg.domain = Some(d);
                }
                if let Some(r) = role {
                    cfg.zone.role = r;
                }
                if let Some(p) = peer {
                    cfg.zone.peer = Some(p);
                }
                server::run(cfg, server::ServeOptions { force_primary }).await
            }
            Command::Admin(args) => admin::cli::run(args).await,
            Command::Witness(args) => witness::run(args).await,
        }
    });
    // Tasks still parked end here, and with them the last handles on the store, so the
    // database closes before the process exits.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
