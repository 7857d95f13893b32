//! Test harness: runs the real `bascule` binary on free loopback ports and gives tests
//! aws-sdk-s3 clients, raw signed HTTP requests, and the admin API.
#![allow(dead_code)]

pub mod browser;
pub mod haproxy;
pub mod witness;
pub mod zones;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub s3: String,
    pub admin: String,
    pub access_key: String,
    pub secret_key: String,
    pub token: String,
    extra_args: Vec<String>,
    /// Listen addresses; port 0 picks a free port at each start.
    pub s3_listen: String,
    pub admin_listen: String,
    pub env: Vec<(String, String)>,
    /// CA certificate (PEM) for an admin listener served over TLS.
    pub admin_ca: Option<Vec<u8>>,
}

/// A free loopback port (for zones, whose peers must know each other's address before
/// they start and across restarts).
/// A port a test can give a server before it starts (zones must know each other's address).
///
/// Chosen below Linux's ephemeral range (32768–60999): a port handed out by binding port 0
/// is free only until someone else binds port 0 or opens an outgoing connection, and the
/// kernel gives those out of exactly that range, so another test's server could take it
/// before ours starts (CI saw `Address already in use`). Ports below the range are only
/// ever taken by an explicit choice like this one; picking at random keeps parallel test
/// processes apart, and the bind check skips ports in use.
pub fn free_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range")
}

fn parse_credentials(path: &Path) -> (String, String) {
    let Ok(text) = std::fs::read_to_string(path) else {
        // A secondary zone creates no credentials: it serves the primary's.
        return (String::new(), String::new());
    };
    let get = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(k)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .expect("credential field")
    };
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_prepared(extra, |_| {})
    }

    /// Like `start_with`, calling `prepare(data_dir)` before the first start (to mount a
    /// filesystem there, say).
    pub fn start_prepared(extra: &[&str], prepare: impl FnOnce(&Path)) -> Server {
        let mut s = Server::prepare(extra, prepare);
        s.spawn();
        s
    }

    /// A server not started yet: set listen addresses or environment, then `spawn`.
    pub fn prepare(extra: &[&str], prepare: impl FnOnce(&Path)) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        prepare(&data);
        let s = Server {
            child: None,
            dir,
            s3: String::new(),
            admin: String::new(),
            access_key: String::new(),
            secret_key: String::new(),
            token: String::new(),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            s3_listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            env: Vec::new(),
            admin_ca: None,
        };
        s
    }

    /// Adds arguments for the next `spawn`.
    pub fn add_args(&mut self, extra: &[&str]) {
        self.extra_args.extend(extra.iter().map(|s| s.to_string()));
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("server running")
    }

    /// A configuration file in the test's directory, for `--config`.
    pub fn write_config(&self, toml: &str) -> String {
        let path = self.dir.path().join("bascule.toml");
        std::fs::write(&path, toml).expect("write config");
        path.to_string_lossy().into_owned()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts (or restarts) the process on the same data directory.
    pub fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bascule"))
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--s3-listen", &self.s3_listen])
            .args(["--admin-listen", &self.admin_listen])
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "BASCULE_LOG",
                std::env::var("TEST_BASCULE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bascule");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut s3, mut admin) = (None, None);
        while s3.is_none() || admin.is_none() {
            let line = lines
                .next()
                .expect("bascule exited before listening")
                .expect("read stdout");
            if let Some(v) = line.strip_prefix("S3 endpoint: ") {
                s3 = Some(v.to_string());
            }
            if let Some(v) = line.strip_prefix("Admin endpoint: ") {
                admin = Some(v.to_string());
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.s3 = s3.unwrap_or_default();
        self.admin = admin.unwrap_or_default();
        let (ak, sk) = parse_credentials(&self.data_dir().join("credentials"));
        if !ak.is_empty() {
            self.access_key = ak;
            self.secret_key = sk;
        }
        self.token = std::fs::read_to_string(self.data_dir().join("admin.token"))
            .expect("token")
            .trim()
            .to_string();
        self.child = Some(child);
    }

    /// Asks the server to stop (SIGTERM) and waits for it, up to `within`; returns how it
    /// ended.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("server running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "cannot signal the server");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = c.try_wait().expect("wait for the server") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                panic!("the server did not stop within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_for(&self.access_key, &self.secret_key)
    }

    pub fn client_for(&self, ak: &str, sk: &str) -> aws_sdk_s3::Client {
        let creds = Credentials::new(ak, sk, None, None, "test");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.s3)
            .force_path_style(true)
            .credentials_provider(creds)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Runs `bascule admin ARGS` against this server: (exit status success, stdout+stderr).
    pub fn admin_cli(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_bascule"))
            .args(["admin", "--endpoint", &self.admin, "--token", &self.token])
            .args(args)
            .output()
            .expect("run bascule admin");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Calls the admin API; returns status and JSON body.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &self.admin_ca {
            builder =
                builder.add_root_certificate(reqwest::Certificate::from_pem(pem).expect("CA"));
        }
        let client = builder.build().expect("client");
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = client
            .request(m, format!("{}/admin/v1{path}", self.admin))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("admin body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// The data of a divergent write set aside on this zone: (status, bytes).
    pub async fn divergent_data(&self, id: &str) -> (u16, Vec<u8>) {
        let resp = reqwest::Client::new()
            .get(format!("{}/admin/v1/zone/divergent/{id}/data", self.admin))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("divergent data request");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("divergent data").to_vec())
    }

    /// The id of the user named `name` (what ACL grants name).
    pub async fn user_id(&self, name: &str) -> String {
        let (_, users) = self.admin("GET", "/users", None).await;
        users
            .as_array()
            .and_then(|us| us.iter().find(|u| u["name"] == name))
            .and_then(|u| u["id"].as_str())
            .expect("user id")
            .to_string()
    }

    /// Hand-built requests signed with another user's key.
    pub fn raw_as(&self, (ak, sk): &(String, String)) -> Raw {
        Raw {
            endpoint: self.s3.clone(),
            ak: ak.clone(),
            sk: sk.clone(),
            time: None,
        }
    }

    /// Creates a user with one access key; returns (access key, secret).
    pub async fn new_user(&self, name: &str) -> (String, String) {
        let (st, _) = self
            .admin("POST", "/users", Some(serde_json::json!({"name": name})))
            .await;
        assert_eq!(st, 200);
        let (st, key) = self
            .admin("POST", &format!("/users/{name}/keys"), None)
            .await;
        assert_eq!(st, 200);
        (
            key["access_key"].as_str().unwrap().to_string(),
            key["secret_key"].as_str().unwrap().to_string(),
        )
    }

    /// Journal entries after `after`.
    pub async fn journal(&self, after: u64) -> Vec<serde_json::Value> {
        let (st, v) = self
            .admin("GET", &format!("/journal?after={after}&limit=10000"), None)
            .await;
        assert_eq!(st, 200);
        v.as_array().cloned().unwrap_or_default()
    }

    pub async fn last_seq(&self) -> u64 {
        self.journal(0)
            .await
            .last()
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or(0)
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin))
            .await
            .expect("scrape /metrics")
            .text()
            .await
            .expect("read /metrics")
    }

    pub fn raw(&self) -> Raw {
        Raw {
            endpoint: self.s3.clone(),
            ak: self.access_key.clone(),
            sk: self.secret_key.clone(),
            time: None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Hand-built requests, signed with SigV4 (or not), for cases SDKs refuse to produce.
#[derive(Clone)]
pub struct Raw {
    pub endpoint: String,
    pub ak: String,
    pub sk: String,
    /// Signing time override (clock-skew tests).
    pub time: Option<SystemTime>,
}

pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Status, headers and the whole body of a response.
    pub async fn read(resp: reqwest::Response) -> RawResponse {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("raw body").to_vec();
        RawResponse {
            status,
            headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `<Code>` of an S3 error body.
    pub fn code(&self) -> String {
        let t = self.text();
        t.split("<Code>")
            .nth(1)
            .and_then(|r| r.split("</Code>").next())
            .unwrap_or("")
            .to_string()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
}

impl Raw {
    /// The SigV4 headers for a request (plus x-amz-content-sha256).
    pub fn sign_headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        hash: &str,
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{
            sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings,
        };
        use aws_sigv4::sign::v4;
        let mut hdrs = headers.to_vec();
        hdrs.push(("x-amz-content-sha256".into(), hash.to_string()));
        let identity = Credentials::new(&self.ak, &self.sk, None, None, "raw").into();
        // S3's rules, as the SDKs sign: single percent-encoding, no path normalisation.
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::NoHeader;
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode =
            aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(self.time.unwrap_or_else(SystemTime::now))
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            hdrs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Precomputed(hash.to_string()),
        )
        .expect("signable");
        let (instructions, _) = sigv4_sign(signable, &params).expect("sign").into_parts();
        for (k, v) in instructions.headers() {
            hdrs.push((k.to_string(), v.to_string()));
        }
        hdrs
    }

    /// Sends `method path` with headers and body, signed unless `sign` is false.
    /// `payload_hash` overrides x-amz-content-sha256 (None: the real SHA-256 of the body).
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        sign: bool,
        payload_hash: Option<&str>,
    ) -> RawResponse {
        let url = format!("{}{}", self.endpoint, path_and_query);
        let mut hdrs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if sign {
            let hash = payload_hash
                .map(String::from)
                .unwrap_or_else(|| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)));
            hdrs = self.sign_headers(method, &url, &hdrs, &hash);
        }
        let client = reqwest::Client::new();
        let mut req = client.request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            &url,
        );
        for (k, v) in &hdrs {
            req = req.header(k, v);
        }
        RawResponse::read(req.body(body).send().await.expect("raw request")).await
    }

    /// Writes a signed (UNSIGNED-PAYLOAD) request head over TCP with the given extra headers
    /// (which may claim any Content-Length), then `body`, and returns the raw response text.
    /// The path goes out exactly as given. `truncate` closes our sending side after `body`,
    /// so a body shorter than its Content-Length ends early.
    pub async fn send_tcp(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        truncate: bool,
    ) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = format!("{}{}", self.endpoint, path);
        let host = self.endpoint.trim_start_matches("http://").to_string();
        let mut hdrs: Vec<(String, String)> = vec![("host".into(), host.clone())];
        let signed = self.sign_headers(method, &url, &hdrs, "UNSIGNED-PAYLOAD");
        hdrs = signed;
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        for (k, v) in hdrs.iter().chain(
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
                .iter(),
        ) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("connection: close\r\n\r\n");
        let mut sock = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        sock.write_all(head.as_bytes()).await.expect("write head");
        let _ = sock.write_all(body).await;
        if truncate {
            let _ = sock.shutdown().await;
        }
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The value of an unlabelled series in a `/metrics` text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
}

/// The S3 error code of an SDK error, for assertions.
pub fn err_code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(se) => se.err().code().unwrap_or("").to_string(),
        other => format!("not a service error: {other:?}"),
    }
}

/// PUTs `body` at `bucket/key`, panicking with the SDK error on failure.
pub async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

/// The object's bytes, or None when the key does not exist (`NoSuchKey`). Any other
/// failure panics: two failing reads must never compare equal.
pub async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(got) => Some(
            got.body
                .collect()
                .await
                .unwrap_or_else(|e| panic!("read body of {bucket}/{key}: {e:?}"))
                .into_bytes()
                .to_vec(),
        ),
        Err(e) if err_code(&e) == "NoSuchKey" => None,
        Err(e) => panic!("get {bucket}/{key}: {e:?}"),
    }
}

/// Every key of a bucket, following continuation tokens.
pub async fn list_keys(c: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        out.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

/// Deterministic test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64 * 31 + seed as u64 * 7) % 251) as u8)
        .collect()
}

pub fn wait() -> Duration {
    Duration::from_millis(50)
}

/// Sets a bucket's versioning (`Enabled` or `Suspended`).
pub async fn set_versioning(c: &aws_sdk_s3::Client, bucket: &str, status: &str) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::from(status))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("versioning {status} on {bucket}: {e:?}"));
}

/// One row of a version listing: key, version id, latest, delete marker, ETag, size,
/// Last-Modified.
pub type VersionRow = (String, String, bool, bool, String, i64, String);

/// Every version and delete marker of a bucket (following key and version-id markers with
/// pages of `page` entries): the versions in listing order, then the delete markers.
pub async fn all_versions(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    page: i32,
) -> (Vec<VersionRow>, Vec<VersionRow>) {
    let (mut versions, mut markers) = (Vec::new(), Vec::new());
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let out = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(page)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .expect("list versions");
        for v in out.versions() {
            versions.push((
                v.key().unwrap_or_default().to_string(),
                v.version_id().unwrap_or_default().to_string(),
                v.is_latest().unwrap_or(false),
                false,
                v.e_tag().unwrap_or_default().to_string(),
                v.size().unwrap_or(-1),
                v.last_modified().map(|t| t.to_string()).unwrap_or_default(),
            ));
        }
        for m in out.delete_markers() {
            markers.push((
                m.key().unwrap_or_default().to_string(),
                m.version_id().unwrap_or_default().to_string(),
                m.is_latest().unwrap_or(false),
                true,
                String::new(),
                0,
                m.last_modified().map(|t| t.to_string()).unwrap_or_default(),
            ));
        }
        if out.is_truncated() != Some(true) {
            return (versions, markers);
        }
        key_marker = out.next_key_marker().map(String::from);
        version_marker = out.next_version_id_marker().map(String::from);
        assert!(
            key_marker.is_some(),
            "a truncated page names where to go on"
        );
    }
}

/// One version's bytes; any failure panics.
pub async fn get_version(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version: &str,
) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}@{version}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Uploads `body` as part 1 of upload `upload_id` and completes the upload with it.
pub async fn complete_with_one_part(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    body: &'static [u8],
) -> aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput {
    let part = c
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(1)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("part of {bucket}/{key}: {e:?}"));
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap_or_default())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete {bucket}/{key}: {e:?}"))
}

/// A browser form for `bucket`, signed (SigV4 over a policy) with `srv`'s admin key when
/// `signed`, else anonymous; `fields` are sent as form fields, and a signed policy
/// matches each one exactly. The file goes last, as browsers send it.
pub fn post_form(
    srv: &Server,
    bucket: &str,
    fields: &[(&str, &str)],
    file: Vec<u8>,
    signed: bool,
) -> reqwest::multipart::Form {
    use base64::Engine;
    let mut form = reqwest::multipart::Form::new();
    for (n, v) in fields {
        form = form.text(n.to_string(), v.to_string());
    }
    if signed {
        let now = time::OffsetDateTime::now_utc();
        let date = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
        let amz_date = bascule_api::sigv4::format_amz_date(now);
        let credential = format!("{}/{date}/us-east-1/s3/aws4_request", srv.access_key);
        let expiration =
            bascule_api::headers::format_iso8601(SystemTime::now() + Duration::from_secs(600));
        let mut conditions = vec![
            serde_json::json!({ "bucket": bucket }),
            serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
            serde_json::json!({ "x-amz-credential": credential }),
            serde_json::json!({ "x-amz-date": amz_date }),
        ];
        for (n, v) in fields {
            conditions.push(serde_json::json!(["eq", format!("${n}"), v]));
        }
        let policy = serde_json::json!({"expiration": expiration, "conditions": conditions});
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let scope = bascule_api::sigv4::Scope {
            access_key: srv.access_key.clone(),
            date,
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let signature = bascule_api::sigv4::SigningKey::derive(&srv.secret_key, &scope)
            .expect("signing key")
            .sign(&policy_b64);
        form = form
            .text("x-amz-algorithm", "AWS4-HMAC-SHA256")
            .text("x-amz-credential", credential)
            .text("x-amz-date", amz_date)
            .text("policy", policy_b64)
            .text("x-amz-signature", signature);
    }
    form.part(
        "file",
        reqwest::multipart::Part::bytes(file).file_name("upload.bin"),
    )
}
