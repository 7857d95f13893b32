//! `bascule witness`, as a real process: it grants the write lease to one zone at a time,
//! tells a holder whose epoch is behind which epoch replaced it, agrees to a promotion only
//! once its promise to the old holder has run out, keeps `{epoch, holder}` across a
//! restart (and then promises nobody new for a whole grantor wait), and answers only
//! callers holding the shared secret.

mod common;
use common::witness::Witness;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "witness-test-secret";
/// T = 2 s: the holder trusts a grant 0.98 s, the witness keeps its promise 3.02 s.
const LEASE_SECONDS: &str = "2";
const PROMISE: Duration = Duration::from_millis(3_020);

#[tokio::test(flavor = "multi_thread")]
async fn one_holder_at_a_time_promotions_wait_and_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let w = Witness::start(dir.path(), port, SECRET, LEASE_SECONDS);

    // Without the secret, nothing.
    let r = reqwest::Client::new()
        .post(format!("{}/lease", w.base))
        .bearer_auth("wrong")
        .json(&json!({"holder": "a", "epoch": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = reqwest::Client::new()
        .get(format!("{}/witness", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // A fresh witness has promised nothing to anybody: the first zone to ask gets it.
    let granted = w.lease("zone-a", 1).await;
    assert_eq!(granted, json!({"answer": "granted", "epoch": 1}));
    // Renewals by the holder go on; another zone is denied while the promise binds.
    assert_eq!(w.lease("zone-a", 1).await["answer"], "granted");
    let other = w.lease("zone-b", 2).await;
    assert_eq!(other["answer"], "denied", "{other}");
    assert!(
        other["reason"].as_str().unwrap().contains("zone-a"),
        "{other}"
    );

    // A promotion waits for the promise to the holder to run out, then is agreed once
    // (and never again for the same or a lower epoch).
    let wait = w.vote("zone-b", 2).await;
    assert_eq!(wait["answer"], "wait", "{wait}");
    let wait_ms = wait["wait_ms"].as_u64().unwrap();
    assert!(wait_ms > 2_000 && wait_ms <= 3_020, "{wait}");
    tokio::time::sleep(Duration::from_millis(wait_ms + 50)).await;
    assert_eq!(
        w.vote("zone-b", 2).await,
        json!({"answer": "agreed", "epoch": 2})
    );
    assert_eq!(w.vote("zone-a", 2).await["answer"], "refused");
    // The old holder learns which epoch replaced it.
    let demoted = w.lease("zone-a", 1).await;
    assert_eq!(demoted["answer"], "denied");
    assert_eq!(demoted["epoch"], 2);
    assert_eq!(w.lease("zone-b", 2).await["answer"], "granted");

    // A restart keeps {epoch, holder}: the holder renews at once, anybody else waits a
    // whole promise, and old epochs stay refused.
    w.stop();
    let stored: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("witness.json")).unwrap()).unwrap();
    assert_eq!(stored, json!({"epoch": 2, "holder": "zone-b"}));
    let w = Witness::start(dir.path(), port, SECRET, LEASE_SECONDS);
    assert_eq!(w.lease("zone-b", 2).await["answer"], "granted");
    let started = Instant::now();
    assert_eq!(w.lease("zone-a", 1).await["epoch"], 2);
    let vote = w.vote("zone-a", 3).await;
    assert_eq!(vote["answer"], "wait", "{vote}");
    let status: Value = reqwest::Client::new()
        .get(format!("{}/witness", w.base))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["epoch"], 2);
    assert_eq!(status["holder"], "zone-b");
    assert!(status["promise_ms_left"].as_u64().unwrap() > 0);
    // Once the holder stops renewing, the promise runs out and a promotion is agreed.
    tokio::time::sleep(PROMISE.saturating_sub(started.elapsed()) + Duration::from_millis(100))
        .await;
    assert_eq!(
        w.vote("zone-a", 3).await,
        json!({"answer": "agreed", "epoch": 3})
    );
}
