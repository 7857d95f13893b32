//! The scrub (issue 18, part 3), with real processes: damage planted in a zone's files and
//! metadata store (a flipped byte, a truncated blob, a deleted blob, corrupt inline bytes,
//! a flipped byte in an encrypted blob)
//! is found within one pass and repaired from the peer zone; a standalone zone reports
//! it instead. Clients read the original bytes afterwards.

mod common;
use common::zones::{caught_up, Pair};
use common::Server;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SCRUB: &str = "\n[scrub]\nbytes_per_second = 500000000\ninterval_seconds = 86400\n";
const WITHIN: Duration = Duration::from_secs(60);

/// Distinct sizes: a blob file is found by its length. "inline" is stored inline,
/// "sealed" encrypted (SSE-S3: its chunks' tags are what the scrub checks).
const OBJECTS: [(&str, usize); 5] = [
    ("flip", 200_000),
    ("truncate", 300_000),
    ("delete", 400_000),
    ("inline", 1_000),
    ("sealed", 500_000),
];
const DAMAGED: usize = OBJECTS.len();

/// The stored size of `len` bytes sealed: a 16-byte tag per 64 KiB chunk.
fn sealed_len(len: usize) -> usize {
    len + len.div_ceil(64 * 1024) * 16
}

fn body(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

/// The blob file of `len` bytes under `data`'s blob directories.
fn blob_of(data: &Path, len: usize) -> PathBuf {
    let mut found = Vec::new();
    let mut dirs = vec![data.join("data").join("blobs")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if e.metadata().unwrap().len() == len as u64 {
                found.push(p);
            }
        }
    }
    assert_eq!(
        found.len(),
        1,
        "blobs of {len} bytes in {}: {found:?}",
        data.display()
    );
    found.pop().unwrap()
}

/// Plants the five kinds of damage in a stopped zone's data directory.
fn plant_damage(data: &Path) {
    let flip = blob_of(data, OBJECTS[0].1);
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[12_345] ^= 0x40;
    std::fs::write(&flip, bytes).unwrap();
    let cut = blob_of(data, OBJECTS[1].1);
    let f = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
    f.set_len(100_000).unwrap();
    std::fs::remove_file(blob_of(data, OBJECTS[2].1)).unwrap();
    // The inline object's bytes, in the metadata store's `inline` column family.
    let meta = data.join("meta");
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &meta).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &meta, &cfs).unwrap();
    let inline = db.cf_handle("inline").expect("the inline column family");
    let want = body(OBJECTS[3].0, OBJECTS[3].1);
    let mut hit = None;
    for item in db.iterator_cf(inline, rocksdb::IteratorMode::Start) {
        let (k, v) = item.unwrap();
        if *v == *want {
            hit = Some(k.to_vec());
        }
    }
    let id = hit.expect("the inline object's bytes");
    let mut bad = want.clone();
    bad[10] ^= 0x01;
    db.put_cf(inline, &id, bad).unwrap();
    db.flush_cf(inline).unwrap();
    // An encrypted blob: one flipped byte in its third chunk.
    let sealed = blob_of(data, sealed_len(OBJECTS[4].1));
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[150_000] ^= 0x01;
    std::fs::write(&sealed, bytes).unwrap();
}

async fn put_objects(z: &Server) {
    let c = z.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    for (key, len) in OBJECTS {
        let mut put = c.put_object().bucket("bkt").key(key);
        if key == "sealed" {
            put = put.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256);
        }
        put.body(body(key, len).into()).send().await.unwrap();
    }
}

/// Asks for a pass and waits for it to end; returns the report.
async fn scrub_pass(z: &Server) -> serde_json::Value {
    let (st, before) = z.admin("GET", "/zone/scrub", None).await;
    assert_eq!(st, 200, "{before}");
    let passes = before["passes_completed"].as_u64().unwrap();
    let (st, r) = z.admin("POST", "/zone/scrub", None).await;
    assert_eq!(st, 202, "{r}");
    let deadline = Instant::now() + WITHIN;
    loop {
        let (_, r) = z.admin("GET", "/zone/scrub", None).await;
        if r["passes_completed"].as_u64().unwrap() > passes && r["running_in"].is_null() {
            return r;
        }
        assert!(Instant::now() < deadline, "no scrub pass: {r:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_intact(z: &Server) {
    let c = z.client();
    for (key, len) in OBJECTS {
        let got = common::get(&c, "bkt", key).await;
        assert_eq!(
            got.as_deref(),
            Some(&body(key, len)[..]),
            "{key} on {}",
            z.s3
        );
    }
}

/// Every damaged object's GET fails (a 500 before the body, or a body cut short with an
/// error): a client never receives damaged bytes as a complete object.
async fn assert_no_damaged_bytes_served(z: &Server) {
    let c = z.client();
    for (key, _) in OBJECTS {
        match c.get_object().bucket("bkt").key(key).send().await {
            Ok(got) => {
                let body = got.body.collect().await;
                assert!(body.is_err(), "{key}: damaged bytes served whole");
            }
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                assert_eq!(status, Some(500), "{key}: {e:?}");
                assert_eq!(common::err_code(&e), "InternalError", "{key}");
            }
        }
    }
    // A range inside the damage is not checked by a digest, but a truncated or missing
    // blob is refused before any byte.
    for key in ["truncate", "delete"] {
        let got = c
            .get_object()
            .bucket("bkt")
            .key(key)
            .range("bytes=0-99")
            .send()
            .await;
        assert!(got.is_err(), "{key}: a range of a damaged blob was served");
    }
}

fn assert_repaired_all(r: &serde_json::Value) {
    let damaged = r["damaged"].as_array().expect("damaged list");
    let keys: Vec<&str> = damaged.iter().filter_map(|d| d["key"].as_str()).collect();
    for (key, _) in OBJECTS {
        assert!(keys.contains(&key), "{key} not found damaged: {r:#}");
    }
    assert!(
        damaged.iter().all(|d| d["repaired"] == true),
        "not all repaired: {r:#}"
    );
    assert_eq!(r["unrepaired"], 0, "{r:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scrub_repairs_damage_from_the_peer_zone_on_either_side() {
    let mut pair = Pair::start(SCRUB);
    put_objects(&pair.a).await;
    caught_up(&pair.a, &pair.b, WITHIN).await;

    // The secondary first, then the primary: each is repaired from the other.
    for side in ["secondary", "primary"] {
        let z = if side == "secondary" {
            &mut pair.b
        } else {
            &mut pair.a
        };
        z.terminate(Duration::from_secs(10));
        plant_damage(&z.data_dir());
        z.spawn();
        let started = Instant::now();
        let r = scrub_pass(z).await;
        eprintln!(
            "{side}: one pass found and repaired {} damaged segments in {:?}",
            r["repaired"],
            started.elapsed()
        );
        assert_repaired_all(&r);
        assert_eq!(r["repaired"], DAMAGED, "{r:#}");
        assert_intact(z).await;
        let m = z.metrics().await;
        assert_eq!(
            common::metric_value(&m, "bascule_scrub_repaired_total"),
            Some(DAMAGED as f64),
            "{m}"
        );
        assert_eq!(
            common::metric_value(&m, "bascule_scrub_unrepaired"),
            Some(0.0),
            "{m}"
        );
        // A second pass finds nothing more.
        let again = scrub_pass(z).await;
        assert_eq!(again["damaged_found"], r["damaged_found"], "{again:#}");
    }
    if common::zones::status(&pair.a).await["role"] == "primary" {
        assert_intact(&pair.b).await;
    }
}

/// Without a peer nothing can repair the damage: it is reported (and stays reported),
/// and the data is left as found.
#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_zone_reports_damage_it_cannot_repair() {
    let mut z = Server::prepare(&[], |_| {});
    let cfg = z.write_config(SCRUB);
    z.env.push(("BASCULE_CONFIG".into(), cfg));
    z.spawn();
    put_objects(&z).await;
    z.terminate(Duration::from_secs(10));
    plant_damage(&z.data_dir());
    z.spawn();
    assert_no_damaged_bytes_served(&z).await;
    let r = scrub_pass(&z).await;
    assert_eq!(r["unrepaired"], DAMAGED, "{r:#}");
    assert_eq!(r["repaired"], 0, "{r:#}");
    let flip = r["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == "flip")
        .cloned()
        .expect("the flipped blob is reported");
    assert!(
        flip["problem"].as_str().unwrap().contains("CRC32C"),
        "{flip:#}"
    );
    let sealed = r["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == "sealed")
        .cloned()
        .expect("the flipped encrypted blob is reported");
    assert!(
        sealed["problem"]
            .as_str()
            .unwrap()
            .contains("chunk 2 does not authenticate"),
        "{sealed:#}"
    );
    assert!(
        flip["repair_error"]
            .as_str()
            .unwrap()
            .contains("standalone"),
        "{flip:#}"
    );
    let m = z.metrics().await;
    assert_eq!(
        common::metric_value(&m, "bascule_scrub_unrepaired"),
        Some(DAMAGED as f64),
        "{m}"
    );
    // The damage stays in place (nothing is set aside without a fresh copy).
    assert_eq!(
        std::fs::metadata(blob_of(&z.data_dir(), OBJECTS[0].1))
            .unwrap()
            .len(),
        OBJECTS[0].1 as u64
    );

    // The findings are kept: after a restart, before any new pass, the same ones are
    // reported damaged.
    z.terminate(Duration::from_secs(10));
    z.spawn();
    let (st, after) = z.admin("GET", "/zone/scrub", None).await;
    assert_eq!(st, 200, "{after}");
    assert_eq!(after["unrepaired"], DAMAGED, "{after:#}");
    assert_eq!(after["damaged"], r["damaged"], "{after:#}");
    let m = z.metrics().await;
    assert_eq!(
        common::metric_value(&m, "bascule_scrub_unrepaired"),
        Some(DAMAGED as f64),
        "{m}"
    );

    // A damaged object deleted, another written anew: no longer reported after a pass.
    let c = z.client();
    c.delete_object()
        .bucket("bkt")
        .key("flip")
        .send()
        .await
        .unwrap();
    common::put(&c, "bkt", "truncate", body("truncate", 10)).await;
    let r = scrub_pass(&z).await;
    let still: Vec<&str> = r["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["key"].as_str())
        .collect();
    assert_eq!(r["unrepaired"], DAMAGED - 2, "{r:#}");
    assert!(
        !still.contains(&"flip") && !still.contains(&"truncate"),
        "{r:#}"
    );
}
