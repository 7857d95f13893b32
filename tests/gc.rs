//! Blob garbage collection: driven by records written with each change, never by a scan of
//! metadata, so no change can slip between two scans and lose its data.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{data, get, put, Server};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Files under `dir` (recursively).
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn blob_files(srv: &Server) -> usize {
    files(&srv.data_dir().join("data").join("blobs")).len()
}

/// Makes every data file look written two hours ago: old enough for any age guard.
fn backdate(dir: &Path) {
    for f in files(dir) {
        let ok = Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(&f)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "touch {}", f.display());
    }
}

async fn gc(srv: &Server) -> serde_json::Value {
    let (st, body) = srv.admin("POST", "/gc", None).await;
    assert_eq!(st, 200, "{body}");
    body
}

/// The interleaving that lost data: uploads whose parts were written long ago, completed
/// one after another while garbage-collection passes run. Every completed object must read
/// back whole, before and after a restart (whose start-up pass runs too).
#[tokio::test]
async fn completing_old_uploads_during_gc_loses_nothing() {
    const UPLOADS: usize = 60;
    let mut srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("gcb").send().await.unwrap();
    // Other objects, so passes have something to look at.
    for i in 0..20 {
        put(&c, "gcb", &format!("other/{i}"), data(100 * 1024, i as u8)).await;
    }
    let mut uploads = Vec::new();
    for i in 0..UPLOADS {
        let key = format!("video/{i}");
        let id = c
            .create_multipart_upload()
            .bucket("gcb")
            .key(&key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        // Small parts live inline, larger ones in blob files: both kinds.
        let body = data(if i % 3 == 0 { 4000 } else { 150 * 1024 }, i as u8);
        let etag = c
            .upload_part()
            .bucket("gcb")
            .key(&key)
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap()
            .e_tag()
            .unwrap()
            .to_string();
        uploads.push((key, id, etag, body));
    }
    backdate(&srv.data_dir().join("data"));

    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (admin, token, stop) = (srv.admin.clone(), srv.token.clone(), stop.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut passes = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = client
                    .post(format!("{admin}/admin/v1/gc"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("gc request");
                assert_eq!(r.status(), 200);
                passes += 1;
            }
            passes
        })
    };
    for (key, id, etag, _) in &uploads {
        c.complete_multipart_upload()
            .bucket("gcb")
            .key(key)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let passes = collector.await.expect("collector task");
    assert!(passes > 0, "no GC pass ran during the completions");
    gc(&srv).await;

    for (key, _, _, body) in &uploads {
        assert_eq!(get(&c, "gcb", key).await.as_ref(), Some(body), "{key}");
    }
    srv.kill();
    srv.spawn();
    let c = srv.client();
    gc(&srv).await;
    for (key, _, _, body) in &uploads {
        assert_eq!(
            get(&c, "gcb", key).await.as_ref(),
            Some(body),
            "{key} after restart"
        );
    }
    for i in 0..20 {
        let key = format!("other/{i}");
        assert_eq!(
            get(&c, "gcb", &key).await,
            Some(data(100 * 1024, i as u8)),
            "{key}"
        );
    }
}

/// Overwritten, deleted and aborted data leaves the disk with the change; nothing else does.
#[tokio::test]
async fn released_blobs_are_removed_and_only_they() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("rel").send().await.unwrap();
    let big = |seed| data(200 * 1024, seed);
    put(&c, "rel", "a", big(1)).await;
    put(&c, "rel", "b", big(2)).await;
    assert_eq!(blob_files(&srv), 2);
    put(&c, "rel", "a", big(3)).await; // overwrite: the old blob goes
    assert_eq!(blob_files(&srv), 2);
    c.delete_object()
        .bucket("rel")
        .key("b")
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&srv), 1);
    let up = c
        .create_multipart_upload()
        .bucket("rel")
        .key("m")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    c.upload_part()
        .bucket("rel")
        .key("m")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(big(4)))
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&srv), 2);
    c.abort_multipart_upload()
        .bucket("rel")
        .key("m")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&srv), 1);
    assert_eq!(get(&c, "rel", "a").await, Some(big(3)));
    let tmp = srv.data_dir().join("data").join("tmp");
    assert_eq!(files(&tmp).len(), 0, "nothing left in flight");
}

/// A file left in `tmp/` by a crash (an upload that never committed) is removed at
/// start-up; referenced data is untouched.
#[tokio::test]
async fn start_up_removes_what_a_crash_left_in_flight() {
    let mut srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("crash").send().await.unwrap();
    put(&c, "crash", "kept", data(300 * 1024, 9)).await;
    let tmp = srv.data_dir().join("data").join("tmp");
    std::fs::write(
        tmp.join("0123456789abcdef0123456789abcdef"),
        b"half an upload",
    )
    .unwrap();
    srv.kill();
    srv.spawn();
    assert_eq!(files(&tmp).len(), 0);
    let c = srv.client();
    assert_eq!(get(&c, "crash", "kept").await, Some(data(300 * 1024, 9)));
    assert_eq!(blob_files(&srv), 1);
}
