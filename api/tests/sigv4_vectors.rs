//! AWS's published SigV4 test suite (fixtures/sigv4): for every vector, the canonical
//! request, string to sign and signature we compute must equal AWS's.

use bascule_api::encoding::parse_query;
use bascule_api::sigv4::{self, PathMode, Scope, SigningKey};

struct RawRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// Parses the suite's raw request text. Lines starting with whitespace continue the
/// previous header and, as the suite specifies, count as extra values.
fn parse_raw(req: &str) -> RawRequest {
    let (head, body) = req.split_once("\n\n").unwrap_or((req, ""));
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let method = request_line.split(' ').next().unwrap().to_string();
    let uri = request_line[method.len() + 1..request_line.rfind(" HTTP/").unwrap()].to_string();
    let (path, query) = uri
        .split_once('?')
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .unwrap_or((uri, String::new()));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(char::is_whitespace) {
            headers.push((headers.last().unwrap().0.clone(), line.trim().to_string()));
        } else {
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.to_string()));
        }
    }
    RawRequest {
        method,
        path,
        query,
        headers,
        body: body.to_string(),
    }
}

#[test]
fn aws_sigv4_test_suite() {
    // Embedded at compile time: the binary carries the fixture it was built with, wherever
    // it runs from.
    let fixture = include_str!("../../fixtures/sigv4/aws-sigv4-test-suite.json");
    let doc: serde_json::Value = serde_json::from_str(fixture).unwrap();
    let secret = doc["secret_key"].as_str().unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 25, "the fixture holds the whole suite");
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let raw = parse_raw(v["req"].as_str().unwrap());
        let creq_expected = v["creq"].as_str().unwrap();
        let signed: Vec<String> = creq_expected
            .lines()
            .rev()
            .nth(1)
            .unwrap()
            .split(';')
            .map(String::from)
            .collect();
        let mode = if v["group"] == "normalize-path" {
            PathMode::Normalize
        } else {
            PathMode::S3
        };
        let query = parse_query(&raw.query).unwrap();
        let headers = sigv4::canonical_headers(&signed, |n| {
            raw.headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.as_bytes())
                .collect()
        });
        let payload = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw.body.as_bytes()));
        let creq = sigv4::canonical_request(
            &raw.method,
            &sigv4::canonical_uri(&raw.path, mode),
            &sigv4::canonical_query(&query),
            &headers,
            &signed,
            &payload,
        );
        assert_eq!(creq, creq_expected, "canonical request of {name}");
        let scope = Scope {
            access_key: "AKIDEXAMPLE".into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "service".into(),
        };
        let sts = sigv4::string_to_sign("20150830T123600Z", &scope, &creq);
        assert_eq!(sts, v["sts"].as_str().unwrap(), "string to sign of {name}");
        let sig = SigningKey::derive(secret, &scope).unwrap().sign(&sts);
        assert_eq!(sig, v["signature"].as_str().unwrap(), "signature of {name}");
    }
}
