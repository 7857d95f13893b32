//! The write lease (issue 18, part 1), drilled with real processes: two zones and a
//! witness, every link through a proxy that can be cut. A primary acknowledges a write
//! only inside a lease granted by its peer or the witness; a promotion waits until no
//! lease of the old primary can still run. So whatever is cut, no write is acknowledged
//! by the old primary after the new one took over.
//!
//! T = 3 s here: a holder trusts a grant 1.97 s after asking, a grantor keeps its promise
//! 4.03 s after answering.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use common::witness::Witness;
use common::zones::{holds_lease, status, wait_for, zone_at, Ports, Proxy, SECRET};
use common::{free_port, Server};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LEASE_SECONDS: u64 = 3;
const HOLDER_EXPIRY: Duration = Duration::from_millis(1_970);
const WITHIN: Duration = Duration::from_secs(30);

/// Cuts or heals some links of a site.
type LinkAction = Box<dyn Fn(&Site)>;

/// Two zones, optionally a witness, and a cuttable proxy on every link.
struct Site {
    a: Server,
    b: Server,
    /// A's link to B, B's link to A.
    a_to_b: Proxy,
    b_to_a: Proxy,
    /// Each zone's link to the witness.
    a_to_w: Option<Proxy>,
    b_to_w: Option<Proxy>,
    w: Option<Witness>,
    _wdir: tempfile::TempDir,
}

impl Site {
    async fn start(with_witness: bool) -> Site {
        Site::start_with(with_witness, false).await
    }

    /// With `auto_failover` on both zones (it needs the witness).
    async fn start_with(with_witness: bool, auto_failover: bool) -> Site {
        let wdir = tempfile::tempdir().unwrap();
        let w = with_witness
            .then(|| Witness::start(wdir.path(), free_port(), SECRET, &LEASE_SECONDS.to_string()));
        let (a_ports, b_ports) = (Ports::new(), Ports::new());
        let a_to_b = Proxy::start(b_ports.admin).await;
        let b_to_a = Proxy::start(a_ports.admin).await;
        let (mut a_to_w, mut b_to_w) = (None, None);
        if let Some(w) = &w {
            a_to_w = Some(Proxy::start(w.port).await);
            b_to_w = Some(Proxy::start(w.port).await);
        }
        let config = |to_w: &Option<Proxy>| {
            let mut c =
                format!("lease_seconds = {LEASE_SECONDS}\nauto_failover = {auto_failover}\n");
            // The drills write fast: the lag bound is not what they test.
            c += "max_lag_on_failover = 10000000\n";
            if let Some(p) = to_w {
                c += &format!("witness = \"http://127.0.0.1:{}\"\n", p.port);
            }
            c
        };
        let url = |p: &Proxy| format!("http://127.0.0.1:{}", p.port);
        let a = zone_at(
            "primary",
            &a_ports,
            &url(&a_to_b),
            &config(&a_to_w),
            &[],
            None,
        );
        let mut b = zone_at(
            "secondary",
            &b_ports,
            &url(&b_to_a),
            &config(&b_to_w),
            &[],
            None,
        );
        b.access_key = a.access_key.clone();
        b.secret_key = a.secret_key.clone();
        holds_lease(&a, WITHIN).await;
        a.client()
            .create_bucket()
            .bucket("bkt")
            .send()
            .await
            .unwrap();
        Site {
            a,
            b,
            a_to_b,
            b_to_a,
            a_to_w,
            b_to_w,
            w,
            _wdir: wdir,
        }
    }

    fn cut_zones(&self) {
        self.a_to_b.cut();
        self.b_to_a.cut();
    }

    fn heal_zones(&self) {
        self.a_to_b.heal();
        self.b_to_a.heal();
    }
}

/// A client that sends each request once: an acknowledgement is the server's, not a
/// retry's.
fn once(z: &Server) -> aws_sdk_s3::Client {
    let c = z.client();
    let conf = c
        .config()
        .to_builder()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Writes to `z` until stopped; records each acknowledged key with when it was
/// acknowledged, and each refusal's error code.
struct Writer {
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    /// Wall-clock ms of each acknowledgement, to compare with the zones' promotion times.
    acked_ms: Arc<Mutex<Vec<(String, u64)>>>,
    refused: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(z: &Server, prefix: &str) -> Writer {
        Writer::with_client(once(z), prefix)
    }

    fn with_client(c: aws_sdk_s3::Client, prefix: &str) -> Writer {
        let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let acked_ms: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let refused: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ack_ms = acked_ms.clone();
        let (ack, refs, halt, prefix) = (
            acked.clone(),
            refused.clone(),
            stop.clone(),
            prefix.to_string(),
        );
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while !halt.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let key = format!("{prefix}/{n:06}");
                let r = c
                    .put_object()
                    .bucket("bkt")
                    .key(&key)
                    .body(ByteStream::from(key.clone().into_bytes()))
                    .send()
                    .await;
                match r {
                    Ok(_) => {
                        ack_ms.lock().unwrap().push((key.clone(), wall_ms()));
                        ack.lock().unwrap().push((key, Instant::now()));
                    }
                    Err(e) => {
                        refs.lock().unwrap().push(common::err_code(&e));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        });
        Writer {
            acked,
            acked_ms,
            refused,
            stop,
            task,
        }
    }

    fn acked(&self) -> Vec<(String, Instant)> {
        self.acked.lock().unwrap().clone()
    }

    fn last_ack(&self) -> Option<Instant> {
        self.acked().last().map(|(_, t)| *t)
    }

    async fn finish(self) -> (Vec<(String, Instant)>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.expect("the writer task");
        let acked = self.acked.lock().unwrap().clone();
        let refused = self.refused.lock().unwrap().clone();
        (acked, refused)
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Keys the old primary wrote that were set aside when it rejoined.
async fn divergent_keys(z: &Server) -> Vec<String> {
    let (st, v) = z.admin("GET", "/zone/divergent", None).await;
    assert_eq!(st, 200, "{v}");
    v.as_array()
        .expect("a list")
        .iter()
        .filter_map(|d| d["key"].as_str().map(String::from))
        .collect()
}

/// Cut off from its peer and the witness, a primary stops acknowledging within T; the
/// witness agrees to the secondary's promotion only after that; nothing the old primary
/// acknowledged after the promotion exists, and after healing it is demoted and what it
/// acknowledged before losing touch is either replicated or counted as at risk.
#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_primary_stops_acknowledging_before_the_witness_agrees_to_a_promotion() {
    let site = Site::start(true).await;
    let w = Writer::start(&site.a, "iso");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cut_at = Instant::now();
    site.cut_zones();
    site.a_to_w.as_ref().unwrap().cut();

    let (st, promo) = site.b.admin("POST", "/zone/promote", None).await;
    let promoted_at = Instant::now();
    assert_eq!(st, 200, "{promo}");
    let last_ack = w.last_ack().expect("writes before the cut");
    eprintln!(
        "isolated primary: last acknowledgement {:?} after the cut, promotion agreed after {:?}",
        last_ack.saturating_duration_since(cut_at),
        promoted_at - cut_at
    );
    assert!(
        last_ack < cut_at + HOLDER_EXPIRY + Duration::from_millis(500),
        "the isolated primary acknowledged {:?} after the cut",
        last_ack - cut_at
    );
    assert!(
        last_ack < promoted_at,
        "an acknowledgement after the promotion"
    );
    // Writes go on failing on A, retryably, while B takes them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let b = site.b.client();
    common::put(&b, "bkt", "after-promotion", b"b".to_vec()).await;
    let (acked, refused) = w.finish().await;
    assert!(
        refused.iter().all(|c| c == "ServiceUnavailable"),
        "{refused:?}"
    );
    assert!(!refused.is_empty(), "A went on acknowledging");
    let e = once(&site.a)
        .put_object()
        .bucket("bkt")
        .key("late")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no lease, no write");
    assert_eq!(common::err_code(&e), "ServiceUnavailable");
    let (st, report) = site.a.admin("GET", "/zone", None).await;
    assert_eq!(st, 200);
    assert_eq!(report["lease"]["held"], false, "{report:#}");

    // Healed: A learns of the new epoch and rejoins. What it acknowledged while it held
    // its lease but B never saw is set aside, and only that: every key it set aside was
    // acknowledged before the promotion, within the lease.
    site.a_to_w.as_ref().unwrap().heal();
    site.heal_zones();
    wait_for(&site.a, WITHIN, "A to rejoin as secondary", |s| {
        s["role"] == "secondary" && s["rejoin_after"].is_null()
    })
    .await;
    let set_aside = divergent_keys(&site.b).await;
    let set_aside_a = divergent_keys(&site.a).await;
    for key in set_aside.iter().chain(&set_aside_a) {
        if let Some((_, t)) = acked.iter().find(|(k, _)| k == key) {
            assert!(*t < promoted_at, "{key} acknowledged after the promotion");
        }
    }
    let _ = &site.w;
}

/// With a witness, cutting one link changes nothing for clients: cut from its peer the
/// primary keeps its lease through the witness (and nothing is promoted, though automatic
/// failover is on); cut from the witness it keeps it through the peer; with the witness
/// down, writes go on.
#[tokio::test(flavor = "multi_thread")]
async fn one_cut_link_or_a_dead_witness_stops_no_write() {
    let mut site = Site::start_with(true, true).await;
    let a = site.a.client();
    let phases: [(&str, LinkAction, LinkAction); 2] = [
        (
            "zones cut",
            Box::new(|s: &Site| s.cut_zones()),
            Box::new(|s: &Site| s.heal_zones()),
        ),
        (
            "primary-witness cut",
            Box::new(|s: &Site| s.a_to_w.as_ref().unwrap().cut()),
            Box::new(|s: &Site| s.a_to_w.as_ref().unwrap().heal()),
        ),
    ];
    for (name, cut, heal) in phases {
        cut(&site);
        let w = Writer::start(&site.a, name);
        // Two whole lease periods: renewals must have come from the other grantor.
        tokio::time::sleep(Duration::from_secs(2 * LEASE_SECONDS)).await;
        let (acked, refused) = w.finish().await;
        assert!(refused.is_empty(), "{name}: refused {refused:?}");
        assert!(acked.len() > 20, "{name}: only {} writes", acked.len());
        let s = status(&site.a).await;
        assert_eq!(s["role"], "primary", "{name}: {s:#}");
        assert_eq!(s["lease"]["held"], true, "{name}: {s:#}");
        assert_eq!(status(&site.b).await["role"], "secondary", "{name}");
        heal(&site);
    }
    // The witness stops: the peer alone grants the lease.
    site.w.take().expect("witness").stop();
    let w = Writer::start(&site.a, "no-witness");
    tokio::time::sleep(Duration::from_secs(2 * LEASE_SECONDS)).await;
    let (acked, refused) = w.finish().await;
    assert!(refused.is_empty(), "witness down: refused {refused:?}");
    assert!(acked.len() > 20);
    let s = status(&site.a).await;
    let witness = s["lease"]["grantors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "witness")
        .cloned()
        .expect("the witness is reported");
    assert_eq!(witness["granted"], false, "{s:#}");
    assert!(witness["error"].is_string(), "{s:#}");
    let m = site.a.metrics().await;
    assert_eq!(
        common::metric_value(&m, "bascule_lease_grantor_up{grantor=\"witness\"}"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        common::metric_value(&m, "bascule_lease_held"),
        Some(1.0),
        "{m}"
    );
    common::put(&a, "bkt", "still", b"ok".to_vec()).await;
}

/// Without a witness the peer alone grants the lease: a primary cut off from its
/// secondary stops within T, the secondary's promotion waits for the lease it granted to
/// run out, then takes writes; once healed, the old primary is denied with the new
/// epoch and demoted, and grants the new primary its lease.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_witness_a_cut_primary_stops_and_the_promotion_waits_for_its_lease() {
    let site = Site::start(false).await;
    let w = Writer::start(&site.a, "cut");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cut_at = Instant::now();
    site.cut_zones();
    let (st, promo) = site.b.admin("POST", "/zone/promote", None).await;
    let promoted_at = Instant::now();
    assert_eq!(st, 200, "{promo}");
    let last_ack = w.last_ack().expect("writes before the cut");
    eprintln!(
        "no witness: last acknowledgement {:?} after the cut, promotion after {:?}",
        last_ack.saturating_duration_since(cut_at),
        promoted_at - cut_at
    );
    assert!(last_ack < cut_at + HOLDER_EXPIRY + Duration::from_millis(500));
    assert!(last_ack < promoted_at);
    let s = status(&site.b).await;
    assert_eq!(s["lease"]["rule"], "until_first_grant", "{s:#}");
    common::put(&site.b.client(), "bkt", "b-writes", b"b".to_vec()).await;
    let _ = w.finish().await;

    site.heal_zones();
    wait_for(&site.a, WITHIN, "A to be demoted", |s| {
        s["role"] == "secondary"
    })
    .await;
    let s = wait_for(&site.b, WITHIN, "B's first lease from A", |s| {
        s["lease"]["rule"] == "required" && s["lease"]["held"] == true
    })
    .await;
    assert_eq!(s["role"], "primary");
    common::put(&site.b.client(), "bkt", "b-leased", b"b".to_vec()).await;
}

/// A primary frozen (SIGSTOP) for 2T while the secondary is promoted through the witness:
/// when it wakes, the requests that reached it meanwhile are not acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_primary_acknowledges_nothing_when_it_wakes() {
    let site = Site::start(true).await;
    let pid = site.a.pid().to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig}");
    };
    let stopped_at = Instant::now();
    signal("-STOP");
    // Requests sent to the frozen primary wait in its socket.
    let c = once(&site.a);
    let pending: Vec<_> = (0..4)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                c.put_object()
                    .bucket("bkt")
                    .key(format!("frozen/{i}"))
                    .body(ByteStream::from_static(b"f"))
                    .send()
                    .await
            })
        })
        .collect();
    let (st, promo) = site.b.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 200, "{promo}");
    let frozen_for = Duration::from_secs(2 * LEASE_SECONDS);
    tokio::time::sleep(frozen_for.saturating_sub(stopped_at.elapsed())).await;
    signal("-CONT");
    for p in pending {
        let r = p.await.expect("the request task");
        match r {
            Ok(_) => panic!("a frozen primary acknowledged a write after waking"),
            Err(e) => assert_eq!(common::err_code(&e), "ServiceUnavailable", "{e:?}"),
        }
    }
    // It learns of the promotion (from the witness's denial or from B) and follows.
    wait_for(&site.a, WITHIN, "A to be demoted", |s| {
        s["role"] == "secondary"
    })
    .await;
    let _ = (&site.b_to_w, &site.w);
}

/// A data directory on its own small filesystem (a loop device), so its writes can be
/// stalled for real with `fsfreeze`. Thawed and unmounted when dropped.
struct FreezableDisk {
    mount: std::path::PathBuf,
    _image: tempfile::TempDir,
}

impl FreezableDisk {
    /// Moves `data` (a stopped zone's data directory) onto a new filesystem mounted there.
    fn under(data: &std::path::Path) -> FreezableDisk {
        let image = tempfile::tempdir().unwrap();
        let file = image.path().join("disk.img");
        let run = |cmd: &str, args: &[&str]| {
            let out = std::process::Command::new(cmd)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{cmd}: {e}"));
            assert!(
                out.status.success(),
                "{cmd} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let file_s = file.display().to_string();
        run("truncate", &["-s", "512M", &file_s]);
        run("mkfs.ext4", &["-q", &file_s]);
        let aside = image.path().join("data-before");
        std::fs::rename(data, &aside).unwrap();
        std::fs::create_dir(data).unwrap();
        let data_s = data.display().to_string();
        run("mount", &["-o", "loop", &file_s, &data_s]);
        let disk = FreezableDisk {
            mount: data.to_path_buf(),
            _image: image,
        };
        run("cp", &["-a", &format!("{}/.", aside.display()), &data_s]);
        disk
    }

    fn freeze(&self, on: bool) {
        let flag = if on { "-f" } else { "-u" };
        let ok = std::process::Command::new("fsfreeze")
            .args([flag, &self.mount.display().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok || !on, "fsfreeze {flag}");
    }
}

impl Drop for FreezableDisk {
    fn drop(&mut self) {
        self.freeze(false);
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.mount.display().to_string()])
            .status();
    }
}

/// A write stalled in its fsync for longer than the lease (the disk frozen with
/// `fsfreeze`) while the primary is cut off and the secondary promoted: when the disk
/// thaws, the write completes durably but is answered 503, never acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_stalled_in_fsync_past_the_lease_is_not_acknowledged() {
    let mut site = Site::start(false).await;
    site.a.terminate(Duration::from_secs(10));
    let disk = FreezableDisk::under(&site.a.data_dir());
    site.a.spawn();
    // Restarted, A first confirms with B that it is still primary (fenced meanwhile).
    wait_for(
        &site.a,
        WITHIN,
        "A to hold its lease and take writes",
        |s| s["lease"]["held"] == true && s["fenced"] == false,
    )
    .await;
    common::put(&once(&site.a), "bkt", "before", b"ok".to_vec()).await;

    disk.freeze(true);
    let frozen_at = Instant::now();
    let c = once(&site.a);
    let stalled = tokio::spawn(async move {
        c.put_object()
            .bucket("bkt")
            .key("stalled")
            .body(ByteStream::from(vec![7u8; 200_000]))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    site.cut_zones();
    let (st, promo) = site.b.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 200, "{promo}");
    let stall = Duration::from_secs(2 * LEASE_SECONDS);
    tokio::time::sleep(stall.saturating_sub(frozen_at.elapsed())).await;
    assert!(
        !stalled.is_finished(),
        "the write did not wait for the disk"
    );
    disk.freeze(false);
    let answer = stalled.await.expect("the write task");
    eprintln!(
        "fsync stalled {:?}: answered {:?}",
        frozen_at.elapsed(),
        answer.as_ref().map(|_| "200").map_err(common::err_code)
    );
    match answer {
        Ok(_) => panic!("a write whose lease ran out during its fsync was acknowledged"),
        Err(e) => assert_eq!(common::err_code(&e), "ServiceUnavailable", "{e:?}"),
    }
    site.heal_zones();
    wait_for(&site.a, WITHIN, "A to be demoted", |s| {
        s["role"] == "secondary"
    })
    .await;
    site.a.terminate(Duration::from_secs(10));
    drop(disk);
}

/// libfaketime (Debian's `faketime`): the zone's wall clock follows an offset written in
/// a file, re-read every second; monotonic and boot-time clocks are left alone.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The client's clock follows the same offset file, so its signatures stay within the
/// zone's 15-minute window while the zone's wall clock jumps.
#[derive(Debug)]
struct OffsetClock(std::path::PathBuf);

impl OffsetClock {
    fn offset_s(&self) -> i64 {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        match text.trim() {
            "+1h" => 3600,
            "-1h" => -3600,
            _ => 0,
        }
    }
}

impl aws_smithy_async::time::TimeSource for OffsetClock {
    fn now(&self) -> std::time::SystemTime {
        let off = self.offset_s();
        let now = std::time::SystemTime::now();
        let by = Duration::from_secs(off.unsigned_abs());
        if off >= 0 {
            now + by
        } else {
            now - by
        }
    }
}

/// The primary's wall clock jumps an hour ahead, then an hour behind, while writes go on
/// (automatic failover on, witness up): the lease runs on the boot-time clock, so it stays
/// held, no write is refused for want of it, and nothing is promoted.
#[tokio::test(flavor = "multi_thread")]
async fn a_wall_clock_jump_on_the_primary_changes_nothing() {
    assert!(
        std::path::Path::new(FAKETIME_LIB).exists(),
        "libfaketime is needed (Debian package faketime)"
    );
    let mut site = Site::start_with(true, true).await;
    let offset = site.a.dir.path().join("faketime");
    std::fs::write(&offset, "+0").unwrap();
    // Its drain waits for the secondary's journal long-poll (up to 10 s).
    site.a.terminate(Duration::from_secs(30));
    site.a.env.extend([
        ("LD_PRELOAD".to_string(), FAKETIME_LIB.to_string()),
        (
            "FAKETIME_TIMESTAMP_FILE".to_string(),
            offset.display().to_string(),
        ),
        ("FAKETIME_CACHE_DURATION".to_string(), "1".to_string()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".to_string(), "1".to_string()),
    ]);
    site.a.spawn();
    holds_lease(&site.a, WITHIN).await;
    let c = once(&site.a)
        .config()
        .to_builder()
        .time_source(OffsetClock(offset.clone()))
        .build();
    let w = Writer::with_client(aws_sdk_s3::Client::from_conf(c), "clock");
    let mut lease_lost = Vec::new();
    for (jump, hold) in [
        ("+0", 2),
        ("+1h", 3 * LEASE_SECONDS),
        ("-1h", 3 * LEASE_SECONDS),
        ("+0", 2),
    ] {
        std::fs::write(&offset, jump).unwrap();
        let until = Instant::now() + Duration::from_secs(hold);
        while Instant::now() < until {
            let s = status(&site.a).await;
            if s["lease"]["held"] != true || s["role"] != "primary" {
                lease_lost.push(format!("{jump}: {}", s["lease"]));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (acked, refused) = w.finish().await;
    eprintln!(
        "wall-clock jumps: {} writes acknowledged, {} refused as skewed while the zone's clock caught up",
        acked.len(),
        refused.len()
    );
    assert!(lease_lost.is_empty(), "{lease_lost:?}");
    // A signature made on the old clock during the second the zone takes to see a jump
    // is refused as skewed; never for want of a lease.
    assert!(
        refused.iter().all(|c| c == "RequestTimeTooSkewed"),
        "{refused:?}"
    );
    assert!(refused.len() < acked.len() / 10, "{refused:?}");
    let b = status(&site.b).await;
    assert_eq!(b["role"], "secondary", "{b:#}");
    let a = status(&site.a).await;
    assert_eq!(a["epoch"], b["epoch"], "no promotion happened: {a:#}");
    let _ = (&site.w, &site.b_to_w);
}

/// `zone promote --force` does not wait and says what it skipped.
#[tokio::test(flavor = "multi_thread")]
async fn a_forced_promotion_does_not_wait() {
    let site = Site::start(true).await;
    site.cut_zones();
    site.a_to_w.as_ref().unwrap().cut();
    site.b_to_w.as_ref().unwrap().cut();
    let started = Instant::now();
    let (st, promo) = site.b.admin("POST", "/zone/promote?force=true", None).await;
    assert_eq!(st, 200, "{promo}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Without --force, the witness being unreachable refuses a promotion: the other
    // direction, B back to secondary, is not needed; ask a fresh pair instead.
    let other = Site::start(true).await;
    other.b_to_w.as_ref().unwrap().cut();
    other.cut_zones();
    let (st, refused) = other.b.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 503, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("witness"),
        "{refused}"
    );
    assert_eq!(status(&other.b).await["role"], "secondary");
}

/// Automatic failover: the primary dies; the secondary, hearing nothing for T, asks the
/// witness, which agrees once its promise to the old primary ran out. Reports the write
/// unavailability (from the kill to the first write the new primary acknowledges).
#[tokio::test(flavor = "multi_thread")]
async fn automatic_failover_after_the_old_lease_expired() {
    let mut site = Site::start_with(true, true).await;
    common::put(&site.a.client(), "bkt", "before", b"a".to_vec()).await;
    common::zones::caught_up(&site.a, &site.b, WITHIN).await;
    let killed_at = Instant::now();
    site.a.kill();
    let b = once(&site.b);
    let first_write = loop {
        let r = b
            .put_object()
            .bucket("bkt")
            .key("after")
            .body(ByteStream::from_static(b"b"))
            .send()
            .await;
        if r.is_ok() {
            break killed_at.elapsed();
        }
        assert!(killed_at.elapsed() < WITHIN, "no automatic failover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let s = status(&site.b).await;
    assert_eq!(s["role"], "primary", "{s:#}");
    eprintln!(
        "automatic failover (T = {LEASE_SECONDS} s): first write acknowledged by the new primary {first_write:?} after the old one died"
    );
    // Never before the old primary's lease could have run out.
    assert!(first_write > HOLDER_EXPIRY, "{first_write:?}");
    assert_eq!(
        common::get(&site.b.client(), "bkt", "before")
            .await
            .as_deref(),
        Some(&b"a"[..])
    );
    let _ = (&site.w, &site.a_to_w, &site.b_to_w);
}

/// How long the flapping drill runs (both halves together): `BASCULE_FLAP_SECONDS`,
/// 40 s in CI; the 10-minute run is done by hand with `BASCULE_FLAP_SECONDS=600`.
fn flap_for() -> Duration {
    let secs = std::env::var("BASCULE_FLAP_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40u64);
    Duration::from_secs(secs / 2)
}

/// A random cut length: mostly short, sometimes longer than T (long enough for automatic
/// failover to start asking).
fn cut_length(rng: &mut impl rand::Rng) -> Duration {
    if rng.gen_ratio(1, 5) {
        Duration::from_millis(rng.gen_range(3_000..6_500))
    } else {
        Duration::from_millis(rng.gen_range(100..2_500))
    }
}

impl Site {
    /// Cuts exactly the links named, heals the others. Links: 0 the zones, 1 A–witness,
    /// 2 B–witness.
    fn set_cuts(&self, cut: [bool; 3]) {
        if cut[0] {
            self.cut_zones()
        } else {
            self.heal_zones()
        }
        for (proxy, c) in [(&self.a_to_w, cut[1]), (&self.b_to_w, cut[2])] {
            let p = proxy.as_ref().expect("a witness");
            if c {
                p.cut()
            } else {
                p.heal()
            }
        }
    }
}

/// Flapping links, with automatic failover on. First one link at a time (the primary
/// always keeps a grantor): no promotion, nothing set aside. Then any links at once: the
/// zones may change roles, but never two lease holders: every write set aside when a zone
/// rejoins was acknowledged before the promotion that superseded it.
#[tokio::test(flavor = "multi_thread")]
async fn flapping_links_never_make_two_lease_holders() {
    use rand::{Rng, SeedableRng};
    let seed: u64 = rand::random();
    eprintln!("flapping drill seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let site = Site::start_with(true, true).await;

    // 1. One link at a time.
    let w = Writer::start(&site.a, "one");
    let end = Instant::now() + flap_for();
    let mut cuts = 0;
    while Instant::now() < end {
        let mut cut = [false; 3];
        cut[rng.gen_range(0..3)] = true;
        site.set_cuts(cut);
        cuts += 1;
        tokio::time::sleep(cut_length(&mut rng)).await;
    }
    site.set_cuts([false; 3]);
    let (acked, refused) = w.finish().await;
    eprintln!(
        "one link at a time: {cuts} cuts, {} writes acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    assert!(
        refused.iter().all(|c| c == "ServiceUnavailable"),
        "{refused:?}"
    );
    assert!(acked.len() > 50, "only {} writes", acked.len());
    for z in [&site.a, &site.b] {
        let s = status(z).await;
        assert_eq!(
            s["epoch"], 1,
            "a promotion while the primary had a grantor: {s:#}"
        );
    }
    assert_eq!(status(&site.a).await["role"], "primary");

    // 2. Any links at once; clients write to both zones.
    let (wa, wb) = (
        Writer::start(&site.a, "any-a"),
        Writer::start(&site.b, "any-b"),
    );
    let end = Instant::now() + flap_for();
    while Instant::now() < end {
        site.set_cuts([rng.gen(), rng.gen(), rng.gen()]);
        tokio::time::sleep(cut_length(&mut rng)).await;
    }
    site.set_cuts([false; 3]);
    let acked_a = wa.acked_ms.lock().unwrap().clone();
    let acked_b = wb.acked_ms.lock().unwrap().clone();
    let _ = (wa.finish().await, wb.finish().await);
    // Healed: one primary, the other following it.
    let settled = |s: &serde_json::Value| s["role"] == "secondary" && s["rejoin_after"].is_null();
    let deadline = Instant::now() + WITHIN * 2;
    let (primary, secondary) = loop {
        let (sa, sb) = (status(&site.a).await, status(&site.b).await);
        if sa["role"] == "primary" && settled(&sb) {
            break (&site.a, &site.b);
        }
        if sb["role"] == "primary" && settled(&sa) {
            break (&site.b, &site.a);
        }
        assert!(Instant::now() < deadline, "no settled pair: {sa:#} {sb:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (st, report) = primary.admin("GET", "/zone", None).await;
    assert_eq!(st, 200);
    let promotions: Vec<(u64, u64)> = report["promotions"]
        .as_array()
        .expect("promotions")
        .iter()
        .map(|p| (p["epoch"].as_u64().unwrap(), p["at_ms"].as_u64().unwrap()))
        .collect();
    eprintln!("any links: promotions (epoch, at_ms) {promotions:?}");
    let mut set_aside = divergent_keys(primary).await;
    set_aside.extend(divergent_keys(secondary).await);
    for key in &set_aside {
        // Roles alternate: A holds the odd epochs, B the even ones.
        let (acked, a_wrote) = if key.starts_with("any-a/") {
            (&acked_a, true)
        } else {
            (&acked_b, false)
        };
        let Some((_, at)) = acked.iter().find(|(k, _)| k == key) else {
            continue; // never acknowledged: nothing was promised
        };
        let next = promotions.iter().find(|(_, p_at)| p_at > at);
        let Some((epoch, _)) = next else {
            panic!("{key} acknowledged at {at} was set aside with no promotion after it");
        };
        assert_eq!(
            epoch % 2 == 1,
            !a_wrote,
            "{key} acknowledged at {at} by a zone that was already superseded: {promotions:?}"
        );
    }
    eprintln!(
        "any links: {} writes set aside, all acknowledged before their zone was superseded",
        set_aside.len()
    );
}
