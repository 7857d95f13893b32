//! SIGTERM while requests run: the server drains, stops its background work, closes its
//! store and exits 0, every time (it used to abort now and then while RocksDB closed).

mod common;
use common::{data, get, put, Server};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_cleanly_every_time() {
    let mut srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("stop").send().await.unwrap();
    for round in 0..12u8 {
        if round > 0 {
            srv.spawn();
        }
        let c = srv.client();
        // Writers that keep going until the server goes away; their errors are expected.
        let writers: Vec<_> = (0..4u8)
            .map(|w| {
                let c = c.clone();
                tokio::spawn(async move {
                    for i in 0..10_000u32 {
                        let body = data(if i % 4 == 0 { 100 * 1024 } else { 2000 }, w);
                        let r = c
                            .put_object()
                            .bucket("stop")
                            .key(format!("r{round}/w{w}/{i}"))
                            .body(aws_sdk_s3::primitives::ByteStream::from(body))
                            .send()
                            .await;
                        if r.is_err() {
                            return i;
                        }
                    }
                    10_000
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150 + 40 * round as u64)).await;
        let status = tokio::task::block_in_place(|| srv.terminate(Duration::from_secs(30)));
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: the server ended with {status:?} (signal {:?})",
            status.signal()
        );
        for w in writers {
            w.await.expect("writer task");
        }
    }
    // What was acknowledged before the last stop is there after a restart.
    srv.spawn();
    let c2 = srv.client();
    put(&c2, "stop", "after", b"fine".to_vec()).await;
    assert_eq!(get(&c2, "stop", "after").await, Some(b"fine".to_vec()));
    drop(c);
}

/// The data folder and what is in it are readable by the service user only.
#[tokio::test]
async fn the_data_folder_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let srv = common::Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    common::put(&c, "bkt", "big", common::data(256 * 1024, 1)).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = srv.data_dir();
    assert_eq!(mode(&root), 0o700);
    let mut checked = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 5, "walked {checked} entries");
}

/// A primary whose secondary waits in the journal's long-poll (10 s) stops at once: the
/// wait is cut short by the drain, not sat out.
#[tokio::test(flavor = "multi_thread")]
async fn a_primary_stops_without_sitting_out_its_followers_long_poll() {
    let mut pair = common::zones::Pair::start("");
    let c = pair.a.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    put(&c, "bkt", "x", b"y".to_vec()).await;
    common::zones::caught_up(&pair.a, &pair.b, Duration::from_secs(20)).await;
    // The secondary is now idle in a long-poll on the primary.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let status = tokio::task::block_in_place(|| pair.a.terminate(Duration::from_secs(10)));
    let took = started.elapsed();
    eprintln!("the primary stopped in {took:?}");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
}
