//! Crash safety: concurrent PUT/DELETE/multipart traffic, SIGKILL at random moments,
//! restart, and check that acknowledged writes survived intact and leftovers are collected.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{err_code, Server};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What clients were told: key -> Some(content) after an acknowledged PUT, None after an
/// acknowledged DELETE. Unacknowledged operations may or may not have happened.
type Acked = Arc<Mutex<HashMap<String, Option<Vec<u8>>>>>;
/// Keys with an operation in flight when the server died: their state is undetermined.
type InFlight = Arc<Mutex<HashMap<String, Vec<Option<Vec<u8>>>>>>;

fn content(worker: usize, n: usize) -> Vec<u8> {
    let len = match n % 4 {
        0 => 100,
        1 => 70_000,
        2 => 300_000,
        _ => 2_000,
    };
    (0..len)
        .map(|i| ((i * 7 + worker * 13 + n * 31) % 256) as u8)
        .collect()
}

async fn worker(c: aws_sdk_s3::Client, id: usize, acked: Acked, inflight: InFlight) {
    let mut n = 0usize;
    loop {
        n += 1;
        let key = format!("w{id}/k{}", n % 6);
        let op = n % 5;
        let data = content(id, n);
        let intended = if op == 3 { None } else { Some(data.clone()) };
        inflight
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .push(intended.clone());
        let ok = match op {
            3 => c
                .delete_object()
                .bucket("crash")
                .key(&key)
                .send()
                .await
                .is_ok(),
            4 => multipart(&c, &key, &data).await,
            _ => c
                .put_object()
                .bucket("crash")
                .key(&key)
                .body(ByteStream::from(data))
                .send()
                .await
                .is_ok(),
        };
        if !ok {
            // The server is gone: this operation's outcome is unknown; stop.
            return;
        }
        let mut f = inflight.lock().unwrap();
        if let Some(v) = f.get_mut(&key) {
            if let Some(pos) = v.iter().position(|x| *x == intended) {
                v.remove(pos);
            }
        }
        acked.lock().unwrap().insert(key, intended);
    }
}

async fn multipart(c: &aws_sdk_s3::Client, key: &str, data: &[u8]) -> bool {
    let Ok(up) = c
        .create_multipart_upload()
        .bucket("crash")
        .key(key)
        .send()
        .await
    else {
        return false;
    };
    let id = up.upload_id().unwrap_or_default().to_string();
    let Ok(p) = c
        .upload_part()
        .bucket("crash")
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
    else {
        return false;
    };
    let part = CompletedPart::builder()
        .part_number(1)
        .set_e_tag(p.e_tag().map(String::from))
        .build();
    c.complete_multipart_upload()
        .bucket("crash")
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .send()
        .await
        .is_ok()
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_rounds_lose_no_acknowledged_write() {
    let mut srv = Server::start();
    srv.client()
        .create_bucket()
        .bucket("crash")
        .send()
        .await
        .unwrap();
    let acked: Acked = Default::default();
    let mut rng = rand::thread_rng();
    for round in 0..4 {
        let inflight: InFlight = Default::default();
        let c = srv.client();
        let tasks: Vec<_> = (0..6)
            .map(|w| tokio::spawn(worker(c.clone(), w, acked.clone(), inflight.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
        srv.kill();
        for t in tasks {
            t.await.expect("a writer task panicked");
        }
        srv.spawn();
        // A garbage-collection pass on top of the start-up one: neither may touch
        // acknowledged data.
        let (st, gc) = srv.admin("POST", "/gc", None).await;
        assert_eq!(st, 200, "{gc}");
        let c = srv.client();
        let state = acked.lock().unwrap().clone();
        let pending = inflight.lock().unwrap().clone();
        let mut checked = 0;
        for (key, expect) in &state {
            let got = c.get_object().bucket("crash").key(key).send().await;
            let actual = match got {
                Ok(o) => Some(
                    o.body
                        .collect()
                        .await
                        .expect("full body")
                        .into_bytes()
                        .to_vec(),
                ),
                Err(e) if err_code(&e) == "NoSuchKey" => None,
                Err(e) => panic!("round {round}: reading {key} failed: {e:?}"),
            };
            let undetermined = pending.get(key).map(|v| !v.is_empty()).unwrap_or(false);
            if undetermined {
                // The in-flight write may or may not have landed, but never partially.
                let allowed: Vec<&Option<Vec<u8>>> =
                    pending[key].iter().chain(std::iter::once(expect)).collect();
                assert!(
                    allowed.contains(&&actual),
                    "round {round}: {key} holds data no client wrote"
                );
                acked.lock().unwrap().insert(key.clone(), actual);
            } else {
                assert_eq!(
                    &actual, expect,
                    "round {round}: acknowledged state of {key} lost"
                );
            }
            checked += 1;
        }
        assert!(
            checked > 0,
            "round {round} acknowledged nothing; the test would prove nothing"
        );
        // Start-up collected every temp file of the killed process.
        let tmp = srv.data_dir().join("data").join("tmp");
        assert_eq!(count_files(&tmp), 0, "temp files left after restart");
    }
    // No blob file without metadata: every file on disk is referenced by an object.
    let c = srv.client();
    // Uploads cut short by a kill keep their parts (as in S3) until aborted.
    let uploads = c
        .list_multipart_uploads()
        .bucket("crash")
        .send()
        .await
        .unwrap();
    for u in uploads.uploads() {
        c.abort_multipart_upload()
            .bucket("crash")
            .key(u.key().unwrap())
            .upload_id(u.upload_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    let listed = c.list_objects_v2().bucket("crash").send().await.unwrap();
    let disk_segments: usize = {
        let blobs = srv.data_dir().join("data").join("blobs");
        std::fs::read_dir(blobs)
            .unwrap()
            .flatten()
            .map(|d| count_files(&d.path()))
            .sum()
    };
    let big_objects = listed
        .contents()
        .iter()
        .filter(|o| o.size().unwrap_or(0) > 64 * 1024)
        .count();
    assert_eq!(
        disk_segments, big_objects,
        "orphan blobs were collected; each large object has exactly one file"
    );
}
