//! The benchmark's S3 client: request signing (the `api` crate's SigV4, the rules the
//! server verifies with), payloads and the bucket set-up every workload shares.

use bascule_api::sigv4::{self, PathMode, Scope, SigningKey};
use bytes::Bytes;
use sha2::{Digest, Sha256};

pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("bad size {s}"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("bad size unit in {s}")),
    };
    Ok(n * mult)
}

pub struct Target {
    pub endpoint: String,
    pub host: String,
    pub ak: String,
    pub sk: String,
    /// The admin endpoint, when bench started the server itself.
    pub admin: Option<String>,
    /// The server's process, when known (started here, or `--server-pid`): its CPU time
    /// per request and peak RSS are reported.
    pub pid: Option<u32>,
}

impl Target {
    /// A running endpoint, reached with these keys.
    pub fn running(endpoint: &str, ak: &str, sk: &str, pid: Option<u32>) -> Target {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        Target {
            host: endpoint
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .to_string(),
            endpoint,
            ak: ak.to_string(),
            sk: sk.to_string(),
            admin: None,
            pid,
        }
    }
}

/// Signs a request for the benchmark client (the server verifies with the same rules).
pub fn sign(t: &Target, method: &str, path: &str, payload_hash: &str) -> Vec<(String, String)> {
    sign_query(t, method, path, "", payload_hash)
}

/// Like `sign`, for a request with a query string (given in canonical form: parameters
/// sorted by name, values URI-encoded).
pub fn sign_query(
    t: &Target,
    method: &str,
    path: &str,
    canonical_query: &str,
    payload_hash: &str,
) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc();
    let amz_date = sigv4::format_amz_date(now);
    let scope = Scope {
        access_key: t.ak.clone(),
        date: amz_date[..8].to_string(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let signed = vec![
        "host".to_string(),
        "x-amz-content-sha256".to_string(),
        "x-amz-date".to_string(),
    ];
    let values = [t.host.clone(), payload_hash.to_string(), amz_date.clone()];
    let headers = sigv4::canonical_headers(&signed, |n| {
        let i = signed.iter().position(|s| s == n).unwrap_or(0);
        vec![values[i].as_bytes()]
    });
    let creq = sigv4::canonical_request(
        method,
        &sigv4::canonical_uri(path, PathMode::S3),
        canonical_query,
        &headers,
        &signed,
        payload_hash,
    );
    let sts = sigv4::string_to_sign(&amz_date, &scope, &creq);
    let sig = SigningKey::derive(&t.sk, &scope)
        .map(|k| k.sign(&sts))
        .unwrap_or_default();
    vec![
        ("x-amz-date".into(), amz_date),
        ("x-amz-content-sha256".into(), payload_hash.into()),
        (
            "authorization".into(),
            format!(
                "{} Credential={}/{}, SignedHeaders={}, Signature={sig}",
                sigv4::ALGORITHM,
                t.ak,
                scope.to_scope_string(),
                signed.join(";")
            ),
        ),
    ]
}

/// The object body: one buffer up to 256 MiB; larger sizes repeat a 1 MiB block.
#[derive(Clone)]
pub struct Payload {
    block: Bytes,
    pub size: u64,
    pub sha256: String,
    /// Hash the body again for every request, as an SDK signing payloads does (its CPU
    /// time then competes with the server's, as it would on a shared machine).
    pub hash_each: bool,
}

impl Payload {
    pub fn new(size: u64, signed: bool) -> Payload {
        let block_len = size.min(256 << 20) as usize;
        let block_len = if size > (256 << 20) {
            1 << 20
        } else {
            block_len
        };
        let block: Bytes = (0..block_len)
            .map(|i| (i * 131 % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        let mut p = Payload {
            block,
            size,
            sha256: sigv4::UNSIGNED_PAYLOAD.to_string(),
            hash_each: false,
        };
        if signed {
            p.sha256 = p.hash();
        }
        p
    }

    /// A payload as `--payload` names it: `signed` (hashed once), `signed-each` (hashed
    /// for every request) or `unsigned`.
    pub fn named(size: u64, mode: &str) -> Payload {
        let mut p = Payload::new(size, mode != "unsigned");
        p.hash_each = mode == "signed-each";
        p
    }

    /// The SHA-256 to sign a request with: computed now when `hash_each`.
    pub async fn sha256_for_request(&self) -> String {
        if !self.hash_each {
            return self.sha256.clone();
        }
        // Small bodies are hashed in place, as an SDK does; large ones off the runtime.
        if self.size <= 1 << 20 {
            return self.hash();
        }
        let p = self.clone();
        tokio::task::spawn_blocking(move || p.hash())
            .await
            .unwrap_or_default()
    }

    fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut left = self.size;
        while left > 0 {
            let n = left.min(self.block.len() as u64) as usize;
            h.update(&self.block[..n]);
            left -= n as u64;
        }
        hex::encode(h.finalize())
    }

    pub fn body(&self) -> reqwest::Body {
        if self.size <= self.block.len() as u64 {
            return reqwest::Body::from(self.block.slice(..self.size as usize));
        }
        let (block, size) = (self.block.clone(), self.size);
        let stream = futures::stream::unfold(0u64, move |sent| {
            let block = block.clone();
            async move {
                if sent >= size {
                    return None;
                }
                let n = (size - sent).min(block.len() as u64) as usize;
                Some((
                    Ok::<Bytes, std::io::Error>(block.slice(..n)),
                    sent + n as u64,
                ))
            }
        });
        reqwest::Body::wrap_stream(stream)
    }
}

/// Creates the bucket `bench` (an existing one is fine).
pub async fn create_bench_bucket(target: &Target) -> Result<(), String> {
    let client = reqwest::Client::new();
    let mut req = client.put(format!("{}/bench", target.endpoint));
    for (k, v) in sign(target, "PUT", "/bench", sigv4::EMPTY_SHA256) {
        req = req.header(k, v);
    }
    req.send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", target.endpoint))?;
    Ok(())
}

/// Sets the `bench` bucket's default encryption (`AES256` or `aws:kms`).
pub async fn encrypt_bench_bucket(target: &Target, algorithm: &str) -> Result<(), String> {
    let doc = format!(
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>{algorithm}</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    );
    let sha = hex::encode(Sha256::digest(doc.as_bytes()));
    let mut req = reqwest::Client::new()
        .put(format!("{}/bench?encryption", target.endpoint))
        .body(doc);
    for (k, v) in sign_query(target, "PUT", "/bench", "encryption=", &sha) {
        req = req.header(k, v);
    }
    let r = req
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", target.endpoint))?;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(format!("bucket encryption: {}", r.status())),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("5GiB").unwrap(), 5 << 30);
        assert!(parse_size("4XB").is_err());
    }
}
