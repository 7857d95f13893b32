//! A full disk: uploads fail with 507 InsufficientStorage, nothing partial is left behind,
//! acknowledged data stays intact and the server keeps serving.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use common::{data, err_code, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Unmounts the small filesystem when the test ends, after the server is gone.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test mounts a small tmpfs and needs root (CI runs as root)"
    );
}

#[tokio::test]
async fn full_disk_fails_cleanly() {
    let mut mount = None;
    let mut srv = Server::start_prepared(&[], |dir| {
        mount_tmpfs(dir, "120m");
        mount = Some(Mount(dir.to_path_buf()));
    });
    let c = srv.client();
    c.create_bucket().bucket("full").send().await.unwrap();
    let first = data(30 << 20, 1);
    c.put_object()
        .bucket("full")
        .key("first")
        .body(ByteStream::from(first.clone()))
        .send()
        .await
        .unwrap();

    // About 80 MiB are free (120 MiB less the first object, the metadata and its 8 MiB
    // ballast), above the 64 MiB reserve: the writer starts, then the disk fills in the
    // middle of this 80 MiB upload.
    let e = c
        .put_object()
        .bucket("full")
        .key("too-big")
        .body(ByteStream::from(data(80 << 20, 2)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InsufficientStorage");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(507));
    let tmp = srv.data_dir().join("data").join("tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the partial temp file is removed"
    );
    assert!(c
        .head_object()
        .bucket("full")
        .key("too-big")
        .send()
        .await
        .is_err());

    // Acknowledged data is intact, small writes still work, and so does the server.
    let got = c
        .get_object()
        .bucket("full")
        .key("first")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        first.as_slice()
    );
    c.put_object()
        .bucket("full")
        .key("small")
        .body(ByteStream::from_static(b"still works"))
        .send()
        .await
        .unwrap();

    // Another 40 MiB fits now (about 80 MiB free), but then less than the 64 MiB reserve is left
    // and the next upload is refused before any byte is written.
    c.put_object()
        .bucket("full")
        .key("second")
        .body(ByteStream::from(data(40 << 20, 3)))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("full")
        .key("third")
        .body(ByteStream::from(data(1 << 20, 4)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InsufficientStorage");
    c.delete_object()
        .bucket("full")
        .key("second")
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("full")
        .key("third")
        .body(ByteStream::from(data(1 << 20, 4)))
        .send()
        .await
        .unwrap();
    srv.kill();
    drop(mount);
}

/// Free bytes of the filesystem holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}

/// Grows `path` by up to `bytes` (1 MiB at a time), stopping quietly when the disk is full.
fn fill(path: &Path, bytes: u64) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("filler");
    let chunk = vec![7u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if f.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = f.sync_all();
}

/// Small (inline) objects fill the metadata volume: writes stop at its reserve with 507,
/// every delete still succeeds, and a zone whose disk is completely full restarts.
#[tokio::test]
async fn full_metadata_volume_keeps_deletes_and_restarts() {
    let mut mount = None;
    let mut srv = Server::start_prepared(&[], |dir| {
        mount_tmpfs(dir, "160m");
        mount = Some(Mount(dir.to_path_buf()));
    });
    let dir = srv.data_dir();
    let c = srv.client();
    c.create_bucket().bucket("meta").send().await.unwrap();
    // Leave about 40 MiB: the 16 MiB reserve is reached after about 24 MiB of objects.
    let filler = dir.join("filler");
    fill(&filler, free_bytes(&dir).saturating_sub(40 << 20));

    let mut stored = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let key = format!("small/{i:04}");
        match c
            .put_object()
            .bucket("meta")
            .key(&key)
            .body(ByteStream::from(data(50 * 1024, i as u8)))
            .send()
            .await
        {
            Ok(_) => stored.push(key),
            Err(e) => {
                refused = Some(err_code(&e));
                break;
            }
        }
    }
    assert_eq!(refused.as_deref(), Some("InsufficientStorage"));
    assert!(stored.len() > 100, "only {} objects fit", stored.len());
    assert!(free_bytes(&dir) > 4 << 20, "the reserve was kept");

    // Every delete goes through on the full volume.
    let (half, rest) = stored.split_at(stored.len() / 2);
    for key in half {
        c.delete_object()
            .bucket("meta")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete {key} on a full disk: {e:?}"));
    }

    // The zone stops; meanwhile the disk fills to the last byte from outside; it starts
    // anyway (the ballast gives RocksDB the room it needs to open).
    let status = srv.terminate(std::time::Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    fill(&filler, u64::MAX);
    assert!(free_bytes(&dir) < 1 << 20, "the disk is full");
    srv.spawn();
    let c = srv.client();
    let probe = &rest[0];
    assert_eq!(
        common::get(&c, "meta", probe).await.map(|b| b.len()),
        Some(50 * 1024)
    );
    for key in rest {
        c.delete_object()
            .bucket("meta")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete {key} after a full restart: {e:?}"));
    }
    assert_eq!(common::get(&c, "meta", probe).await, None);

    // Space comes back: writes work again.
    std::fs::remove_file(&filler).unwrap();
    c.put_object()
        .bucket("meta")
        .key("again")
        .body(ByteStream::from_static(b"room again"))
        .send()
        .await
        .unwrap();
    srv.kill();
    drop(mount);
}
