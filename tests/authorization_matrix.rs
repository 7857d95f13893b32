//! The authorization matrix: every operation × every kind of caller × version named or
//! not, signed with SigV4 and with SigV2, against a running server, compared with the
//! expectations written from AWS's documentation (`src/s3/authz_expectations.rs`, which the
//! server's unit tests hold to cover every operation). An operation that writes gets a
//! fresh bucket for every request, so no answer depends on an earlier one.

mod common;

#[path = "../src/s3/authz_expectations.rs"]
#[allow(dead_code)]
mod authz_expectations;

use authz_expectations::{Allowed, Who, EVERY_KIND, EXPECTATIONS};
use common::{RawResponse, Server};
use std::collections::HashMap;
use std::time::SystemTime;

/// How a request to one operation is made: method, target, query, headers, body.
struct Recipe {
    method: &'static str,
    /// `None`: the service; `Some("")`: the bucket; `Some(key)`: an object.
    target: Option<&'static str>,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const fn r(
    method: &'static str,
    target: Option<&'static str>,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Recipe {
    Recipe {
        method,
        target,
        query,
        headers,
        body,
    }
}

const B: Option<&str> = Some("");
const K: Option<&str> = Some("k");
/// A key written by the requests that create objects (never `k`, which copies read).
const K2: Option<&str> = Some("k2");
const BAD_DOC: &str = "<NotADocument/>";
const LOCK_MODE: &[(&str, &str)] = &[
    ("x-amz-object-lock-mode", "GOVERNANCE"),
    (
        "x-amz-object-lock-retain-until-date",
        "2031-01-01T00:00:00Z",
    ),
];
const LEGAL_HOLD: &[(&str, &str)] = &[("x-amz-object-lock-legal-hold", "ON")];
const COPY_K: &[(&str, &str)] = &[("x-amz-copy-source", "/{bucket}/k")];

fn recipe(operation: &str) -> Option<Recipe> {
    Some(match operation {
        "ListBuckets" => r("GET", None, "", &[], ""),
        "CreateBucket" => r("PUT", B, "", &[], ""),
        "GetBucketLocation" => r("GET", B, "location", &[], ""),
        "GetBucketCors" => r("GET", B, "cors", &[], ""),
        "GetBucketPolicy" => r("GET", B, "policy", &[], ""),
        "GetBucketPolicyStatus" => r("GET", B, "policyStatus", &[], ""),
        "GetPublicAccessBlock" => r("GET", B, "publicAccessBlock", &[], ""),
        "GetBucketOwnershipControls" => r("GET", B, "ownershipControls", &[], ""),
        "GetBucketVersioning" => r("GET", B, "versioning", &[], ""),
        "GetObjectLockConfiguration" => r("GET", B, "object-lock", &[], ""),
        "GetBucketLifecycleConfiguration" => r("GET", B, "lifecycle", &[], ""),
        "GetBucketAcl" => r("GET", B, "acl", &[], ""),
        "GetBucketTagging" => r("GET", B, "tagging", &[], ""),
        "GetBucketLogging" => r("GET", B, "logging", &[], ""),
        "GetBucketEncryption" => r("GET", B, "encryption", &[], ""),
        "ListObjectVersions" => r("GET", B, "versions", &[], ""),
        "ListMultipartUploads" => r("GET", B, "uploads", &[], ""),
        "ListObjectsV2" => r("GET", B, "list-type=2", &[], ""),
        "ListObjects" => r("GET", B, "", &[], ""),
        "HeadBucket" => r("HEAD", B, "", &[], ""),
        "PutBucketCors" => r("PUT", B, "cors", &[], BAD_DOC),
        "PutBucketPolicy" => r("PUT", B, "policy", &[], "{not json"),
        "PutBucketVersioning" => r("PUT", B, "versioning", &[], BAD_DOC),
        "PutObjectLockConfiguration" => r("PUT", B, "object-lock", &[], BAD_DOC),
        "PutBucketLifecycleConfiguration" => r("PUT", B, "lifecycle", &[], BAD_DOC),
        "PutBucketAcl" => r("PUT", B, "acl", &[], BAD_DOC),
        "PutBucketTagging" => r("PUT", B, "tagging", &[], BAD_DOC),
        "PutBucketLogging" => r("PUT", B, "logging", &[], BAD_DOC),
        "PutBucketEncryption" => r("PUT", B, "encryption", &[], BAD_DOC),
        "PutPublicAccessBlock" => r("PUT", B, "publicAccessBlock", &[], BAD_DOC),
        "PutBucketOwnershipControls" => r("PUT", B, "ownershipControls", &[], BAD_DOC),
        "DeleteBucketCors" => r("DELETE", B, "cors", &[], ""),
        "DeleteBucketPolicy" => r("DELETE", B, "policy", &[], ""),
        "DeleteBucketTagging" => r("DELETE", B, "tagging", &[], ""),
        "DeleteBucketEncryption" => r("DELETE", B, "encryption", &[], ""),
        "DeleteBucketLifecycle" => r("DELETE", B, "lifecycle", &[], ""),
        "DeletePublicAccessBlock" => r("DELETE", B, "publicAccessBlock", &[], ""),
        "DeleteBucketOwnershipControls" => r("DELETE", B, "ownershipControls", &[], ""),
        "DeleteBucket" => r("DELETE", B, "", &[], ""),
        // The body is built per request (it names the version).
        "DeleteObjects" => r("POST", B, "delete", &[], ""),
        // Built per request (a form).
        "PostObject" => r("POST", B, "", &[], ""),
        "GetObjectTagging" => r("GET", K, "tagging", &[], ""),
        "GetObjectRetention" => r("GET", K, "retention", &[], ""),
        "GetObjectLegalHold" => r("GET", K, "legal-hold", &[], ""),
        "GetObjectAcl" => r("GET", K, "acl", &[], ""),
        "GetObjectAttributes" => r(
            "GET",
            K,
            "attributes",
            &[("x-amz-object-attributes", "ETag")],
            "",
        ),
        "ListParts" => r("GET", K2, "uploadId={upload}", &[], ""),
        "GetObject" => r("GET", K, "", &[], ""),
        "HeadObject" => r("HEAD", K, "", &[], ""),
        "PutObjectTagging" => r("PUT", K, "tagging", &[], "<Tagging><TagSet/></Tagging>"),
        "PutObjectRetention" => r("PUT", K, "retention", &[], BAD_DOC),
        "PutObjectLegalHold" => r("PUT", K, "legal-hold", &[], BAD_DOC),
        "PutObjectAcl" => r("PUT", K, "acl", &[("x-amz-acl", "private")], ""),
        "UploadPartCopy" => r("PUT", K2, "partNumber=1&uploadId={upload}", COPY_K, ""),
        "UploadPart" => r("PUT", K2, "partNumber=1&uploadId={upload}", &[], "part"),
        "CopyObject" => r("PUT", K2, "", COPY_K, ""),
        "PutObject" => r("PUT", K2, "", &[], "new course"),
        "DeleteObjectTagging" => r("DELETE", K, "tagging", &[], ""),
        "AbortMultipartUpload" => r("DELETE", K2, "uploadId={upload}", &[], ""),
        "DeleteObject" => r("DELETE", K, "", &[], ""),
        "CreateMultipartUpload" => r("POST", K2, "uploads", &[], ""),
        "CompleteMultipartUpload" => r(
            "POST",
            K2,
            "uploadId={upload}",
            &[],
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"x\"</ETag></Part></CompleteMultipartUpload>",
        ),
        "PutObject + x-amz-object-lock-mode" => r("PUT", K2, "", LOCK_MODE, "locked"),
        "PutObject + x-amz-object-lock-legal-hold" => r("PUT", K2, "", LEGAL_HOLD, "held"),
        "CopyObject + x-amz-object-lock-mode" => r(
            "PUT",
            K2,
            "",
            &[
                ("x-amz-copy-source", "/{bucket}/k"),
                ("x-amz-object-lock-mode", "GOVERNANCE"),
                ("x-amz-object-lock-retain-until-date", "2031-01-01T00:00:00Z"),
            ],
            "",
        ),
        "CreateMultipartUpload + x-amz-object-lock-legal-hold" => {
            r("POST", K2, "uploads", LEGAL_HOLD, "")
        }
        _ => return None,
    })
}

/// Which bucket ACL the anonymous kinds meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    Private,
    PublicRead,
    PublicReadWrite,
}

fn variant_of(who: Who) -> Variant {
    match who {
        Who::AnonPublicRead => Variant::PublicRead,
        Who::AnonPublicReadWrite => Variant::PublicReadWrite,
        _ => Variant::Private,
    }
}

/// A bucket set up as `authz_expectations::Who` describes.
struct Fixture {
    bucket: String,
    version: String,
    upload: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signing {
    V4,
    V2,
}

struct Matrix {
    srv: Server,
    /// Credentials by kind (the anonymous kinds have none).
    keys: HashMap<&'static str, (String, String)>,
    ids: HashMap<&'static str, String>,
    next_bucket: usize,
}

fn user_name(who: Who) -> Option<&'static str> {
    Some(match who {
        Who::Admin => "admin",
        Who::Owner => "owner",
        Who::ObjectOwner => "objowner",
        Who::Reader => "reader",
        Who::Writer => "writer",
        Who::FullControl => "full",
        Who::PolicyAllowed => "allowed",
        Who::PolicyDenied => "denied",
        _ => return None,
    })
}

impl Matrix {
    async fn start() -> Matrix {
        let srv = Server::start();
        let mut keys = HashMap::new();
        keys.insert("admin", (srv.access_key.clone(), srv.secret_key.clone()));
        for name in [
            "owner", "objowner", "reader", "writer", "full", "allowed", "denied",
        ] {
            keys.insert(name, srv.new_user(name).await);
        }
        let (_, users) = srv.admin("GET", "/users", None).await;
        let ids = users
            .as_array()
            .expect("users")
            .iter()
            .filter_map(|u| {
                let name = u["name"].as_str()?;
                let known = keys.keys().find(|k| **k == name)?;
                Some((*known, u["id"].as_str()?.to_string()))
            })
            .collect();
        Matrix {
            srv,
            keys,
            ids,
            next_bucket: 0,
        }
    }

    fn raw(&self, name: &str) -> common::Raw {
        self.srv.raw_as(&self.keys[name])
    }

    async fn fixture(&mut self, variant: Variant) -> Fixture {
        self.next_bucket += 1;
        let bucket = format!("matrix-{}", self.next_bucket);
        let owner = self.raw("owner");
        let ok = |r: &RawResponse, what: &str| assert!(r.status < 300, "{what}: {}", r.text());
        let r = owner
            .send("PUT", &format!("/{bucket}"), &[], vec![], true, None)
            .await;
        ok(&r, "create");
        let r = owner
            .send(
                "PUT",
                &format!("/{bucket}?versioning"),
                &[],
                br#"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"#
                    .to_vec(),
                true,
                None,
            )
            .await;
        ok(&r, "versioning");
        let id = |n: &str| format!("id=\"{}\"", self.ids[n]);
        let all_users = "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"";
        let mut read = vec![id("reader")];
        let mut write = vec![id("writer"), id("objowner")];
        if variant != Variant::Private {
            read.push(all_users.to_string());
        }
        if variant == Variant::PublicReadWrite {
            write.push(all_users.to_string());
        }
        let full = [id("full"), id("denied")].join(", ");
        let (read, write) = (read.join(", "), write.join(", "));
        let r = owner
            .send(
                "PUT",
                &format!("/{bucket}?acl"),
                &[
                    ("x-amz-grant-read", &read),
                    ("x-amz-grant-write", &write),
                    ("x-amz-grant-full-control", &full),
                ],
                vec![],
                true,
                None,
            )
            .await;
        ok(&r, "acl");
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/allowed"},
                 "Action": "s3:*",
                 "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]},
                {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:user/denied"},
                 "Action": "s3:*",
                 "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]}
            ]
        });
        let r = owner
            .send(
                "PUT",
                &format!("/{bucket}?policy"),
                &[],
                policy.to_string().into_bytes(),
                true,
                None,
            )
            .await;
        ok(&r, "policy");
        let object_acl: &[(&str, &str)] = match variant {
            Variant::Private => &[],
            _ => &[("x-amz-acl", "public-read")],
        };
        let r = self
            .raw("objowner")
            .send(
                "PUT",
                &format!("/{bucket}/k"),
                object_acl,
                b"course".to_vec(),
                true,
                None,
            )
            .await;
        ok(&r, "object");
        let version = r.header("x-amz-version-id").expect("version id");
        let r = owner
            .send(
                "POST",
                &format!("/{bucket}/k2?uploads"),
                &[],
                vec![],
                true,
                None,
            )
            .await;
        ok(&r, "upload");
        let upload = r
            .text()
            .split("<UploadId>")
            .nth(1)
            .and_then(|t| t.split("</UploadId>").next())
            .expect("upload id")
            .to_string();
        Fixture {
            bucket,
            version,
            upload,
        }
    }

    /// Sends one operation as `who`; returns whether it was allowed, and the answer.
    async fn attempt(
        &self,
        operation: &str,
        who: Who,
        signing: Signing,
        f: &Fixture,
        version: bool,
    ) -> (bool, String) {
        let rec = recipe(operation).unwrap_or_else(|| panic!("no recipe for {operation}"));
        let mut query = rec.query.replace("{upload}", &f.upload);
        if version {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("versionId={}", f.version));
        }
        let path = match rec.target {
            None => "/".to_string(),
            Some("") => format!("/{}", f.bucket),
            Some(key) => format!("/{}/{key}", f.bucket),
        };
        let headers: Vec<(String, String)> = rec
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("{bucket}", &f.bucket)))
            .collect();
        let mut body = rec.body.as_bytes().to_vec();
        if operation == "DeleteObjects" {
            // The version goes into the document, not the query.
            query = "delete".into();
            let v = if version {
                format!("<VersionId>{}</VersionId>", f.version)
            } else {
                String::new()
            };
            body = format!("<Delete><Object><Key>k</Key>{v}</Object></Delete>").into_bytes();
        }
        let target = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let response = if operation == "PostObject" {
            post_form(&self.srv.s3, &f.bucket).await
        } else {
            let hdrs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            match (user_name(who), signing) {
                (None, _) => {
                    self.raw("admin")
                        .send(rec.method, &target, &hdrs, body, false, None)
                        .await
                }
                (Some(name), Signing::V4) => {
                    self.raw(name)
                        .send(rec.method, &target, &hdrs, body, true, None)
                        .await
                }
                (Some(name), Signing::V2) => {
                    let (ak, sk) = &self.keys[name];
                    send_v2(&self.srv.s3, ak, sk, rec.method, &path, &query, &hdrs, body).await
                }
            }
        };
        let text = response.text();
        let summary = format!("{} {}", response.status, response.code());
        let denied = if operation == "DeleteObjects" && response.status == 200 {
            !text.contains("<Deleted>")
        } else {
            response.status == 403
        };
        if response.status == 403 {
            assert!(
                rec.method == "HEAD" || response.code() == "AccessDenied",
                "{operation} as {who:?}: a refusal other than AccessDenied: {text}"
            );
        }
        assert!(
            response.status < 500,
            "{operation} as {who:?}: {summary} {text}"
        );
        (!denied, summary)
    }
}

/// An unsigned browser form: anonymous.
async fn post_form(s3: &str, bucket: &str) -> RawResponse {
    let form = reqwest::multipart::Form::new().text("key", "k2").part(
        "file",
        reqwest::multipart::Part::bytes(b"form".to_vec()).file_name("f"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{s3}/{bucket}"))
        .multipart(form)
        .send()
        .await
        .expect("form post");
    RawResponse::read(resp).await
}

/// A SigV2 header-signed request, the way boto's HmacV1 signer makes one (every query
/// parameter the route selects on is a signed sub-resource, `list-type` aside).
#[allow(clippy::too_many_arguments)]
async fn send_v2(
    s3: &str,
    ak: &str,
    sk: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> RawResponse {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let pairs = bascule_api::encoding::parse_query(query).expect("query");
    let resource = bascule_api::sigv2::canonical_resource(None, path, &pairs, |n| n != "list-type");
    let amz = bascule_api::sigv2::canonical_amz_headers(headers.iter().copied());
    let sts = bascule_api::sigv2::string_to_sign(method, "", "", &date, &amz, &resource);
    let sig = bascule_api::sigv2::sign(sk, &sts).expect("sign");
    let url = if query.is_empty() {
        format!("{s3}{path}")
    } else {
        format!("{s3}{path}?{query}")
    };
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            url,
        )
        .header("date", date)
        .header("authorization", format!("AWS {ak}:{sig}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    RawResponse::read(req.body(body).send().await.expect("v2 request")).await
}

fn writes(operation: &str) -> bool {
    recipe(operation).is_some_and(|r| r.method != "GET" && r.method != "HEAD")
}

#[tokio::test]
async fn every_operation_by_every_caller() {
    let mut m = Matrix::start().await;
    let mut shared: HashMap<Variant, Fixture> = HashMap::new();
    for v in [
        Variant::Private,
        Variant::PublicRead,
        Variant::PublicReadWrite,
    ] {
        let f = m.fixture(v).await;
        shared.insert(v, f);
    }
    let mut failures = Vec::new();
    let mut tried = 0;
    for e in EXPECTATIONS {
        let Allowed::Only { plain, version } = e.allowed else {
            continue;
        };
        let mut columns = vec![(false, plain)];
        if let Some(v) = version {
            columns.push((true, v));
        }
        for (named_version, allowed) in columns {
            for &who in EVERY_KIND {
                let anonymous = user_name(who).is_none();
                // Only an unsigned form is made here; signed forms are PutObject's cases.
                if e.operation == "PostObject" && !anonymous {
                    continue;
                }
                for signing in [Signing::V4, Signing::V2] {
                    if anonymous && signing == Signing::V2 {
                        continue;
                    }
                    let fresh;
                    let f = if writes(e.operation) {
                        fresh = m.fixture(variant_of(who)).await;
                        &fresh
                    } else {
                        &shared[&variant_of(who)]
                    };
                    let (got, answer) =
                        m.attempt(e.operation, who, signing, f, named_version).await;
                    tried += 1;
                    let want = allowed.contains(&who);
                    if got != want {
                        failures.push(format!(
                            "{} {}as {who:?} ({signing:?}): expected {}, got {answer}",
                            e.operation,
                            if named_version {
                                "naming a version "
                            } else {
                                ""
                            },
                            if want { "allowed" } else { "AccessDenied" },
                        ));
                    }
                }
            }
        }
    }
    assert!(tried > 1000, "only {tried} requests were tried");
    assert!(
        failures.is_empty(),
        "{} of {tried} answers differ from the expectations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The expectations name only operations the matrix knows how to make.
#[test]
fn every_expectation_has_a_recipe() {
    for e in EXPECTATIONS {
        if matches!(e.allowed, Allowed::Only { .. }) {
            assert!(recipe(e.operation).is_some(), "{}", e.operation);
        }
    }
}
