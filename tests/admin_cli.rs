//! `bascule admin`: tables by default, `--json` for scripts, the endpoint and token from
//! flags or the environment.

mod common;
use common::Server;

fn admin(srv: &Server, args: &[&str], env_token: bool) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bascule"));
    cmd.arg("admin");
    if env_token {
        cmd.env("BASCULE_ADMIN_ENDPOINT", &srv.admin)
            .env("BASCULE_ADMIN_TOKEN", &srv.token);
    } else {
        cmd.args(["--endpoint", &srv.admin, "--token", &srv.token]);
    }
    cmd.args(args);
    let out = cmd.output().expect("run bascule admin");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn tables_by_default_json_for_scripts() {
    let srv = Server::start();
    let (ok, out) = admin(&srv, &["user", "create", "lea"], false);
    assert!(ok, "{out}");
    assert!(out.contains("name:") && out.contains("lea"), "{out}");
    let (ok, out) = admin(&srv, &["key", "create", "lea"], true);
    assert!(ok, "{out}");
    assert!(
        out.contains("secret_key:") && out.contains("shown only now"),
        "{out}"
    );
    let (ok, out) = admin(&srv, &["user", "list"], true);
    assert!(ok, "{out}");
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("NAME") && header.contains("ADMIN"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("lea ")), "{out}");
    let (ok, out) = admin(&srv, &["--json", "user", "list"], true);
    assert!(ok, "{out}");
    let users: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(users.as_array().map(Vec::len), Some(2));
    let (ok, out) = admin(&srv, &["key", "list"], true);
    assert!(ok, "{out}");
    assert!(out.starts_with("ACCESS KEY"), "{out}");
    assert!(
        !out.contains("secret"),
        "key lists never show secrets: {out}"
    );
    let (ok, out) = admin(&srv, &["user", "delete", "nobody"], true);
    assert!(!ok, "{out}");
    assert!(out.contains("404"), "{out}");

    // Buckets list their owner by name; grants answer with a sentence.
    srv.client()
        .create_bucket()
        .bucket("courses")
        .send()
        .await
        .unwrap();
    let (ok, out) = admin(&srv, &["bucket", "list"], true);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("courses") && l.contains(" admin ")),
        "{out}"
    );
    let (ok, out) = admin(&srv, &["bucket", "grant", "courses", "lea", "read"], true);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "Granted read on bucket courses to user lea.");
    let (ok, out) = admin(&srv, &["bucket", "revoke", "courses", "lea"], true);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "Revoked the grant of user lea on bucket courses."
    );
    // A standalone zone says it has no peer.
    let (ok, out) = admin(&srv, &["zone", "status"], true);
    assert!(ok, "{out}");
    assert!(out.contains("peer:              none"), "{out}");
}
