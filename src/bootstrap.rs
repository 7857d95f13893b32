//! First start of a zone: an admin bearer token and a first admin user with an access key,
//! written to files only the operator can read (0600) and shown once on stdout.

use crate::admin::ops;
use crate::store::Store;
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const TOKEN_FILE: &str = "admin.token";

/// Tells the operator something on stdout. A closed or broken stdout (a supervisor that
/// stopped reading, say) must never stop the server, so write errors are ignored,
/// unlike `println!`, which panics on them.
pub fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
pub const CREDENTIALS_FILE: &str = "credentials";

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()
}

/// Returns the admin token, creating it on first start.
pub fn admin_token(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            let token = hex::encode(raw);
            write_private(&path, &format!("{token}\n"))?;
            Ok(token)
        }
        Err(e) => Err(e),
    }
}

/// Creates the first admin user and key when the zone has no users yet.
/// Returns the credentials file path when it was just created.
pub async fn first_credentials(
    store: &Store,
    data_dir: &Path,
    s3_endpoint: &str,
) -> Result<Option<std::path::PathBuf>, crate::admin::error::AdminError> {
    if !ops::list_users(store)?.is_empty() {
        return Ok(None);
    }
    let user = ops::create_user(store, "admin", true).await?;
    let key = ops::create_key(store, &user.id, None).await?;
    let path = data_dir.join(CREDENTIALS_FILE);
    let content = format!(
        "# Bascule first admin credentials (aws CLI / SDK shared credentials format)\n[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n# endpoint_url = {s3_endpoint}\n",
        key.access_key, key.secret_key
    );
    // A leftover file from an earlier, wiped zone is replaced.
    let _ = std::fs::remove_file(&path);
    write_private(&path, &content).map_err(crate::store::StoreError::Io)?;
    announce("First start: created admin user 'admin'.");
    announce(&format!("  access key: {}", key.access_key));
    // The secret is shown only to a person at a terminal: a service manager or container
    // runtime would keep it in its logs (`docker-compose logs`) for anyone who reads them.
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        announce(&format!("  secret key: {}", key.secret_key));
    } else {
        announce("  secret key: not shown (output is not a terminal); read it from the file below");
    }
    announce(&format!("  saved (mode 0600) in {}", path.display()));
    Ok(Some(path))
}
