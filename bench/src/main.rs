//! `bascule-bench`: the load generator for Bascule, kept out of the server binary. Each
//! workload starts its own server (the `bascule` binary beside this one, or
//! `BASCULE_BIN`) on a data folder on disk with fsync on, unless it is pointed at a
//! running endpoint; `compare` runs the same workloads, alternating, against Bascule and
//! any other S3 endpoint.

mod client;
mod compare;
mod load;
mod multipart;
mod replication;
mod scale;
mod server;
mod versions;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bascule-bench",
    version,
    about = "Load generator for Bascule and other S3 endpoints"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// PUT then GET throughput and latency at one object size and concurrency.
    Load(load::BenchArgs),
    /// The same workloads against Bascule and another S3 endpoint (or another Bascule
    /// build), alternating, with medians, spread and ratios.
    Compare(compare::CompareArgs),
    /// Replication lag and catch-up rate between two zones it starts.
    Replication(replication::ReplicationBenchArgs),
    /// What a zone costs once it holds many objects: restart, memory, admin and metrics
    /// latency, bytes on disk per object, PUT rate full vs empty.
    Scale(scale::ScaleBenchArgs),
    /// Versioning costs: PUT/GET on a versioned bucket against an unversioned one, and
    /// listing rates with 1 and 100 versions per key.
    Versions(versions::VersionsBenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bascule-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Load(args) => load::run(args).await,
            Command::Compare(args) => compare::run(args).await,
            Command::Replication(args) => replication::run(args).await,
            Command::Scale(args) => scale::run(args).await,
            Command::Versions(args) => versions::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bascule-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
