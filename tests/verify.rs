//! Cross-zone verify (issue 18, part 2), with real processes: two zones that agree verify
//! clean without moving key lists; differences planted in the secondary's metadata store
//! (a missing object, an extra one, one with other metadata, a bucket setting) are found
//! from either zone and named; `--repair` on the secondary fixes them and never touches
//! the primary; writes going on during a verify are not reported as differences.

mod common;
use common::zones::{caught_up, Pair};
use common::Server;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(60);
/// Four ranges: three of a thousand keys and the rest.
const KEYS: usize = 3_300;

fn key(i: usize) -> String {
    format!("k{i:05}")
}

fn body(i: usize) -> Vec<u8> {
    // Every tenth object is a blob file, the rest inline.
    let len = if i.is_multiple_of(10) {
        70_000 + i
    } else {
        100 + i % 50
    };
    key(i).bytes().cycle().take(len).collect()
}

/// Starts a verify and waits for its report.
async fn verify(z: &Server, query: &str) -> Value {
    let (st, r) = z.admin("POST", &format!("/zone/verify{query}"), None).await;
    assert_eq!(st, 202, "{r}");
    let deadline = Instant::now() + WITHIN;
    loop {
        let (st, r) = z.admin("GET", "/zone/verify", None).await;
        assert_eq!(st, 200, "{r}");
        if r["running"] == false {
            let last = r["last"].clone();
            assert!(last["error"].is_null(), "{last:#}");
            return last;
        }
        assert!(Instant::now() < deadline, "verify did not end: {r:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(r: &Value, kind: &str) -> u64 {
    r[kind]["count"].as_u64().unwrap_or(u64::MAX)
}

fn assert_clean(r: &Value) {
    for kind in ["missing", "extra", "different", "settings"] {
        assert_eq!(count(r, kind), 0, "{kind}: {r:#}");
    }
}

/// Plants differences in a stopped zone's metadata store, as a faulty disk or a bug
/// would leave them (nothing goes through the journal).
fn plant_differences(data: &Path) {
    let meta = data.join("meta");
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &meta).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &meta, &cfs).unwrap();
    let objects = db.cf_handle("objects").expect("objects column family");
    let id = |k: &str| [b"bkt".as_slice(), &[0], k.as_bytes()].concat();
    // Missing: the record of k00010 is gone (its data stays; only metadata is compared).
    db.delete_cf(objects, id(&key(10))).unwrap();
    // Different: k01500 carries other user metadata.
    let raw = db.get_cf(objects, id(&key(1500))).unwrap().expect("k01500");
    let mut rec: Value = serde_json::from_slice(&raw).unwrap();
    rec["user_meta"] = serde_json::json!({"planted": "yes"});
    db.put_cf(objects, id(&key(1500)), serde_json::to_vec(&rec).unwrap())
        .unwrap();
    // Extra: an empty object the primary never had.
    let mut extra = rec.clone();
    extra["segments"] = serde_json::json!([]);
    extra["size"] = 0.into();
    extra["etag"] = "d41d8cd98f00b204e9800998ecf8427e".into();
    extra["user_meta"] = serde_json::json!({});
    db.put_cf(objects, id("zz-extra"), serde_json::to_vec(&extra).unwrap())
        .unwrap();
    // A bucket setting: the bucket's record differs (its tags).
    let buckets = db.cf_handle("buckets").expect("buckets column family");
    let raw = db.get_cf(buckets, b"bkt").unwrap().expect("bucket bkt");
    let mut b: Value = serde_json::from_slice(&raw).unwrap();
    b["tags"] = serde_json::json!([["planted", "yes"]]);
    db.put_cf(buckets, b"bkt", serde_json::to_vec(&b).unwrap())
        .unwrap();
    db.flush_cf(objects).unwrap();
    db.flush_cf(buckets).unwrap();
}

fn cli_verify(z: &Server, extra: &[&str]) -> (bool, String) {
    let args: Vec<&str> = ["zone", "verify"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    z.admin_cli(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_planted_differences_from_either_zone_and_repairs_the_secondary() {
    let mut pair = Pair::start("");
    let c = pair.a.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    for i in 0..KEYS {
        common::put(&c, "bkt", &key(i), body(i)).await;
    }
    caught_up(&pair.a, &pair.b, WITHIN).await;

    // Agreeing zones: every range summary matches, no key list crosses the link.
    let started = Instant::now();
    let r = verify(&pair.b, "").await;
    eprintln!("clean verify of {KEYS} keys: {:?}: {r}", started.elapsed());
    assert_clean(&r);
    assert_eq!(r["keys"], KEYS as u64, "{r:#}");
    assert_eq!(r["ranges"], 4, "{r:#}");
    assert_eq!(r["ranges_differing"], 0, "{r:#}");
    assert_eq!(r["key_digests_moved"], 0, "{r:#}");
    assert_eq!(r["records_moved"], 0, "{r:#}");

    pair.b.terminate(Duration::from_secs(10));
    plant_differences(&pair.b.data_dir());
    pair.b.spawn();
    caught_up(&pair.a, &pair.b, WITHIN).await;

    // Run from the primary, then from the secondary: the same findings.
    for z in [&pair.a, &pair.b] {
        let r = verify(z, "").await;
        assert_eq!(count(&r, "missing"), 1, "{r:#}");
        assert_eq!(r["missing"]["first"][0], "bkt/k00010@null", "{r:#}");
        assert_eq!(count(&r, "different"), 1, "{r:#}");
        assert_eq!(r["different"]["first"][0], "bkt/k01500@null", "{r:#}");
        assert_eq!(count(&r, "extra"), 1, "{r:#}");
        assert_eq!(r["extra"]["first"][0], "bkt/zz-extra@null", "{r:#}");
        assert_eq!(count(&r, "settings"), 1, "{r:#}");
        assert_eq!(r["settings"]["first"][0], "bucket:bkt", "{r:#}");
        // Only the differing ranges were listed: the middle one matched.
        assert_eq!(r["ranges_differing"], 3, "{r:#}");
        assert!(r["key_digests_moved"].as_u64().unwrap() <= 2 * KEYS as u64);
        assert_eq!(r["repaired"], 0, "{r:#}");
    }
    // One bucket only: the same object findings, no user or key comparison.
    let r = verify(&pair.b, "?bucket=bkt").await;
    assert_eq!(r["bucket"], "bkt", "{r:#}");
    assert_eq!(count(&r, "missing") + count(&r, "extra"), 2, "{r:#}");

    // The CLI waits for the result and fails while differences remain.
    let (ok, text) = cli_verify(&pair.b, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("missing on the secondary: 1"), "{text}");
    assert!(text.contains("bkt/k00010@null"), "{text}");

    // A repair is the secondary's: asked of the primary it is refused.
    let (st, r) = pair.a.admin("POST", "/zone/verify?repair=true", None).await;
    assert_eq!(st, 409, "{r}");
    assert_eq!(r["error"], "Conflict", "{r}");

    // Repair on the secondary, with writes going on at the primary meanwhile.
    let writer = {
        let c = pair.a.client();
        tokio::spawn(async move {
            for i in 0..200 {
                common::put(&c, "bkt", &format!("live{i:04}"), vec![b'x'; 300]).await;
            }
        })
    };
    let (ok, text) = cli_verify(&pair.b, &["--repair"]);
    assert!(ok, "{text}");
    assert!(text.contains("Repaired 4 keys and settings"), "{text}");
    writer.await.expect("writer task");
    caught_up(&pair.a, &pair.b, WITHIN).await;

    let r = verify(&pair.b, "").await;
    assert_clean(&r);
    assert_eq!(r["keys"], KEYS as u64 + 200, "{r:#}");
    let b = pair.b.client();
    assert_eq!(
        common::get(&b, "bkt", &key(10)).await.as_deref(),
        Some(&body(10)[..])
    );
    assert_eq!(common::get(&b, "bkt", "zz-extra").await, None);
    let head = b
        .head_object()
        .bucket("bkt")
        .key(key(1500))
        .send()
        .await
        .unwrap();
    assert!(head.metadata().is_none_or(|m| m.is_empty()), "{head:?}");
    // The primary was never changed by the repair.
    assert_eq!(common::get(&c, "bkt", "zz-extra").await, None);

    let m = pair.b.metrics().await;
    assert!(
        common::metric_value(&m, "bascule_verify_runs_total").unwrap_or(0.0) >= 5.0,
        "{m}"
    );
    assert_eq!(
        common::metric_value(&m, "bascule_verify_repaired_total"),
        Some(4.0),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_zone_has_nothing_to_verify_against() {
    let z = Server::start();
    let (st, r) = z.admin("POST", "/zone/verify", None).await;
    assert_eq!(st, 409, "{r}");
    assert!(r["message"].as_str().unwrap().contains("no peer"), "{r}");
}
