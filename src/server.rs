//! `bascule serve`: open the store, bootstrap credentials, run the S3 and admin listeners
//! until SIGINT/SIGTERM.

use crate::admin::api::{self, AdminState};
use crate::bootstrap::announce;
use crate::config::Config;
use crate::s3::{self, S3State};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Orphaned blobs and temp files older than this are collected in the background.
const GC_MIN_AGE: Duration = Duration::from_secs(3600);
const GC_INTERVAL: Duration = Duration::from_secs(600);

pub async fn run(config: Config) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    let store = Arc::new(
        Store::open(&config.meta_dir(), config.blob_dirs())
            .map_err(|e| format!("cannot open the store: {e}"))?,
    );
    let token = bootstrap_token(&config)?;

    let s3_listener = tokio::net::TcpListener::bind(config.s3_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.s3_listen))?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.admin_listen))?;
    let s3_addr = s3_listener.local_addr().map_err(|e| e.to_string())?;
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let s3_endpoint = format!("http://{s3_addr}");

    crate::bootstrap::first_credentials(&store, &config.data_dir, &s3_endpoint)
        .await
        .map_err(|e| format!("cannot create the first credentials: {e}"))?;
    announce(&format!("S3 endpoint: {s3_endpoint}"));
    announce(&format!("Admin endpoint: http://{admin_addr}"));
    announce(&format!("Data directory: {}", config.data_dir.display()));

    let gc_store = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(GC_INTERVAL).await;
            let s = gc_store.clone();
            if let Ok(Ok((tmp, blobs))) =
                tokio::task::spawn_blocking(move || s.collect_garbage(GC_MIN_AGE)).await
            {
                if tmp + blobs > 0 {
                    tracing::info!(temp_files = tmp, orphan_blobs = blobs, "garbage collected");
                }
            }
        }
    });

    let config = Arc::new(config);
    let s3_app = s3::router(S3State {
        store: store.clone(),
        config: config.clone(),
    });
    let admin_app = api::router(AdminState {
        store: store.clone(),
        token: Arc::new(token),
    });
    let s3_server = axum::serve(s3_listener, s3_app).with_graceful_shutdown(shutdown_signal());
    let admin_server =
        axum::serve(admin_listener, admin_app).with_graceful_shutdown(shutdown_signal());
    let (a, b) = tokio::join!(s3_server, admin_server);
    a.and(b).map_err(|e| e.to_string())
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
