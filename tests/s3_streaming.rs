//! aws-chunked uploads signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD and its
//! -TRAILER variant), built with the aws-sigv4 crate's own chunk and trailer signer.

mod common;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::http::Headers;
use bytes::Bytes;
use common::{data, RawResponse, Server};
use std::time::SystemTime;

#[derive(Clone, Copy, PartialEq)]
enum Tamper {
    None,
    ChunkData,
    TrailerValue,
    WrongChecksum,
}

async fn streaming_put(
    srv: &Server,
    key: &str,
    body: &[u8],
    chunk: usize,
    trailer: bool,
    tamper: Tamper,
) -> RawResponse {
    let url = format!("{}/bkt/{key}", srv.s3);
    let host = srv.s3.trim_start_matches("http://").to_string();
    let identity: Identity =
        Credentials::new(&srv.access_key, &srv.secret_key, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
    settings.uri_path_normalization_mode =
        aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
    let now = SystemTime::now();
    let build = |settings: SigningSettings| {
        v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .unwrap()
    };
    let params = build(settings.clone());
    let mode = if trailer {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    } else {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    };
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("x-amz-content-sha256".into(), mode.into()),
        ("content-encoding".into(), "aws-chunked".into()),
        (
            "x-amz-decoded-content-length".into(),
            body.len().to_string(),
        ),
    ];
    if trailer {
        headers.push(("x-amz-trailer".into(), "x-amz-checksum-crc32c".into()));
    }
    let signable = SignableRequest::new(
        "PUT",
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Precomputed(mode.into()),
    )
    .unwrap();
    let out = sign(signable, &build(settings).into()).unwrap();
    let mut prev = out.signature().to_string();
    let (instructions, _) = out.into_parts();
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }

    let mut wire = Vec::new();
    for piece in body.chunks(chunk) {
        let sig = v4::sign_chunk(&Bytes::copy_from_slice(piece), &prev, &params)
            .unwrap()
            .signature()
            .to_string();
        wire.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
        prev = sig;
    }
    let sig = v4::sign_chunk(&Bytes::new(), &prev, &params)
        .unwrap()
        .signature()
        .to_string();
    wire.extend_from_slice(format!("0;chunk-signature={sig}\r\n").as_bytes());
    prev = sig;
    if trailer {
        let mut value = bascule_api::checksum::checksum_of(
            bascule_api::checksum::ChecksumAlgorithm::Crc32c,
            body,
        );
        if tamper == Tamper::WrongChecksum {
            value = "AAAAAA==".into();
        }
        let mut t = Headers::new();
        t.insert("x-amz-checksum-crc32c", value.clone());
        let tsig = v4::sign_trailer(&t, &prev, &params)
            .unwrap()
            .signature()
            .to_string();
        if tamper == Tamper::TrailerValue {
            value = "AAAAAA==".into();
        }
        wire.extend_from_slice(
            format!("x-amz-checksum-crc32c:{value}\r\nx-amz-trailer-signature:{tsig}\r\n\r\n")
                .as_bytes(),
        );
    } else {
        wire.extend_from_slice(b"\r\n");
    }
    if tamper == Tamper::ChunkData {
        let pos = wire.iter().position(|b| *b == b'\n').unwrap() + 5;
        wire[pos] ^= 1;
    }
    let client = reqwest::Client::new();
    let mut req = client.put(&url);
    for (k, v) in &headers {
        if k != "host" {
            req = req.header(k, v);
        }
    }
    let resp = req.body(wire).send().await.unwrap();
    RawResponse {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn signed_chunks_with_and_without_trailer() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let body = data(200_000, 5);
    for (trailer, key) in [(false, "plain"), (true, "trailer")] {
        let r = streaming_put(&srv, key, &body, 65536, trailer, Tamper::None).await;
        assert_eq!(r.status, 200, "{key}: {}", r.text());
        let got = c.get_object().bucket("bkt").key(key).send().await.unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            body.as_slice(),
            "{key}"
        );
    }
    let r = streaming_put(&srv, "t1", &body, 65536, false, Tamper::ChunkData).await;
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    let r = streaming_put(&srv, "t2", &body, 65536, true, Tamper::TrailerValue).await;
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    let r = streaming_put(&srv, "t3", &body, 65536, true, Tamper::WrongChecksum).await;
    assert_eq!(r.code(), "BadDigest");
    for k in ["t1", "t2", "t3"] {
        assert!(
            c.head_object().bucket("bkt").key(k).send().await.is_err(),
            "{k} must not exist"
        );
    }
}
