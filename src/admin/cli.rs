//! `bascule admin ...`: a thin client of the admin JSON API.

use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Admin API endpoint.
    #[arg(
        long,
        env = "BASCULE_ADMIN_ENDPOINT",
        default_value = "http://127.0.0.1:9001"
    )]
    pub endpoint: String,
    /// Admin bearer token; by default read from `<data-dir>/admin.token`.
    #[arg(long, env = "BASCULE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory of the local zone, to find its admin token.
    #[arg(long, env = "BASCULE_DATA_DIR", default_value = "bascule-data")]
    pub data_dir: PathBuf,
    /// A CA certificate (PEM) to trust when the admin listener uses TLS.
    #[arg(long, env = "BASCULE_ADMIN_CA")]
    pub ca_cert: Option<PathBuf>,
    /// Print the API's JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Users: create, list, enable, disable, delete.
    #[command(subcommand)]
    User(UserCommand),
    /// Access keys: create, list, enable, disable, delete.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Buckets: list, grant, revoke.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// The zone's role and replication: status, promote, switchover, divergent writes.
    #[command(subcommand)]
    Zone(ZoneCommand),
    /// The key service (encryption at rest): KMS keys and rotation.
    #[command(subcommand)]
    Kms(KmsCommand),
    /// Print journal entries after a sequence number (key secrets are redacted).
    Journal {
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many entries (up to 10000).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ZoneCommand {
    /// Role, epoch, peer, cursor, lag (entries, bytes, oldest age), last error.
    Status {
        /// Print the full JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Unplanned failover: make this secondary the primary (raises the epoch), once the old
    /// primary's write lease has run out and the witness (if any) agrees.
    Promote {
        /// Promote now, without waiting for the old primary's lease or asking the witness.
        /// If the old primary still runs, both zones may take writes until it learns of
        /// the promotion; its writes from then on are set aside (quarantined).
        #[arg(long)]
        force: bool,
    },
    /// Planned switchover: the primary stops writes, the secondary catches up, roles swap.
    Switchover,
    /// Compare this zone with its peer (objects, versions, bucket settings, users, keys)
    /// without moving object data; waits for the result.
    Verify {
        /// Only this bucket (and its settings).
        #[arg(long)]
        bucket: Option<String>,
        /// Re-fetch from the primary what the secondary lacks or holds wrongly (run it on
        /// the secondary; the primary is never changed).
        #[arg(long)]
        repair: bool,
    },
    /// Scrub: start a pass now and print what it found so far (damaged objects).
    Scrub,
    /// Writes set aside when this zone rejoined after a failover (or one of them).
    Divergent {
        /// One divergent write's id (all of them when absent).
        id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (its id is generated and never reused).
    Create {
        /// Letters, digits, - _ . @ (a name that is an email address takes email grants).
        name: String,
        /// Make the user an administrator (all buckets, not bound by bucket policies).
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
    /// Let a user's keys sign requests again.
    Enable {
        /// User name or id.
        id: String,
    },
    /// Refuse every request signed by the user's keys.
    Disable {
        /// User name or id.
        id: String,
    },
    /// Delete a user with its keys and grants (users owning buckets are kept).
    Delete {
        /// User name or id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key for a user (the secret is shown once).
    Create {
        /// User name or id.
        user: String,
    },
    /// List access keys (never their secrets).
    List {
        /// Only this user's keys (name or id).
        #[arg(long)]
        user: Option<String>,
    },
    /// Let a key sign requests again.
    Enable { access_key: String },
    /// Refuse every request signed by the key.
    Disable { access_key: String },
    /// Delete a key.
    Delete { access_key: String },
}

#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// KMS keys: create, list, enable, disable.
    #[command(subcommand)]
    Key(KmsKeyCommand),
    /// Add a new version of a key's material: new data keys are wrapped by it, older
    /// ones still open.
    Rotate {
        /// The key (default: the zone key of SSE-S3, `aws/s3`).
        #[arg(default_value = bascule_replication::records::ZONE_KEY_ID)]
        key: String,
    },
    /// Remove an older version of a key for good, once the re-wrap worker has moved every
    /// data key it wrapped to the active version (refused while any is left).
    Retire {
        key: String,
        /// The version number (see `kms key list`).
        version: u32,
    },
    /// The re-wrap worker's progress: key versions that still wrap data keys.
    Rewrap,
}

#[derive(Debug, Subcommand)]
pub enum KmsKeyCommand {
    /// Create a KMS key (random material, kept wrapped by the master key).
    Create {
        /// Letters, digits, - _ . (what clients name in x-amz-server-side-encryption-aws-kms-key-id).
        name: String,
    },
    /// List keys (never their material).
    List,
    /// Let a key encrypt and decrypt again.
    Enable { name: String },
    /// Refuse every request that needs the key (its objects cannot be read meanwhile).
    Disable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum BucketCommand {
    /// List buckets with their owner, objects, bytes and grants.
    List,
    /// Give a user read or read-write access to a bucket.
    Grant {
        bucket: String,
        /// User name or id.
        user: String,
        #[arg(value_parser = ["read", "read-write"])]
        permission: String,
    },
    /// Take a user's grant on a bucket away.
    Revoke {
        bucket: String,
        /// User name or id.
        user: String,
    },
}

/// A key name as one URL path segment (the zone key's name holds a `/`).
fn path_segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn token(args: &AdminArgs) -> Result<String, String> {
    if let Some(t) = &args.token {
        return Ok(t.clone());
    }
    let path = args.data_dir.join(crate::bootstrap::TOKEN_FILE);
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_string())
        .map_err(|e| {
            format!(
                "no admin token given and cannot read {}: {e} (use --token or BASCULE_ADMIN_TOKEN)",
                path.display()
            )
        })
}

pub async fn run(args: AdminArgs) -> Result<(), String> {
    let token = token(&args)?;
    let base = format!("{}/admin/v1", args.endpoint.trim_end_matches('/'));
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = &args.ca_cert {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
        builder = builder.add_root_certificate(cert);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let (method, path, body): (reqwest::Method, String, Option<Value>) = match &args.command {
        AdminCommand::User(c) => match c {
            UserCommand::Create { name, admin } => (
                reqwest::Method::POST,
                "/users".into(),
                Some(json!({"name": name, "admin": admin})),
            ),
            UserCommand::List => (reqwest::Method::GET, "/users".into(), None),
            UserCommand::Enable { id } => {
                (reqwest::Method::POST, format!("/users/{id}/enable"), None)
            }
            UserCommand::Disable { id } => {
                (reqwest::Method::POST, format!("/users/{id}/disable"), None)
            }
            UserCommand::Delete { id } => (reqwest::Method::DELETE, format!("/users/{id}"), None),
        },
        AdminCommand::Key(c) => match c {
            KeyCommand::Create { user } => {
                (reqwest::Method::POST, format!("/users/{user}/keys"), None)
            }
            KeyCommand::List { user: Some(u) } => {
                (reqwest::Method::GET, format!("/keys?user={u}"), None)
            }
            KeyCommand::List { user: None } => (reqwest::Method::GET, "/keys".into(), None),
            KeyCommand::Enable { access_key } => (
                reqwest::Method::POST,
                format!("/keys/{access_key}/enable"),
                None,
            ),
            KeyCommand::Disable { access_key } => (
                reqwest::Method::POST,
                format!("/keys/{access_key}/disable"),
                None,
            ),
            KeyCommand::Delete { access_key } => {
                (reqwest::Method::DELETE, format!("/keys/{access_key}"), None)
            }
        },
        AdminCommand::Bucket(c) => match c {
            BucketCommand::List => (reqwest::Method::GET, "/buckets".into(), None),
            BucketCommand::Grant {
                bucket,
                user,
                permission,
            } => {
                let p = if permission == "read" {
                    "Read"
                } else {
                    "ReadWrite"
                };
                (
                    reqwest::Method::PUT,
                    format!("/buckets/{bucket}/grants/{user}"),
                    Some(json!({ "permission": p })),
                )
            }
            BucketCommand::Revoke { bucket, user } => (
                reqwest::Method::DELETE,
                format!("/buckets/{bucket}/grants/{user}"),
                None,
            ),
        },
        AdminCommand::Zone(c) => match c {
            ZoneCommand::Status { .. } => (reqwest::Method::GET, "/zone".into(), None),
            ZoneCommand::Promote { force } => {
                if *force {
                    eprintln!("WARNING: --force: promoting without waiting for the old primary's lease to run out (and without the witness). If the old primary is still running, both zones may take writes until it learns of the promotion; its later writes will be set aside (quarantined) when it rejoins.");
                }
                let path = if *force {
                    "/zone/promote?force=true"
                } else {
                    "/zone/promote"
                };
                (reqwest::Method::POST, path.into(), None)
            }
            ZoneCommand::Switchover => (reqwest::Method::POST, "/zone/switchover".into(), None),
            ZoneCommand::Divergent { id: None } => {
                (reqwest::Method::GET, "/zone/divergent".into(), None)
            }
            ZoneCommand::Divergent { id: Some(id) } => {
                (reqwest::Method::GET, format!("/zone/divergent/{id}"), None)
            }
            ZoneCommand::Scrub => (reqwest::Method::POST, "/zone/scrub".into(), None),
            ZoneCommand::Verify { bucket, repair } => {
                let mut path = format!("/zone/verify?repair={repair}");
                if let Some(b) = bucket {
                    path.push_str(&format!("&bucket={}", path_segment(b)));
                }
                (reqwest::Method::POST, path, None)
            }
        },
        AdminCommand::Kms(c) => match c {
            KmsCommand::Key(KmsKeyCommand::Create { name }) => (
                reqwest::Method::POST,
                "/kms/keys".into(),
                Some(json!({ "name": name })),
            ),
            KmsCommand::Key(KmsKeyCommand::List) => {
                (reqwest::Method::GET, "/kms/keys".into(), None)
            }
            KmsCommand::Key(KmsKeyCommand::Enable { name }) => (
                reqwest::Method::POST,
                format!("/kms/keys/{}/enable", path_segment(name)),
                None,
            ),
            KmsCommand::Key(KmsKeyCommand::Disable { name }) => (
                reqwest::Method::POST,
                format!("/kms/keys/{}/disable", path_segment(name)),
                None,
            ),
            KmsCommand::Rotate { key } => (
                reqwest::Method::POST,
                format!("/kms/keys/{}/rotate", path_segment(key)),
                None,
            ),
            KmsCommand::Retire { key, version } => (
                reqwest::Method::POST,
                format!("/kms/keys/{}/retire", path_segment(key)),
                Some(json!({ "version": version })),
            ),
            KmsCommand::Rewrap => (reqwest::Method::GET, "/kms/rewrap".into(), None),
        },
        AdminCommand::Journal { after, limit } => (
            reqwest::Method::GET,
            format!("/journal?after={after}&limit={limit}"),
            None,
        ),
    };
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(&token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("cannot reach the admin API at {}: {e}", args.endpoint))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let value = serde_json::from_str::<Value>(&text).ok();
    let pretty = value
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or(text);
    if !status.is_success() {
        return Err(format!("{status}: {pretty}"));
    }
    if let AdminCommand::Zone(ZoneCommand::Verify { .. }) = &args.command {
        return wait_for_verify(&client, &base, &token, args.json).await;
    }
    use super::tables;
    if args.json {
        println!("{pretty}");
        return Ok(());
    }
    match (&args.command, &value) {
        (AdminCommand::Zone(ZoneCommand::Status { json: true }), _) => println!("{pretty}"),
        (AdminCommand::Zone(ZoneCommand::Status { .. }), Some(v)) => {
            print!("{}", super::zone_text::status(v))
        }
        (AdminCommand::User(UserCommand::List), Some(v)) => print!("{}", tables::users(v)),
        (AdminCommand::Key(KeyCommand::List { .. }), Some(v)) => print!("{}", tables::keys(v)),
        (AdminCommand::Bucket(BucketCommand::List), Some(v)) => {
            print!("{}", tables::buckets(v))
        }
        (
            AdminCommand::Bucket(BucketCommand::Grant {
                bucket,
                user,
                permission,
            }),
            _,
        ) => println!("Granted {permission} on bucket {bucket} to user {user}."),
        (AdminCommand::Bucket(BucketCommand::Revoke { bucket, user }), _) => {
            println!("Revoked the grant of user {user} on bucket {bucket}.")
        }
        (AdminCommand::Kms(KmsCommand::Key(KmsKeyCommand::List)), Some(v)) => {
            print!("{}", tables::kms_keys(v))
        }
        (AdminCommand::Kms(KmsCommand::Rewrap), _) => println!("{pretty}"),
        (AdminCommand::User(_) | AdminCommand::Key(_) | AdminCommand::Kms(_), Some(v)) => {
            print!("{}", tables::record(v))
        }
        (AdminCommand::Zone(ZoneCommand::Promote { .. }), Some(v)) => {
            println!("{}", super::zone_text::promotion(v));
            println!("{pretty}");
        }
        (AdminCommand::Zone(ZoneCommand::Divergent { id: None }), Some(v)) => {
            print!("{}", super::zone_text::divergent(v))
        }
        _ => println!("{pretty}"),
    }
    Ok(())
}

/// Follows the verify just started until it ends, then prints its report. Fails (exit
/// status 1) when differences remain or the verify could not finish.
async fn wait_for_verify(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    json: bool,
) -> Result<(), String> {
    let last = &verify_result(client, base, token).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(last).unwrap_or_default());
    } else {
        print!("{}", super::zone_text::verify(last));
    }
    if let Some(e) = last["error"].as_str() {
        return Err(format!("the verify did not finish: {e}"));
    }
    let count = |k: &str| last[k]["count"].as_u64().unwrap_or(0);
    let found = count("missing") + count("extra") + count("different") + count("settings");
    let repaired = last["repaired"].as_u64().unwrap_or(0);
    let failed = last["repair_failed"].as_u64().unwrap_or(0);
    match (found, repaired, failed) {
        (0, _, _) => Ok(()),
        (_, r, 0) if r > 0 => Ok(()),
        _ => Err(format!("{found} differences between the zones")),
    }
}

/// Polls `GET {base}/zone/verify` (base: the admin API, `.../admin/v1`) until no verify
/// runs; returns the last report.
pub async fn verify_result(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> Result<Value, String> {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let state: Value = client
            .get(format!("{base}/zone/verify"))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if state["running"] == false {
            return Ok(state["last"].clone());
        }
    }
}
