//! ListObjects v1/v2 and ListObjectVersions: prefix, delimiter, pagination, encoding.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use common::Server;

const KEYS: &[&str] = &[
    "a.txt",
    "docs/2025/x.pdf",
    "docs/2026/y.pdf",
    "docs/readme",
    "photos/cat.jpg",
    "photos/dog.jpg",
    "z file+plus.txt",
];

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    for k in KEYS {
        c.put_object()
            .bucket("bkt")
            .key(*k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
    }
    (srv, c)
}

#[tokio::test]
async fn v2_prefix_delimiter_and_pagination() {
    let (_srv, c) = setup().await;
    let all = c.list_objects_v2().bucket("bkt").send().await.unwrap();
    let keys: Vec<_> = all.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, KEYS);
    assert_eq!(all.key_count(), Some(7));
    assert_eq!(all.contents()[0].size(), Some(5));

    let top = c
        .list_objects_v2()
        .bucket("bkt")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = top.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(keys, vec!["a.txt", "z file+plus.txt"]);
    assert_eq!(prefixes, vec!["docs/", "photos/"]);

    let docs = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("docs/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = docs.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<_> = docs
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(keys, vec!["docs/readme"]);
    assert_eq!(prefixes, vec!["docs/2025/", "docs/2026/"]);

    // Pages of 2 with a delimiter: items are keys and common prefixes.
    let mut token = None;
    let mut seen = Vec::new();
    loop {
        let page = c
            .list_objects_v2()
            .bucket("bkt")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
        seen.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(String::from)),
        );
        assert!(page.key_count().unwrap_or(0) <= 2);
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(String::from);
        assert!(token.is_some());
    }
    seen.sort();
    assert_eq!(seen, vec!["a.txt", "docs/", "photos/", "z file+plus.txt"]);

    let after = c
        .list_objects_v2()
        .bucket("bkt")
        .start_after("docs/readme")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = after.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys,
        vec!["photos/cat.jpg", "photos/dog.jpg", "z file+plus.txt"]
    );

    let owner = c
        .list_objects_v2()
        .bucket("bkt")
        .fetch_owner(true)
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        owner.contents()[0].owner().and_then(|o| o.display_name()),
        Some("admin")
    );
    assert_eq!(
        owner.contents()[0]
            .owner()
            .and_then(|o| o.id())
            .map(|id| id.len()),
        Some(64)
    );
    let none = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("nothing/")
        .send()
        .await
        .unwrap();
    assert!(none.contents().is_empty());
    assert_eq!(none.key_count(), Some(0));
}

#[tokio::test]
async fn v1_markers() {
    let (_srv, c) = setup().await;
    let p1 = c
        .list_objects()
        .bucket("bkt")
        .max_keys(3)
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = p1.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, &KEYS[..3]);
    assert_eq!(p1.is_truncated(), Some(true));
    let p2 = c
        .list_objects()
        .bucket("bkt")
        .marker(keys[2])
        .send()
        .await
        .unwrap();
    let keys2: Vec<_> = p2.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys2, &KEYS[3..]);
    let d = c
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(d.next_marker(), Some("docs/"));
    let d2 = c
        .list_objects()
        .bucket("bkt")
        .delimiter("/")
        .marker("docs/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<_> = d2
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(
        prefixes,
        vec!["photos/"],
        "a common-prefix marker skips everything under it"
    );
}

#[tokio::test]
async fn encoding_type_url() {
    let (srv, _c) = setup().await;
    let r = srv
        .raw()
        .send(
            "GET",
            "/bkt?list-type=2&prefix=z&encoding-type=url",
            &[],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("<Key>z%20file%2Bplus.txt</Key>"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("<EncodingType>url</EncodingType>"));
}

#[tokio::test]
async fn object_versions_on_unversioned_bucket() {
    let (_srv, c) = setup().await;
    let v = c
        .list_object_versions()
        .bucket("bkt")
        .prefix("photos/")
        .send()
        .await
        .unwrap();
    let versions = v.versions();
    assert_eq!(versions.len(), 2);
    assert!(versions
        .iter()
        .all(|x| x.version_id() == Some("null") && x.is_latest() == Some(true)));
    assert_eq!(versions[0].key(), Some("photos/cat.jpg"));
    assert!(v.delete_markers().is_empty());
}

#[tokio::test]
async fn empty_pages_and_prefix_echo() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    for k in ["a b/1", " a/2", "a+b/3"] {
        common::put(&c, "bkt", k, b"x".to_vec()).await;
    }
    let v2 = c
        .list_objects_v2()
        .bucket("bkt")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.key_count(), Some(0));
    assert_eq!(
        v2.is_truncated(),
        Some(false),
        "max-keys=0 is a complete page"
    );
    assert!(v2.contents().is_empty());
    for prefix in [" a", "a b/", "a+b", "%2F", "é"] {
        let v1 = c
            .list_objects()
            .bucket("bkt")
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        assert_eq!(v1.prefix(), Some(prefix), "v1 echoes the prefix as sent");
        let v2 = c
            .list_objects_v2()
            .bucket("bkt")
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        assert_eq!(v2.prefix(), Some(prefix));
    }
}

#[tokio::test]
async fn list_buckets_pagination() {
    let srv = Server::start();
    let c = srv.client();
    for b in ["b-one", "b-three", "b-two", "other"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    let first = c
        .list_buckets()
        .max_buckets(2)
        .prefix("b-")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = first.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["b-one", "b-three"]);
    assert_eq!(first.prefix(), Some("b-"));
    let token = first
        .continuation_token()
        .expect("more to come")
        .to_string();
    let second = c
        .list_buckets()
        .max_buckets(2)
        .prefix("b-")
        .continuation_token(token)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = second.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["b-two"]);
    assert_eq!(second.continuation_token(), None);
    assert_eq!(
        second.buckets()[0].bucket_region(),
        Some("us-east-1"),
        "each bucket names its region"
    );
    let e = c.list_buckets().max_buckets(0).send().await.unwrap_err();
    assert_eq!(common::err_code(&e), "InvalidArgument");
}
