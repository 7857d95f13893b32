//! Configuration: a TOML file, overridden by environment variables and command-line flags.
//! With nothing given, a single primary zone on `./bascule-data`, S3 on 127.0.0.1:9000 and
//! the admin listener on 127.0.0.1:9001.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Metadata lives in `<data_dir>/meta`, blobs in `<data_dir>/blobs`.
    pub data_dir: PathBuf,
    /// More directories for blob files (e.g. one per disk).
    pub extra_data_dirs: Vec<PathBuf>,
    pub s3_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub region: String,
    /// Virtual-host-style addressing: `<bucket>.<domain>` hosts address a bucket.
    pub domain: Option<String>,
    /// Objects up to this size are stored inside RocksDB instead of a file of their own.
    pub inline_threshold: usize,
    pub zone: ZoneConfig,
    pub limits: Limits,
    /// Serve the S3 listener over TLS with this certificate chain and key (PEM); SIGHUP
    /// reloads them from the files.
    pub s3_tls_cert: Option<PathBuf>,
    pub s3_tls_key: Option<PathBuf>,
    /// Accept AWS Signature Version 2 (HMAC-SHA1), which the aws CLI v1, boto3 and s3cmd
    /// still use for presigned URLs and POST forms.
    pub allow_sigv2: bool,
    pub lifecycle: LifecycleConfig,
    /// The background re-read of stored data (`src/zone/scrub.rs`).
    pub scrub: ScrubConfig,
    pub metrics: MetricsConfig,
    pub bucket_logging: BucketLoggingConfig,
    pub encryption: EncryptionConfig,
}

/// Encryption at rest (`docs/encryption.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The master key (32 random bytes, mode 0600) that wraps the key service's keys.
    /// Default `<data_dir>/master.key`, created at first start; keep it off the data disks
    /// (or give it as `BASCULE_MASTER_KEY`, base64) so a copied data folder opens nothing.
    /// Two zones of a pair must have the same master key.
    pub master_key_file: Option<PathBuf>,
    /// New objects of buckets without a default encryption are stored SSE-S3.
    pub encrypt_by_default: bool,
    /// Take customer keys (SSE-C) over plain HTTP (tests); AWS refuses them.
    pub allow_insecure_sse_c: bool,
    /// KMS keys this zone starts with: name -> file of 32 raw bytes (or 64 hex digits).
    pub kms_keys: std::collections::BTreeMap<String, PathBuf>,
    /// After a rotation, object versions whose data keys the re-wrap worker wraps again
    /// per step (the data itself is never rewritten).
    pub rewrap_batch: usize,
    /// Milliseconds the re-wrap worker pauses between steps, so foreground requests keep
    /// their latency.
    pub rewrap_pause_ms: u64,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            master_key_file: None,
            encrypt_by_default: false,
            allow_insecure_sse_c: false,
            kms_keys: Default::default(),
            rewrap_batch: 100,
            rewrap_pause_ms: 20,
        }
    }
}

/// Server access logging (PutBucketLogging): how records are batched into log objects.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BucketLoggingConfig {
    /// Seconds between deliveries: each source bucket's records since the last one become
    /// one log object (AWS delivers every few minutes; tests use a second).
    pub flush_seconds: u64,
    /// Bytes of records held per source bucket between deliveries; past it a delivery
    /// starts early.
    pub max_pending_bytes: usize,
}

impl Default for BucketLoggingConfig {
    fn default() -> Self {
        BucketLoggingConfig {
            flush_seconds: 300,
            max_pending_bytes: 4 * 1024 * 1024,
        }
    }
}

/// `/metrics` on the admin listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// When set, `/metrics` answers only `Authorization: Bearer <token>` (Prometheus:
    /// `authorization: { credentials: ... }`); otherwise it is open, like `/health/*`.
    pub token: Option<String>,
    /// Give each bucket (the first 100 by name) its own objects and bytes series, labelled
    /// with the bucket's name. Off by default: bucket names can be private.
    pub bucket_labels: bool,
}

/// The scrub's settings (`[scrub]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrubConfig {
    /// Bytes re-read per second (0: the scrub is off).
    pub bytes_per_second: u64,
    /// Seconds between the starts of two passes.
    pub interval_seconds: u64,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            // A small share of one disk's bandwidth.
            bytes_per_second: 16 * 1024 * 1024,
            interval_seconds: 86_400,
        }
    }
}

/// The lifecycle worker (expiry of objects, versions, delete markers and uploads).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Seconds in a lifecycle day: 86400, or a few seconds to watch rules act in tests.
    pub day_seconds: u64,
    /// Seconds between the starts of two passes over the buckets that have rules.
    pub interval_seconds: u64,
    /// Keys looked at per step; progress is saved after each step.
    pub batch: usize,
    /// Milliseconds to pause between steps, so foreground requests keep their latency.
    pub pause_ms: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            day_seconds: 86_400,
            interval_seconds: 3_600,
            batch: 200,
            pause_ms: 20,
        }
    }
}

/// What one client may hold of the server: every bound an unauthenticated client could
/// otherwise stretch (connections, time to send headers, idle and stalled connections).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Connections served at once per listener; one more is answered `503 SlowDown` and
    /// closed. Keep it below the process's file-descriptor limit.
    pub max_connections: usize,
    /// Seconds a client has to send a request's whole header (slow senders are cut off).
    pub header_timeout_secs: u64,
    /// Seconds a connection may sit with no request in progress before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a request body (or a response the client does not read) may make no
    /// progress before the request fails with `RequestTimeout`.
    pub body_timeout_secs: u64,
    /// Bytes of request header (names and values); more is `RequestHeaderSectionTooLarge`.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_timeout_secs: 20,
            idle_timeout_secs: 30,
            body_timeout_secs: 30,
            max_header_bytes: 8 * 1024,
        }
    }
}

/// Replication between two zones. With no peer, the zone stands alone.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZoneConfig {
    /// The role a *new* zone starts with; afterwards the persisted role (which promotions
    /// and switchovers change) wins.
    pub role: Role,
    /// The peer zone's admin listener, e.g. `https://zone-b.example:9001`.
    pub peer: Option<String>,
    /// Shared secret both zones present on zone-to-zone calls.
    pub secret: Option<String>,
    /// A CA certificate (PEM) to trust for the peer's TLS certificate.
    pub peer_ca: Option<PathBuf>,
    /// Serve the admin listener (and so the zone link) over TLS with this certificate
    /// chain and key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The S3 endpoint clients should use for writes when this zone is primary
    /// (defaults to the S3 listener's address).
    pub s3_public_endpoint: Option<String>,
    /// Journal entries kept after the peer acknowledged them, and at most this many
    /// unacknowledged ones: a peer further behind does a full resync.
    pub journal_retention: u64,
    /// Object bytes per second fetched from the primary (0: unlimited).
    pub fetch_rate_limit: u64,
    /// For this long after the zone stops being primary (a switchover, or a promotion of
    /// its peer it learns of), writes are refused with `503` and `Retry-After` (SDKs and
    /// HAProxy retry them, reaching the new primary) instead of the final `403 ZoneReadOnly`.
    pub demoted_retry_seconds: u64,
    /// The witness at a third site (`bascule witness`), e.g. `https://arbiter:9003`: a
    /// second grantor of the write lease, and the judge of promotions. Same secret and CA
    /// as the peer.
    pub witness: Option<String>,
    /// T, the write lease's length: a primary cut off from its peer and the witness stops
    /// acknowledging writes within T.
    pub lease_seconds: u64,
    /// Automatic failover (needs a witness): a secondary that hears nothing from its
    /// primary for T asks the witness to promote it.
    pub auto_failover: bool,
    /// ... but only while it lacks at most this many of the entries the primary showed.
    pub max_lag_on_failover: u64,
    /// Seconds between periodic cross-zone verifies, run by the secondary (0: off).
    pub verify_interval: u64,
    /// Keys a periodic verify reads per second on each zone (a verify asked for by an
    /// operator is not paced).
    pub verify_keys_per_second: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    pub fn zone_role(self) -> bascule_replication::zone::Role {
        match self {
            Role::Primary => bascule_replication::zone::Role::Primary,
            Role::Secondary => bascule_replication::zone::Role::Secondary,
        }
    }
}

impl Default for ZoneConfig {
    fn default() -> Self {
        ZoneConfig {
            role: Role::Primary,
            peer: None,
            secret: None,
            peer_ca: None,
            tls_cert: None,
            tls_key: None,
            s3_public_endpoint: None,
            journal_retention: 1_000_000,
            fetch_rate_limit: 0,
            demoted_retry_seconds: 5,
            witness: None,
            lease_seconds: 10,
            auto_failover: false,
            max_lag_on_failover: 1000,
            verify_interval: 86_400,
            verify_keys_per_second: 20_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("bascule-data"),
            extra_data_dirs: Vec::new(),
            s3_listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
            region: "us-east-1".into(),
            domain: None,
            inline_threshold: 64 * 1024,
            zone: ZoneConfig::default(),
            limits: Limits::default(),
            allow_sigv2: true,
            s3_tls_cert: None,
            s3_tls_key: None,
            lifecycle: LifecycleConfig::default(),
            scrub: ScrubConfig::default(),
            metrics: MetricsConfig::default(),
            bucket_logging: BucketLoggingConfig::default(),
            encryption: EncryptionConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid config {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid value for {0}: {1}")]
    Env(&'static str, String),
}

impl Config {
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Read(p.to_path_buf(), e))?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse(p.to_path_buf(), e))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("BASCULE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("BASCULE_S3_LISTEN") {
            self.s3_listen = v
                .parse()
                .map_err(|_| ConfigError::Env("BASCULE_S3_LISTEN", v))?;
        }
        if let Some(v) = get("BASCULE_ADMIN_LISTEN") {
            self.admin_listen = v
                .parse()
                .map_err(|_| ConfigError::Env("BASCULE_ADMIN_LISTEN", v))?;
        }
        if let Some(v) = get("BASCULE_REGION") {
            self.region = v;
        }
        if let Some(v) = get("BASCULE_DOMAIN") {
            self.domain = Some(v);
        }
        if let Some(v) = get("BASCULE_PEER") {
            self.zone.peer = Some(v);
        }
        if let Some(v) = get("BASCULE_WITNESS") {
            self.zone.witness = Some(v);
        }
        if let Some(v) = get("BASCULE_REPLICATION_SECRET") {
            self.zone.secret = Some(v);
        }
        if let Some(v) = get("BASCULE_METRICS_TOKEN") {
            self.metrics.token = Some(v);
        }
        if let Some(v) = get("BASCULE_S3_PUBLIC_ENDPOINT") {
            self.zone.s3_public_endpoint = Some(v);
        }
        if let Some(v) = get("BASCULE_ENCRYPT_BY_DEFAULT") {
            self.encryption.encrypt_by_default = v
                .parse()
                .map_err(|_| ConfigError::Env("BASCULE_ENCRYPT_BY_DEFAULT", v))?;
        }
        Ok(())
    }

    pub fn meta_dir(&self) -> PathBuf {
        self.data_dir.join("meta")
    }

    pub fn blob_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.data_dir.join("data")];
        dirs.extend(self.extra_data_dirs.iter().cloned());
        dirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file() {
        let mut c: Config = toml::from_str("data_dir = \"/x\"\nregion = \"eu-west-3\"").unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/x"));
        c.apply_env(|k| (k == "BASCULE_S3_LISTEN").then(|| "127.0.0.1:1234".to_string()))
            .unwrap();
        assert_eq!(c.s3_listen.port(), 1234);
        assert_eq!(c.region, "eu-west-3");
        assert!(c
            .apply_env(|k| (k == "BASCULE_ADMIN_LISTEN").then(|| "nope".to_string()))
            .is_err());
        assert!(toml::from_str::<Config>("unknown = 1").is_err());
    }
}
