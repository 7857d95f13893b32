//! Failover drills with two real zones: unplanned promotion after SIGKILL, planned
//! switchover under continuous writes, a partition with divergent writes and failback,
//! a restarted old primary that must check its peer, and a large transfer that resumes.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use common::zones::{
    assert_just_demoted, assert_read_only, assert_retry_later, caught_up, proxied_pair, status,
    wait_for, Pair,
};
use common::{data, err_code, get, list_keys as keys, put, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

/// The body written under key number `i` (sizes mix inline and blob objects).
fn body(i: usize) -> Vec<u8> {
    let len = if i.is_multiple_of(7) {
        150_000 + i
    } else {
        1_000 + i * 13
    };
    data(len, (i % 251) as u8)
}

fn key(i: usize) -> String {
    format!("w/{i:05}")
}

fn cli(zone: &Server, args: &[&str]) -> (bool, String) {
    zone.admin_cli(args)
}

/// Writes keys `w/00000`, `w/00001`... until stopped, following the primary when a zone
/// answers ZoneReadOnly (by its `x-bascule-primary` header). Returns the acknowledged keys.
struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(zones: Vec<(String, aws_sdk_s3::Client)>, give_up_on_error: bool) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
        let (st, ack) = (stop.clone(), acked.clone());
        let task = tokio::spawn(async move {
            let mut current = 0usize;
            let mut i = 0usize;
            while !st.load(Ordering::SeqCst) {
                let c = &zones[current].1;
                let r = c
                    .put_object()
                    .bucket("bkt")
                    .key(key(i))
                    .body(ByteStream::from(body(i)))
                    .send()
                    .await;
                match r {
                    Ok(_) => {
                        ack.lock().unwrap().push(i);
                        i += 1;
                    }
                    // A replica names the primary; so does a zone demoted a moment ago,
                    // in its retryable answer.
                    Err(e)
                        if err_code(&e) == "ZoneReadOnly"
                            || e.raw_response().is_some_and(|r| {
                                r.headers().get("x-bascule-primary").is_some()
                            }) =>
                    {
                        let primary = e
                            .raw_response()
                            .and_then(|r| r.headers().get("x-bascule-primary"))
                            .map(String::from);
                        if let Some(p) = primary {
                            if let Some(n) = zones.iter().position(|(url, _)| *url == p) {
                                current = n;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(_) if give_up_on_error => return,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        Writer { stop, acked, task }
    }

    async fn finish(self) -> Vec<usize> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the writer task panicked");
        let acked = self.acked.lock().unwrap().clone();
        acked
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

async fn wait_writes(w: &Writer, n: usize) {
    for _ in 0..600 {
        if w.count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the writer did not get {n} writes acknowledged");
}

/// GET /health/<what> on a zone's admin listener: status and body.
async fn health(z: &Server, what: &str) -> (u16, String) {
    let r = reqwest::get(format!("{}/health/{what}", z.admin))
        .await
        .expect("health probe");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_1_unplanned_failover_after_sigkill() {
    let mut pair = Pair::start("");
    let a = pair.a.client();
    a.create_bucket().bucket("bkt").send().await.unwrap();
    // The drills run on a versioned bucket: versions are what fail over.
    common::set_versioning(&a, "bkt", "Enabled").await;
    let writer = Writer::start(vec![(pair.a.s3.clone(), a.clone())], true);
    // The load balancer's probe: only the zone that takes writes answers 200.
    assert_eq!(health(&pair.a, "writable").await.0, 200);
    let (st, text) = health(&pair.b, "writable").await;
    assert_eq!(st, 503, "{text}");
    assert!(text.contains("role=secondary"), "{text}");
    wait_writes(&writer, 150).await;
    pair.a.kill();
    let acked = writer.finish().await;
    // A secondary that lost its primary still serves reads, and says it is degraded.
    let mut ready = String::new();
    for _ in 0..100 {
        ready = health(&pair.b, "ready").await.1;
        if ready.starts_with("degraded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready.starts_with("degraded: the primary is unreachable")
            || ready.starts_with("degraded: replication is failing"),
        "{ready}"
    );

    let (ok, out) = cli(&pair.b, &["zone", "promote"]);
    assert!(ok, "{out}");
    assert!(out.contains("Promoted to primary with epoch 2"), "{out}");
    let (versions, markers) = common::all_versions(&pair.b.client(), "bkt", 1000).await;
    assert!(markers.is_empty());
    assert!(
        !versions.is_empty() && versions.iter().all(|v| v.1 != "null" && v.2),
        "every replicated write is its own version: {versions:?}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&out[out.find('{').unwrap()..]).expect("promotion JSON");
    let applied = report["after_seq"].as_u64().unwrap();
    assert!(
        report["entries_at_risk"].is_u64(),
        "lost window reported: {report}"
    );
    // The new primary counts as pending only what the old one lacks: what is written from
    // the promotion on, not the whole journal it replicated from it (issue 21, point 4).
    let s = status(&pair.b).await;
    assert_eq!(s["entries_pending"], 0, "{s:#}");

    // Every object whose entry the secondary applied reads back identical.
    let b = pair.b.client();
    let on_b = keys(&b, "bkt").await;
    let journal = pair.b.journal(0).await;
    assert_eq!(
        journal.last().and_then(|e| e["seq"].as_u64()),
        Some(applied)
    );
    let mut replicated = 0;
    for e in &journal {
        if e["op"]["type"] == "put_object" && e["op"]["bucket"] == "bkt" {
            let k = e["op"]["key"].as_str().unwrap();
            assert!(on_b.contains(&k.to_string()), "{k} applied but missing");
            replicated += 1;
        }
    }
    for k in &on_b {
        let i: usize = k.trim_start_matches("w/").parse().unwrap();
        assert_eq!(
            get(&b, "bkt", k).await.as_deref(),
            Some(body(i).as_slice()),
            "{k}"
        );
    }
    let lost = acked.iter().filter(|i| !on_b.contains(&key(**i))).count();
    eprintln!(
        "drill 1: {} writes acknowledged, {replicated} replicated, {lost} lost in the window; promotion reported {} at risk",
        acked.len(),
        report["entries_at_risk"]
    );
    assert!(replicated > 0);

    // The new primary takes writes at once, and the probe says so.
    put(&b, "bkt", "after-failover", data(10, 1)).await;
    let (st, text) = health(&pair.b, "writable").await;
    assert_eq!(st, 200, "{text}");
    assert!(text.contains("role=primary epoch=2"), "{text}");
    assert_eq!(health(&pair.b, "ready").await.1, "ready\n");
    let s = status(&pair.b).await;
    assert_eq!(s["role"], "primary");
    assert_eq!(s["epoch"], 2);
    assert_eq!(s["promotions"][0]["kind"], "promote");
    assert_eq!(s["promotions"][0]["after_seq"], applied);
    // Pending: the one write since the promotion, which the old primary lacks.
    assert_eq!(s["entries_pending"], 1, "{s:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_2_planned_switchover_under_writes_loses_nothing() {
    let pair = Pair::start("");
    let (a, b) = (pair.a.client(), pair.b.client());
    a.create_bucket().bucket("bkt").send().await.unwrap();
    common::set_versioning(&a, "bkt", "Enabled").await;
    let writer = Writer::start(
        vec![
            (pair.a.s3.clone(), a.clone()),
            (pair.b.s3.clone(), b.clone()),
        ],
        false,
    );
    wait_writes(&writer, 100).await;
    let (ok, out) = cli(&pair.a, &["zone", "switchover"]);
    assert!(ok, "{out}");
    let before = writer.count();
    wait_writes(&writer, before + 100).await;
    // Back again, this time asked on the secondary (it forwards to the primary).
    let (ok, out) = cli(&pair.a, &["zone", "switchover"]);
    assert!(ok, "{out}");
    let before = writer.count();
    wait_writes(&writer, before + 50).await;
    let acked = writer.finish().await;

    assert_eq!(status(&pair.a).await["role"], "primary");
    assert_eq!(status(&pair.b).await["role"], "secondary");
    assert_eq!(status(&pair.a).await["epoch"], 3);
    caught_up(&pair.a, &pair.b, WITHIN).await;
    let (on_a, on_b) = (keys(&a, "bkt").await, keys(&b, "bkt").await);
    assert_eq!(on_a, on_b);
    // Version for version: same ids, ETags and times on both sides after two switchovers.
    assert_eq!(
        common::all_versions(&a, "bkt", 1000).await,
        common::all_versions(&b, "bkt", 1000).await
    );
    for i in &acked {
        assert!(
            on_a.contains(&key(*i)),
            "acknowledged write {} lost",
            key(*i)
        );
    }
    for i in acked.iter().step_by(7) {
        assert_eq!(
            get(&b, "bkt", &key(*i)).await.as_deref(),
            Some(body(*i).as_slice())
        );
    }
    let promotions = status(&pair.a).await["promotions"].clone();
    assert_eq!(promotions[1]["kind"], "switchover");
    assert_eq!(promotions[1]["entries_at_risk"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_3_partition_promote_heal_quarantine_and_fail_back() {
    let (za, zb, to_a, to_b) = proxied_pair().await;
    let (a, b) = (za.client(), zb.client());
    a.create_bucket().bucket("bkt").send().await.unwrap();
    for i in 1..=5 {
        put(&a, "bkt", &format!("before/{i}"), data(1000 * i, i as u8)).await;
    }
    caught_up(&za, &zb, WITHIN).await;

    to_a.cut();
    to_b.cut();
    wait_for(&zb, WITHIN, "B to notice the cut", |s| {
        s["peer_reachable"] == false
    })
    .await;
    // A, still primary on its side, accepts writes that B will never see.
    put(&a, "bkt", "divergent/1", data(70_000, 11)).await;
    put(&a, "bkt", "divergent/2", data(500, 12)).await;
    put(&a, "bkt", "before/1", data(33, 13)).await;
    a.delete_object()
        .bucket("bkt")
        .key("before/2")
        .send()
        .await
        .unwrap();
    let (st, promo) = zb.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 200, "{promo}");
    put(&b, "bkt", "after/1", data(900, 21)).await;
    put(&b, "bkt", "before/3", data(444, 22)).await;

    to_a.heal();
    to_b.heal();
    // A learns of epoch 2, demotes itself, refuses writes, and converges on B.
    wait_for(&za, WITHIN, "A to demote itself", |s| {
        s["role"] == "secondary"
    })
    .await;
    // Demoted a moment ago: retryable, naming the new primary.
    let named = assert_just_demoted(&a, "bkt").await;
    assert_eq!(named.as_deref(), Some(zb.s3.as_str()));
    wait_for(&za, WITHIN, "A to finish its rejoin", |s| {
        s["rejoin_after"].is_null() && s["resync"].is_null()
    })
    .await;
    caught_up(&zb, &za, WITHIN).await;
    let (on_a, on_b) = (keys(&a, "bkt").await, keys(&b, "bkt").await);
    assert_eq!(on_a, on_b);
    assert!(!on_a.contains(&"divergent/1".to_string()));
    assert!(
        on_a.contains(&"before/2".to_string()),
        "B never saw the delete"
    );
    for k in &on_b {
        assert_eq!(get(&a, "bkt", k).await, get(&b, "bkt", k).await, "{k}");
    }
    // The divergent writes are set aside, listed and readable.
    let (st, list) = za.admin("GET", "/zone/divergent", None).await;
    assert_eq!(st, 200);
    let list = list.as_array().unwrap().clone();
    let find = |k: &str, kind: &str| {
        list.iter()
            .find(|q| q["key"] == k && q["kind"] == kind)
            .unwrap_or_else(|| panic!("{k} ({kind}) not in {list:#?}"))
            .clone()
    };
    let d1 = find("divergent/1", "put_object");
    find("divergent/2", "put_object");
    find("before/1", "put_object");
    find("before/2", "delete_object");
    let (st, bytes) = za.divergent_data(d1["id"].as_str().unwrap()).await;
    assert_eq!((st, bytes), (200, data(70_000, 11)));
    let (ok, out) = cli(&za, &["zone", "divergent"]);
    assert!(
        ok && out.contains("divergent/1") && out.contains("delete_object"),
        "{out}"
    );
    // The dashboard lists them too, with a download link giving the same bytes.
    let (http, cookie) = common::browser::dashboard_session(&za).await;
    let page = http
        .get(format!("{}/dashboard", za.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link = format!(
        "/dashboard/zone/divergent/{}/data",
        d1["id"].as_str().unwrap()
    );
    assert!(
        page.contains(&link) && page.contains("bkt/divergent/1"),
        "{page}"
    );
    let download = http
        .get(format!("{}{link}", za.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(
        download.bytes().await.unwrap().as_ref(),
        data(70_000, 11).as_slice()
    );

    // Fail back with a planned switchover: no loss.
    put(&b, "bkt", "after/2", data(100, 23)).await;
    let (st, v) = zb.admin("POST", "/zone/switchover", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(status(&za).await["role"], "primary");
    put(&a, "bkt", "after-failback", data(100, 24)).await;
    caught_up(&za, &zb, WITHIN).await;
    let (on_a, on_b) = (keys(&a, "bkt").await, keys(&b, "bkt").await);
    assert_eq!(on_a, on_b);
    for k in ["after/1", "after/2", "after-failback", "before/3"] {
        assert!(on_a.contains(&k.to_string()), "{k}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_primary_waits_for_its_peer_unless_forced() {
    let mut pair = Pair::start("");
    let a = pair.a.client();
    a.create_bucket().bucket("bkt").send().await.unwrap();
    put(&a, "bkt", "k", data(10, 1)).await;
    caught_up(&pair.a, &pair.b, WITHIN).await;

    // Peer down: the restarted primary refuses writes.
    pair.b.kill();
    pair.a.kill();
    pair.a.spawn();
    let a = pair.a.client();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_retry_later(&a, "bkt").await;
    assert!(status(&pair.a).await["fenced"] == true);
    // The peer comes back as a secondary: writes resume.
    pair.b.spawn();
    wait_for(&pair.a, WITHIN, "the fence to lift", |s| {
        s["fenced"] == false
    })
    .await;
    put(&a, "bkt", "x", data(5, 2)).await;

    // --force-primary skips the check.
    pair.b.kill();
    pair.a.kill();
    pair.a.add_args(&["--force-primary"]);
    pair.a.spawn();
    let fa = pair.a.client();
    put(&fa, "bkt", "forced", data(5, 3)).await;
    assert_eq!(status(&pair.a).await["fenced"], false);
}
#[tokio::test(flavor = "multi_thread")]
async fn drill_4_a_large_transfer_resumes_after_the_secondary_is_killed() {
    const SIZE: usize = 1024 * 1024 * 1024;
    // Throttled so the kill lands mid-transfer.
    let mut pair = Pair::start("fetch_rate_limit = 104857600");
    let a = pair.a.client();
    a.create_bucket().bucket("bkt").send().await.unwrap();
    let file = pair.a.dir.path().join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let chunk = data(1024 * 1024, 9);
        for _ in 0..SIZE / chunk.len() {
            f.write_all(&chunk).unwrap();
        }
    }
    let put = a
        .put_object()
        .bucket("bkt")
        .key("big.bin")
        .body(ByteStream::from_path(&file).await.unwrap())
        .send()
        .await
        .unwrap();
    let fetched = |s: &serde_json::Value| s["replication"]["bytes_fetched"].as_u64().unwrap_or(0);
    wait_for(&pair.b, WITHIN, "300 MiB fetched", |s| {
        fetched(s) >= 300 << 20
    })
    .await;
    pair.b.kill();
    pair.b.spawn();
    caught_up(&pair.a, &pair.b, Duration::from_secs(120)).await;
    let s = status(&pair.b).await;
    let resumed = s["replication"]["last_resume"]["offset"]
        .as_u64()
        .unwrap_or(0);
    assert!(resumed >= 250 << 20, "resumed from {resumed}: {s:#}");
    assert!(
        fetched(&s) <= (SIZE as u64) - resumed,
        "after the restart only the rest was fetched: {s:#}"
    );
    let head = pair
        .b
        .client()
        .head_object()
        .bucket("bkt")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag(), put.e_tag());
    assert_eq!(head.content_length(), Some(SIZE as i64));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_switchover_keeps_writes_stopped_then_resumes_them() {
    let mut pair = Pair::start("");
    let a = pair.a.client();
    a.create_bucket().bucket("bkt").send().await.unwrap();
    caught_up(&pair.a, &pair.b, WITHIN).await;
    pair.b.kill();
    put(&a, "bkt", "unreplicated", data(10, 1)).await;
    let admin = pair.a.admin.clone();
    let token = pair.a.token.clone();
    let switchover = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(format!("{admin}/admin/v1/zone/switchover?timeout_s=3"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    // Well past the heartbeat: the primary still refuses writes while it waits.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_retry_later(&a, "bkt").await;
    let (status_code, body) = switchover.await.unwrap();
    assert_eq!(status_code, 503, "{body}");
    assert!(body.contains("abandoned"), "{body}");
    // Still primary, and writes again.
    assert_eq!(status(&pair.a).await["role"], "primary");
    put(&a, "bkt", "after", data(10, 2)).await;
}

/// The answer to "promote" is lost after the peer did promote (and the link goes down with
/// it): the old primary takes no write at its old epoch. It stays stopped until it hears
/// from the peer, then follows it; nothing is divergent and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_promote_answer_never_splits_the_brain() {
    let (za, zb, _to_a, to_b) = proxied_pair().await;
    let (a, b) = (za.client(), zb.client());
    a.create_bucket().bucket("bkt").send().await.unwrap();
    let writer = Writer::start(
        vec![(za.s3.clone(), a.clone()), (zb.s3.clone(), b.clone())],
        false,
    );
    wait_writes(&writer, 30).await;

    to_b.swallow_answers_to("/replication/v1/promote", true);
    let (ok, out) = cli(&za, &["zone", "switchover"]);
    assert!(!ok, "the switchover cannot know it succeeded: {out}");
    assert!(out.contains("outcome unknown"), "{out}");
    assert!(to_b.swallowed());
    let promoted = wait_for(&zb, WITHIN, "B to be primary", |s| {
        s["role"] == "primary" && s["epoch"] == 2
    })
    .await;
    let point = promoted["promotions"][0]["after_seq"].as_u64().unwrap();
    // A does not know: it holds writes (retry later), at epoch 1.
    let s = status(&za).await;
    assert_eq!(
        (s["role"].as_str(), s["fenced"].as_bool()),
        (Some("primary"), Some(true))
    );
    assert_retry_later(&a, "bkt").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_retry_later(&a, "bkt").await;

    to_b.stop_swallowing();
    to_b.heal();
    wait_for(&za, WITHIN, "A to follow B", |s| {
        s["role"] == "secondary" && s["epoch"] == 2
    })
    .await;
    let before = writer.count();
    wait_writes(&writer, before + 30).await;
    let acked = writer.finish().await;

    // Nothing was written at epoch 1 after the promotion point, nothing set aside.
    for e in za.journal(point).await {
        assert_eq!(e["epoch"], 2, "an entry after the promotion point: {e}");
    }
    let (st, div) = za.admin("GET", "/zone/divergent", None).await;
    assert_eq!(st, 200);
    assert_eq!(div.as_array().map(Vec::len), Some(0), "{div}");
    caught_up(&zb, &za, WITHIN).await;
    let on_b = keys(&b, "bkt").await;
    for i in &acked {
        assert!(
            on_b.contains(&key(*i)),
            "acknowledged write {} lost",
            key(*i)
        );
    }
}

/// Right after a switchover the old primary names the new one, in a retryable refusal (503
/// and `Retry-After`, which SDKs and HAProxy retry): a client that follows it writes again
/// within a second. Once `zone.demoted_retry_seconds` have passed, the refusal is final
/// (`403 ZoneReadOnly`).
#[tokio::test(flavor = "multi_thread")]
async fn after_a_switchover_the_old_primary_names_the_new_one_at_once() {
    let pair = Pair::start("");
    let (a, b) = (pair.a.client(), pair.b.client());
    a.create_bucket().bucket("bkt").send().await.unwrap();
    put(&a, "bkt", "before", data(10, 1)).await;
    let (ok, out) = cli(&pair.a, &["zone", "switchover"]);
    assert!(ok, "{out}");
    let switched = std::time::Instant::now();
    let named = assert_just_demoted(&a, "bkt").await;
    assert_eq!(named.as_deref(), Some(pair.b.s3.as_str()));
    put(&b, "bkt", "after", data(10, 2)).await;
    assert!(
        switched.elapsed() < Duration::from_secs(1),
        "writing again took {:?}",
        switched.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(switched.elapsed())).await;
    let named = assert_read_only(&a, "bkt").await;
    assert_eq!(named.as_deref(), Some(pair.b.s3.as_str()));
}
