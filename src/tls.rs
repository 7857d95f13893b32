//! TLS for both listeners (the S3 API, and the admin API that carries the zone link): the
//! server configuration, with a certificate that can be reloaded from its files without a
//! restart (SIGHUP). Handshakes happen in `http_server`, inside a connection's permit.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::ServerConfig;

/// A certificate and key read from PEM files, swapped in place by `reload`: handshakes
/// after a reload use the new pair, connections already open keep theirs.
#[derive(Debug)]
pub struct ReloadableCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read TLS certificates from {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!("no certificate in {}", cert.display()));
        }
        let key_der = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read the TLS key from {}: {e}", key.display()))?;
        let signing = provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|e| format!("invalid TLS key {}: {e}", key.display()))?;
        let certified = CertifiedKey::new(certs, signing);
        certified
            .keys_match()
            .map_err(|e| format!("the TLS key does not match the certificate: {e}"))?;
        Ok(certified)
    }

    /// Reads the files again; on any problem the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = Self::load(&self.cert, &self.key, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(fresh);
        }
        Ok(())
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// A server configuration whose certificate can be reloaded.
pub fn server_config(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<ServerConfig>, Arc<ReloadableCert>), String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let certified = ReloadableCert::load(cert, key, &provider)?;
    let resolver = Arc::new(ReloadableCert {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        provider: provider.clone(),
        current: RwLock::new(Arc::new(certified)),
    });
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    Ok((Arc::new(config), resolver))
}

/// Reloads the certificates on SIGHUP until `stop`, logging the outcome.
pub fn reload_on_sighup(
    certs: Vec<Arc<ReloadableCert>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: TLS certificates will not be reloaded");
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            for c in &certs {
                match c.reload() {
                    Ok(()) => tracing::info!(cert = %c.cert.display(), "TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays")
                    }
                }
            }
        }
    })
}
