//! Multipart uploads as the aws CLI makes them: one object at a time, its parts sent
//! over `connections` requests in flight, then completed; repeated for the phase's
//! duration. Throughput counts the object bytes of completed uploads only.

use crate::client::{sign_query, Payload, Target};
use crate::server::cpu_seconds;
use bascule_api::encoding::uri_encode;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One multipart workload: objects of `size` bytes in parts of `part_size`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Multipart {
    pub size: u64,
    pub part_size: u64,
    pub connections: usize,
}

/// What a multipart phase measured.
pub struct Uploaded {
    pub objects: u64,
    pub bytes: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub cpu_seconds: Option<f64>,
}

impl Uploaded {
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / (1 << 20) as f64
    }

    pub fn report(&self) {
        println!(
            "MPU  {:>8} objects {:>4} err {:>9.1} MiB/s",
            self.objects,
            self.errors,
            self.mib_per_sec()
        );
        if let Some(c) = self.cpu_seconds {
            println!(
                "     server CPU {:.1} ms per MiB",
                c * 1000.0 / (self.bytes.max(1) as f64 / (1 << 20) as f64)
            );
        }
    }
}

/// Uploads objects for `seconds` (at least one), as `w` says.
pub async fn run(
    t: Arc<Target>,
    w: Multipart,
    seconds: u64,
    payload_mode: &str,
    prefix: &str,
) -> Result<Uploaded, String> {
    if w.part_size == 0 || w.size == 0 {
        return Err("multipart sizes must not be 0".into());
    }
    let parts = w.size.div_ceil(w.part_size);
    if parts > 10_000 {
        return Err(format!("{parts} parts: S3 allows at most 10,000"));
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(w.connections * 2)
        .build()
        .map_err(|e| e.to_string())?;
    let full = Payload::named(w.part_size, payload_mode);
    let last_len = w.size - (parts - 1) * w.part_size;
    let last = Payload::named(last_len, payload_mode);
    let cpu_before = t.pid.and_then(cpu_seconds);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut done = Uploaded {
        objects: 0,
        bytes: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        cpu_seconds: None,
    };
    let mut n = 0u64;
    while done.objects + done.errors == 0 || Instant::now() < deadline {
        let key = format!("/bench/{prefix}{n}");
        n += 1;
        match upload(&http, &t, &key, parts, w.connections, &full, &last).await {
            Ok(()) => {
                done.objects += 1;
                done.bytes += w.size;
            }
            Err(e) => {
                done.errors += 1;
                if done.errors == 1 {
                    eprintln!("multipart upload failed: {e}");
                }
                if done.objects == 0 && done.errors >= 3 {
                    return Err(e);
                }
            }
        }
    }
    done.elapsed = started.elapsed();
    done.cpu_seconds = match (cpu_before, t.pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(done)
}

/// One multipart upload: create, every part (`connections` at a time), complete.
async fn upload(
    http: &reqwest::Client,
    t: &Arc<Target>,
    key: &str,
    parts: u64,
    connections: usize,
    full: &Payload,
    last: &Payload,
) -> Result<(), String> {
    let created = send(http, t, "POST", key, "uploads=", None).await?;
    let upload_id = between(&created, "<UploadId>", "</UploadId>")
        .ok_or_else(|| format!("no UploadId in {created}"))?;
    let next = Arc::new(AtomicU32::new(1));
    let mut senders = Vec::new();
    for _ in 0..connections.min(parts as usize) {
        let (http, t, next) = (http.clone(), t.clone(), next.clone());
        let (key, upload_id) = (key.to_string(), upload_id.clone());
        let (full, last) = (full.clone(), last.clone());
        senders.push(tokio::spawn(async move {
            let mut etags = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if u64::from(number) > parts {
                    return Ok::<_, String>(etags);
                }
                let body = if u64::from(number) == parts {
                    &last
                } else {
                    &full
                };
                let query = format!("partNumber={number}&uploadId={}", uri_encode(&upload_id));
                let etag = send_part(&http, &t, &key, &query, body).await?;
                etags.push((number, etag));
            }
        }));
    }
    let mut etags = Vec::new();
    for s in senders {
        etags.extend(s.await.map_err(|e| e.to_string())??);
    }
    etags.sort();
    let mut doc = String::from("<CompleteMultipartUpload>");
    for (number, etag) in &etags {
        doc.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    doc.push_str("</CompleteMultipartUpload>");
    let query = format!("uploadId={}", uri_encode(&upload_id));
    let done = send(http, t, "POST", key, &query, Some(doc)).await?;
    if !done.contains("<CompleteMultipartUploadResult") {
        return Err(format!("completion: {done}"));
    }
    Ok(())
}

async fn send_part(
    http: &reqwest::Client,
    t: &Target,
    key: &str,
    query: &str,
    body: &Payload,
) -> Result<String, String> {
    let sha256 = body.sha256_for_request().await;
    let mut req = http
        .put(format!("{}{key}?{query}", t.endpoint))
        .body(body.body())
        .header("content-length", body.size);
    for (k, v) in sign_query(t, "PUT", key, query, &sha256) {
        req = req.header(k, v);
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("part: {}", r.status()));
    }
    r.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .ok_or_else(|| "part answered without an ETag".to_string())
}

/// A signed request with an optional XML body; returns the answer's text.
async fn send(
    http: &reqwest::Client,
    t: &Target,
    method: &str,
    key: &str,
    query: &str,
    body: Option<String>,
) -> Result<String, String> {
    let body = body.unwrap_or_default();
    let sha = hex::encode(Sha256::digest(body.as_bytes()));
    let url = format!("{}{key}?{query}", t.endpoint);
    let mut req = match method {
        "POST" => http.post(url),
        _ => http.put(url),
    }
    .body(body);
    for (k, v) in sign_query(t, method, key, query, &sha) {
        req = req.header(k, v);
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{method} {key}?{query}: {status} {text}"));
    }
    Ok(text)
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = start + text[start..].find(close)?;
    Some(text[start..end].to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn upload_ids_are_found() {
        let doc = "<InitiateMultipartUploadResult><UploadId>a/b+c</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(
            super::between(doc, "<UploadId>", "</UploadId>").as_deref(),
            Some("a/b+c")
        );
        assert_eq!(super::between(doc, "<Key>", "</Key>"), None);
    }
}
