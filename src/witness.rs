//! `bascule witness`: the arbiter at a third site. It grants the write lease to one zone at
//! a time and agrees to a promotion only once its promise to the old primary has run out,
//! so that with it the two zones form a majority of three. It keeps only `{epoch, holder}`
//! on disk (written and fsynced whenever either changes, never on a renewal); after a
//! restart it grants nobody but the last holder for a whole grantor wait, since it may
//! have promised that holder a lease just before it stopped.
//!
//! It speaks the zone link's protocol (`/replication/v1/...`, the zones' shared secret as
//! a bearer token), over TLS when given a certificate.

use crate::config::Limits;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bascule_replication::lease::{
    boottime, LeaseAnswer, LeaseRequest, LeaseTerms, Promise, PromoteVote, VoteAnswer,
};
use bascule_replication::protocol::{ProtocolError, PREFIX};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct WitnessArgs {
    /// Address to listen on (the zones' `zone.witness` names it).
    #[arg(long, default_value = "127.0.0.1:9003")]
    pub listen: SocketAddr,
    /// Where `{epoch, holder}` is kept.
    #[arg(long, default_value = "bascule-witness")]
    pub data_dir: PathBuf,
    /// The zone link's shared secret, as the zones' `zone.secret` (or a file holding it).
    #[arg(long, env = "BASCULE_REPLICATION_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// Serve TLS with this certificate chain and key (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The lease term T in seconds (the zones' `zone.lease_seconds`).
    #[arg(long, default_value_t = 10)]
    pub lease_seconds: u64,
}

/// What the witness keeps on disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub epoch: u64,
    pub holder: Option<String>,
}

struct Witness {
    file: PathBuf,
    secret: String,
    terms: LeaseTerms,
    /// The promise and what is on disk, changed together under one lock (a holder or
    /// epoch change is fsynced before it is answered).
    promise: tokio::sync::Mutex<Promise>,
}

const FILE: &str = "witness.json";

/// Reads the stored state (none yet: epoch 0, no holder).
pub fn load(dir: &Path) -> Result<Stored, String> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the state durably: a new file, fsynced, renamed over the old one, and the
/// directory fsynced.
fn save(file: &Path, stored: &Stored) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = file.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(stored).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub async fn run(args: WitnessArgs) -> Result<(), String> {
    let secret = match (&args.secret, &args.secret_file) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .trim()
            .to_string(),
        (Some(s), None) => s.clone(),
        (None, None) => {
            return Err("the witness needs the zones' shared secret (--secret-file, or BASCULE_REPLICATION_SECRET)".into())
        }
    };
    if secret.is_empty() {
        return Err("the shared secret is empty".into());
    }
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("{}: {e}", args.data_dir.display()))?;
    let stored = load(&args.data_dir)?;
    let terms = LeaseTerms::of_seconds(args.lease_seconds);
    let witness = Arc::new(Witness {
        file: args.data_dir.join(FILE),
        secret,
        terms,
        // Whatever it promised before a restart binds for a whole wait from now (a
        // witness that never granted anything has nothing to wait for: a grant is saved
        // before it is answered).
        promise: tokio::sync::Mutex::new(Promise {
            epoch: stored.epoch,
            holder: stored.holder.clone(),
            until: match stored.holder {
                Some(_) => boottime() + terms.grantor_wait(),
                None => std::time::Duration::ZERO,
            },
        }),
    });
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?.0),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "Witness: {scheme}://{} (epoch {}, holder {}), state in {}",
        listener.local_addr().map_err(|e| e.to_string())?,
        stored.epoch,
        stored.holder.as_deref().unwrap_or("none"),
        args.data_dir.display()
    );
    let app = router(witness);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let stop = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return shutdown.await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = shutdown => {}
        }
    };
    crate::http_server::serve(
        listener,
        tls,
        app,
        &Limits::default(),
        crate::http_server::overload_answer("application/json", "{\"error\":\"busy\"}"),
        stop,
    )
    .await;
    Ok(())
}

fn router(w: Arc<Witness>) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/lease"), post(lease))
        .route(&format!("{PREFIX}/witness/promote"), post(promote))
        .route(&format!("{PREFIX}/witness"), get(status))
        .layer(axum::middleware::from_fn_with_state(w.clone(), guard))
        .with_state(w)
}

fn refusal(status: StatusCode, error: &str, message: String) -> Response {
    let doc = ProtocolError {
        error: error.into(),
        message,
        zone: None,
    };
    (status, Json(doc)).into_response()
}

async fn guard(
    State(w): State<Arc<Witness>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bascule_api::sigv4::signatures_match(&w.secret, given.trim()) {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the witness answers only zones holding the shared secret".into(),
        );
    }
    next.run(req).await
}

/// Persists `next` if it differs from what `p` holds on disk.
fn persist_if_changed(w: &Witness, p: &Promise, epoch: u64, holder: &str) -> Result<(), String> {
    if p.epoch == epoch && p.holder.as_deref() == Some(holder) {
        return Ok(());
    }
    let stored = Stored {
        epoch,
        holder: Some(holder.to_string()),
    };
    save(&w.file, &stored).map_err(|e| format!("cannot save the witness state: {e}"))
}

async fn lease(State(w): State<Arc<Witness>>, Json(req): Json<LeaseRequest>) -> Response {
    let mut p = w.promise.lock().await;
    let mut next = p.clone();
    let answer = next.consider(&req, p.epoch, boottime(), &w.terms);
    if let LeaseAnswer::Granted { epoch } = &answer {
        if let Err(e) = persist_if_changed(&w, &p, *epoch, &req.holder) {
            tracing::error!(error = %e, "witness: lease not granted");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e);
        }
        if p.holder.as_deref() != Some(req.holder.as_str()) {
            tracing::warn!(holder = %req.holder, epoch, "witness: lease granted to a new holder");
        }
        *p = next;
    }
    Json(answer).into_response()
}

async fn promote(State(w): State<Arc<Witness>>, Json(vote): Json<PromoteVote>) -> Response {
    let mut p = w.promise.lock().await;
    let now = boottime();
    let answer = if vote.epoch <= p.epoch {
        VoteAnswer::Refused {
            epoch: p.epoch,
            reason: format!(
                "epoch {} is not above the witness's epoch {}",
                vote.epoch, p.epoch
            ),
        }
    } else if p.holder.as_deref() != Some(vote.candidate.as_str())
        && p.binds_for(now) > std::time::Duration::ZERO
    {
        VoteAnswer::Wait {
            epoch: p.epoch,
            wait_ms: p.binds_for(now).as_millis() as u64,
            reason: format!(
                "{} may still hold its lease",
                p.holder.as_deref().unwrap_or("the last holder")
            ),
        }
    } else {
        if let Err(e) = persist_if_changed(&w, &p, vote.epoch, &vote.candidate) {
            tracing::error!(error = %e, "witness: promotion not agreed");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e);
        }
        tracing::warn!(candidate = %vote.candidate, epoch = vote.epoch, "witness: promotion agreed");
        *p = Promise {
            epoch: vote.epoch,
            holder: Some(vote.candidate.clone()),
            until: now + w.terms.grantor_wait(),
        };
        VoteAnswer::Agreed { epoch: vote.epoch }
    };
    Json(answer).into_response()
}

/// What the witness has promised, for operators and tests.
#[derive(Debug, Serialize, Deserialize)]
pub struct WitnessStatus {
    pub epoch: u64,
    pub holder: Option<String>,
    /// How long its promise to the holder still binds.
    pub promise_ms_left: u64,
    pub lease_seconds: u64,
}

async fn status(State(w): State<Arc<Witness>>) -> Response {
    let p = w.promise.lock().await;
    Json(WitnessStatus {
        epoch: p.epoch,
        holder: p.holder.clone(),
        promise_ms_left: p.binds_for(boottime()).as_millis() as u64,
        lease_seconds: w.terms.term.as_secs(),
    })
    .into_response()
}
