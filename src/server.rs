//! `bascule serve`: open the store, bootstrap credentials, run the S3 and admin listeners
//! until SIGINT/SIGTERM.

use crate::admin::api;
use crate::admin::state::AdminState;
use crate::bootstrap::announce;
use crate::config::Config;
use crate::http_server;
use crate::s3::{self, S3State};
use crate::store::Store;
use crate::tls;
use crate::zone::{self, ZoneService};
use bascule_replication::peer::PeerClient;
use bascule_replication::puller::{PullConfig, Replicator};
use bascule_replication::zone::{LeaseRule, Role, ZoneState};
use std::sync::Arc;
use std::time::Duration;

/// How often the background pass settles or removes what sits in `tmp/`.
const GC_INTERVAL: Duration = Duration::from_secs(600);
/// How long in-flight requests (replication long-polls included) get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Options of `serve` that are not configuration but one-off operator decisions.
#[derive(Default)]
pub struct ServeOptions {
    /// Take writes as primary at once, without first checking the peer.
    pub force_primary: bool,
}

/// Everything a zone writes (metadata, blobs, credentials) is for the service user alone:
/// files 0600, folders 0700, whatever the umask the process was started with.
fn private_files(config: &Config) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    for dir in std::iter::once(config.data_dir.clone()).chain(config.extra_data_dirs.clone()) {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    }
    Ok(())
}

pub async fn run(config: Config, opts: ServeOptions) -> Result<(), String> {
    private_files(&config)?;
    if config.zone.peer.is_some() && config.zone.secret.is_none() {
        return Err("zone.peer is set but zone.secret is not: zones authenticate each other with a shared secret".into());
    }
    let existed = config.meta_dir().join("CURRENT").exists();
    let initial_role = config.zone.role.zone_role();
    let store = Arc::new(
        Store::open(
            &config.meta_dir(),
            config.blob_dirs(),
            ZoneState::new(initial_role, config.zone.peer.clone()),
        )
        .map_err(|e| format!("cannot open the store: {e}"))?,
    );
    settle_role(&store, &config, existed, opts.force_primary).await?;
    let token = bootstrap_token(&config)?;

    let s3_listener = tokio::net::TcpListener::bind(config.s3_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.s3_listen))?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.admin_listen))?;
    let s3_addr = s3_listener.local_addr().map_err(|e| e.to_string())?;
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let tls_pair =
        |cert: &Option<std::path::PathBuf>, key: &Option<std::path::PathBuf>, what| match (
            cert, key,
        ) {
            (Some(c), Some(k)) => tls::server_config(c, k).map(Some),
            (None, None) => Ok(None),
            _ => Err(format!("{what}_cert and {what}_key go together")),
        };
    let tls = tls_pair(&config.zone.tls_cert, &config.zone.tls_key, "zone.tls")?;
    let s3_tls = tls_pair(&config.s3_tls_cert, &config.s3_tls_key, "s3_tls")?;
    let s3_endpoint = advertised_endpoint(&config, s3_addr, s3_tls.is_some())?;
    let admin_scheme = if tls.is_some() { "https" } else { "http" };
    let reloadable: Vec<_> = [&tls, &s3_tls]
        .into_iter()
        .flatten()
        .map(|(_, cert)| cert.clone())
        .collect();

    let keys = Arc::new(crate::crypt::setup::open(&config, store.clone())?);
    // A secondary gets its users and keys from the primary; only a zone that takes writes
    // creates the first admin and the zone's key.
    if store.zone.writable() {
        crate::bootstrap::first_credentials(&store, &config.data_dir, &s3_endpoint)
            .await
            .map_err(|e| format!("cannot create the first credentials: {e}"))?;
        crate::crypt::setup::ensure_keys(&config.encryption, &store, &keys).await?;
    }
    announce(&format!("S3 endpoint: {s3_endpoint}"));
    announce(&format!("Admin endpoint: {admin_scheme}://{admin_addr}"));
    announce(&format!("Data directory: {}", config.data_dir.display()));
    let state = store.zone.snapshot();
    announce(&format!(
        "Zone: {} (epoch {}){}",
        state.role().as_str(),
        state.epoch,
        state
            .peer
            .as_ref()
            .map(|p| format!(", peer {p}"))
            .unwrap_or_default()
    ));

    // Shutdown runs in order: stop listening and drain requests, stop background work,
    // then let the store finish its commits and flush before the process ends.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (zone, replicator) = start_zone(
        &store,
        &config,
        s3_endpoint.clone(),
        opts.force_primary || !existed,
    )?;
    let zone = Arc::new(zone);
    let mut background = vec![
        zone::trim::spawn(zone.clone(), config.zone.journal_retention, stop_rx.clone()),
        zone::lease::spawn(zone.clone(), stop_rx.clone()),
        spawn_gc(store.clone(), stop_rx.clone()),
    ];
    if config.zone.auto_failover {
        background.push(zone::lease::spawn_auto_failover(
            zone.clone(),
            config.zone.max_lag_on_failover,
            stop_rx.clone(),
        ));
    }
    if !reloadable.is_empty() {
        background.push(tls::reload_on_sighup(reloadable, stop_rx.clone()));
    }

    let config = Arc::new(config);
    let s3_state = S3State {
        store: store.clone(),
        config: config.clone(),
        zone: zone.clone(),
        logs: Arc::new(s3::logging::batches::BucketLogs::new(
            config.bucket_logging.clone(),
        )),
        keys: keys.clone(),
    };
    background.push(s3::logging::delivery::spawn(
        s3_state.clone(),
        stop_rx.clone(),
    ));
    let s3_app = s3::router(s3_state);
    let dashboard = Arc::new(crate::dashboard::Dashboard {
        secure_cookies: tls.is_some(),
        ..Default::default()
    });
    background.push(crate::dashboard::lag::spawn(
        zone.clone(),
        dashboard.lag.clone(),
        stop_rx.clone(),
    ));
    background.push(crate::dashboard::traffic::spawn(
        dashboard.traffic.clone(),
        stop_rx.clone(),
    ));
    background.push(crate::dashboard::capacity::spawn(
        store.clone(),
        dashboard.usage.clone(),
        stop_rx.clone(),
    ));
    let lifecycle = Arc::new(crate::lifecycle::LifecycleStatus::default());
    background.push(
        crate::lifecycle::Worker {
            store: store.clone(),
            config: config.lifecycle.clone(),
            status: lifecycle.clone(),
        }
        .spawn(stop_rx.clone()),
    );
    let rewrap = Arc::new(crate::crypt::rewrap::Rewrap::new(store.clone()));
    background.push(
        crate::crypt::rewrap::Worker {
            shared: rewrap.clone(),
            keys: keys.clone(),
            config: config.encryption.clone(),
        }
        .spawn(stop_rx.clone()),
    );
    let scrub = Arc::new(crate::zone::scrub::ScrubStatus::default());
    background.push(
        crate::zone::scrub::Scrubber {
            zone: zone.clone(),
            keys: keys.clone(),
            config: config.scrub.clone(),
            status: scrub.clone(),
        }
        .spawn(stop_rx.clone()),
    );
    let verify = Arc::new(crate::zone::verify::Verifier {
        zone: zone.clone(),
        status: Arc::default(),
        inline_max: config.inline_threshold as u64,
        keys_per_second: config.zone.verify_keys_per_second,
        interval: Duration::from_secs(config.zone.verify_interval),
    });
    background.push(verify.clone().spawn(stop_rx.clone()));
    let admin_app = api::router(AdminState {
        store: store.clone(),
        token: Arc::new(token),
        zone: zone.clone(),
        dashboard,
        lifecycle,
        config: config.clone(),
        keys: keys.clone(),
        rewrap,
        scrub,
        verify,
        s3: s3_app.clone(),
    });
    let drain_rx = zone.draining.subscribe();
    let draining = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|d| *d).await;
    };
    let s3_overload = http_server::overload_answer(
        "application/xml",
        &bascule_api::xml::error_body(
            &bascule_api::S3Error::new(bascule_api::S3ErrorCode::SlowDown),
            "/",
            "",
        ),
    );
    let admin_overload = http_server::overload_answer("text/plain", "too many connections\n");
    let limits = config.limits.clone();
    let s3_server = serve_listener(
        s3_listener,
        s3_tls.map(|(cfg, _)| cfg),
        s3_app,
        &limits,
        s3_overload,
        draining(drain_rx.clone()),
    );
    let admin = serve_listener(
        admin_listener,
        tls.map(|(cfg, _)| cfg),
        admin_app,
        &limits,
        admin_overload,
        draining(drain_rx.clone()),
    );
    let signal = async {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
        zone.draining.send_replace(true);
    };
    let servers = async {
        let (s3, admin) = tokio::join!(s3_server, admin);
        s3.and(admin)
    };
    let serving = async {
        tokio::pin!(servers);
        tokio::select! {
            r = &mut servers => r,
            _ = signal => match tokio::time::timeout(DRAIN_TIMEOUT, &mut servers).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("requests still running after the drain timeout: stopping anyway");
                    Ok(())
                }
            },
        }
    };
    let served = serving.await;
    let _ = stop_tx.send(true);
    if let Some(r) = replicator {
        r.abort();
        background.push(r);
    }
    for task in background {
        // The replication loop was cancelled on purpose; a panic anywhere is reported.
        if let Err(e) = task.await {
            if e.is_panic() {
                tracing::error!(error = %e, "a background task panicked");
            }
        }
    }
    store.close();
    tracing::info!("store closed");
    served
}

/// The background garbage-collection pass (see `store::gc`), until `stop`.
fn spawn_gc(
    store: Arc<Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(GC_INTERVAL) => {}
                _ = stop.changed() => return,
            }
            let s = store.clone();
            match tokio::task::spawn_blocking(move || {
                s.collect_garbage(crate::store::gc::GC_MIN_AGE)
            })
            .await
            {
                Ok(Ok(r)) if r != Default::default() => tracing::info!(?r, "garbage collected"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
                Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
            }
        }
    })
}

/// Reconciles the persisted zone state with this start: the configured peer, and the
/// fence of a primary that restarts next to a peer (it may have been promoted meanwhile).
async fn settle_role(
    store: &Store,
    config: &Config,
    existed: bool,
    force_primary: bool,
) -> Result<(), String> {
    let peer = config.zone.peer.clone();
    let state = store.zone.snapshot();
    let configured = config.zone.role.zone_role();
    if existed && state.role() != configured {
        tracing::warn!(
            persisted = state.role().as_str(),
            configured = configured.as_str(),
            "the zone's persisted role (set by a promotion or switchover) overrides the configured one"
        );
    }
    let fence = state.role() == Role::Primary && peer.is_some() && existed && !force_primary;
    if force_primary && state.role() == Role::Primary {
        tracing::error!(
            "--force-primary: taking writes WITHOUT checking the peer. If the peer was promoted meanwhile, both zones now accept writes and they will diverge."
        );
        announce(
            "WARNING: --force-primary given: this zone takes writes without checking its peer.",
        );
    }
    if fence {
        tracing::warn!("restarting as primary next to a peer: writes wait until the peer confirms this zone is still primary");
    }
    store
        .change_zone::<_, crate::zone::ZoneError>(move |s| {
            s.ensure_id();
            s.set_peer(peer);
            if fence {
                s.fence_at_restart()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| format!("cannot record the zone state: {e}"))
}

/// Serves one listener, over TLS when it has a configuration, until `shutdown`.
async fn serve_listener(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: axum::Router,
    limits: &crate::config::Limits,
    overload: bytes::Bytes,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    http_server::serve(listener, tls, app, limits, overload, shutdown).await;
    Ok(())
}

/// The S3 endpoint this zone gives clients (in refusals that name the primary, the
/// credentials file, the start-up lines): `zone.s3_public_endpoint`, else the listener's
/// address. A zone never advertises an unroutable address: listening on 0.0.0.0 or `::`
/// advertises the loopback address when the zone stands alone, and needs
/// `s3_public_endpoint` when it has a peer (whose clients it redirects).
fn advertised_endpoint(
    config: &Config,
    addr: std::net::SocketAddr,
    tls: bool,
) -> Result<String, String> {
    if let Some(public) = &config.zone.s3_public_endpoint {
        return Ok(public.clone());
    }
    let scheme = if tls { "https" } else { "http" };
    if !addr.ip().is_unspecified() {
        return Ok(format!("{scheme}://{addr}"));
    }
    if config.zone.peer.is_some() {
        return Err(format!(
            "the S3 listener is {addr}, an address clients cannot reach: set zone.s3_public_endpoint \
             (or BASCULE_S3_PUBLIC_ENDPOINT) to the endpoint clients use for this zone"
        ));
    }
    let loopback: std::net::IpAddr = if addr.is_ipv4() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    };
    Ok(format!(
        "{scheme}://{}",
        std::net::SocketAddr::new(loopback, addr.port())
    ))
}

/// The zone service, and the replication loop's task when there is a peer.
fn start_zone(
    store: &Arc<Store>,
    config: &Config,
    s3_endpoint: String,
    lease_later: bool,
) -> Result<(ZoneService, Option<tokio::task::JoinHandle<()>>), String> {
    let public = s3_endpoint;
    let ca = match &config.zone.peer_ca {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?),
        None => None,
    };
    let secret = config.zone.secret.clone().unwrap_or_default();
    let client = |url: &String| PeerClient::new(url, &secret, ca.as_deref(), store.zone.clone());
    let peer = config.zone.peer.as_ref().map(client).transpose()?;
    let witness = config.zone.witness.as_ref().map(client).transpose()?;
    if config.zone.auto_failover && witness.is_none() {
        return Err(
            "zone.auto_failover needs zone.witness: without a third site a zone cannot tell a dead primary from a cut link".into(),
        );
    }
    if witness.is_some() && peer.is_none() {
        return Err("zone.witness needs zone.peer: a witness judges between two zones".into());
    }
    if !(2..=3600).contains(&config.zone.lease_seconds) {
        return Err(format!(
            "zone.lease_seconds is {}: it must be between 2 and 3600",
            config.zone.lease_seconds
        ));
    }
    let terms = bascule_replication::lease::LeaseTerms::of_seconds(config.zone.lease_seconds);
    // A primary with a peer acknowledges client writes only inside a lease (start-up work,
    // such as the first credentials, was done before this point). A brand-new zone (no
    // peer can have been promoted over data it never had) and `--force-primary` take
    // writes until their first lease, as they take them before the peer confirms; a
    // restarted primary is fenced until its peer answers, and then asks it for a lease.
    if peer.is_some() {
        store.zone.set_lease_rule(if lease_later {
            LeaseRule::UntilFirstGrant
        } else {
            LeaseRule::Required
        });
    }
    let mut service = ZoneService::new(
        store.clone(),
        config.zone.secret.clone(),
        public,
        peer.clone(),
        zone::lease::LeaseState::new(terms, witness),
    );
    service.demoted_retry = Duration::from_secs(config.zone.demoted_retry_seconds);
    if let Some(peer) = peer {
        let replica = Arc::new(zone::replica::StoreReplica {
            store: store.clone(),
            inline_max: config.inline_threshold as u64,
            gate: service.apply_gate.clone(),
        });
        let pull = PullConfig {
            rate_limit: config.zone.fetch_rate_limit,
            ..PullConfig::default()
        };
        let replicator = Replicator::new(replica, peer, service.status.clone(), pull);
        return Ok((service, Some(tokio::spawn(replicator.run()))));
    }
    Ok((service, None))
}

fn bootstrap_token(config: &Config) -> Result<String, String> {
    let existed = config.data_dir.join(crate::bootstrap::TOKEN_FILE).exists();
    let token = crate::bootstrap::admin_token(&config.data_dir)
        .map_err(|e| format!("cannot create the admin token: {e}"))?;
    if !existed {
        announce(&format!(
            "Admin token saved (mode 0600) in {}",
            config.data_dir.join(crate::bootstrap::TOKEN_FILE).display()
        ));
    }
    Ok(token)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::advertised_endpoint;
    use crate::config::Config;

    #[test]
    fn a_zone_never_advertises_an_unroutable_address() {
        let mut c = Config::default();
        let any = "0.0.0.0:9000".parse().unwrap();
        assert_eq!(
            advertised_endpoint(&c, any, false).unwrap(),
            "http://127.0.0.1:9000"
        );
        let v6 = "[::]:9000".parse().unwrap();
        assert_eq!(
            advertised_endpoint(&c, v6, false).unwrap(),
            "http://[::1]:9000"
        );
        let local = "127.0.0.1:9100".parse().unwrap();
        assert_eq!(
            advertised_endpoint(&c, local, true).unwrap(),
            "https://127.0.0.1:9100"
        );
        c.zone.peer = Some("https://zone-b:9001".into());
        let e = advertised_endpoint(&c, any, false).unwrap_err();
        assert!(e.contains("s3_public_endpoint"), "{e}");
        c.zone.s3_public_endpoint = Some("https://s3.zone-a.example".into());
        assert_eq!(
            advertised_endpoint(&c, any, false).unwrap(),
            "https://s3.zone-a.example"
        );
    }
}
