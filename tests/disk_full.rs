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
        "this test mounts a 100 MiB tmpfs and needs root (CI runs as root)"
    );
}

#[tokio::test]
async fn full_disk_fails_cleanly() {
    let mut mount = None;
    let mut srv = Server::start_prepared(&[], |dir| {
        mount_tmpfs(dir, "100m");
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

    // About 68 MiB are free, above the 64 MiB reserve: the writer starts, then the disk
    // fills in the middle of this 80 MiB upload.
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

    // Another 40 MiB fits now (about 68 MiB free), but then less than the 64 MiB reserve is left
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
