//! Bucket versioning through aws-sdk-s3 (and raw requests where the SDK hides a header):
//! versions, delete markers, the null version, version-addressed reads and writes, and
//! version listings with their markers.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, Tag, Tagging};
use common::{all_versions, err_code, get_version, set_versioning, Server};

async fn versioned(bucket: &str) -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket(bucket).send().await.unwrap();
    set_versioning(&c, bucket, "Enabled").await;
    (srv, c)
}

async fn put_v(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    out.version_id()
        .expect("a versioned bucket answers a version id")
        .to_string()
}

#[tokio::test]
async fn every_write_is_a_version_and_each_reads_back() {
    let (_srv, c) = versioned("ver").await;
    let v1 = put_v(&c, "ver", "cours.pdf", b"first").await;
    let v2 = put_v(&c, "ver", "cours.pdf", b"second").await;
    assert_ne!(v1, v2);
    assert_ne!(v1, "null");
    let cur = c
        .get_object()
        .bucket("ver")
        .key("cours.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(cur.version_id(), Some(v2.as_str()));
    assert_eq!(
        cur.body.collect().await.unwrap().into_bytes().as_ref(),
        b"second"
    );
    assert_eq!(get_version(&c, "ver", "cours.pdf", &v1).await, b"first");
    let head = c
        .head_object()
        .bucket("ver")
        .key("cours.pdf")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5));
    assert_eq!(head.version_id(), Some(v1.as_str()));
    // Plain listings show the current version only.
    let l = c.list_objects_v2().bucket("ver").send().await.unwrap();
    assert_eq!(l.contents().len(), 1);
    assert_eq!(l.contents()[0].size(), Some(6));
    let (versions, markers) = all_versions(&c, "ver", 1000).await;
    assert!(markers.is_empty());
    let ids: Vec<(&str, bool)> = versions.iter().map(|v| (v.1.as_str(), v.2)).collect();
    assert_eq!(ids, vec![(v2.as_str(), true), (v1.as_str(), false)]);
    // A version id of another key names nothing there.
    let other = put_v(&c, "ver", "other", b"x").await;
    let e = c
        .get_object()
        .bucket("ver")
        .key("cours.pdf")
        .version_id(&other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchVersion");
}

#[tokio::test]
async fn delete_writes_a_marker_and_deleting_the_marker_restores() {
    let (srv, c) = versioned("ver").await;
    let v1 = put_v(&c, "ver", "k", b"one").await;
    let del = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().expect("the marker's id").to_string();
    assert_ne!(marker, v1);
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey");
    // GET and HEAD alike name the marker that hides the key.
    for method in ["GET", "HEAD"] {
        let raw = srv
            .raw()
            .send(method, "/ver/k", &[], Vec::new(), true, None)
            .await;
        assert_eq!(raw.status, 404, "{method}");
        assert_eq!(
            raw.header("x-amz-delete-marker").as_deref(),
            Some("true"),
            "{method}"
        );
        assert_eq!(
            raw.header("x-amz-version-id").as_deref(),
            Some(marker.as_str()),
            "{method}"
        );
    }
    // Reading the marker itself is not allowed.
    let path = format!("/ver/k?versionId={marker}");
    let raw = srv
        .raw()
        .send("GET", &path, &[], Vec::new(), true, None)
        .await;
    assert_eq!((raw.status, raw.code().as_str()), (405, "MethodNotAllowed"));
    assert_eq!(raw.header("x-amz-delete-marker").as_deref(), Some("true"));
    let raw = srv
        .raw()
        .send("HEAD", &path, &[], Vec::new(), true, None)
        .await;
    assert_eq!(raw.status, 405);
    // The old version is still there, and the key is out of plain listings.
    assert_eq!(get_version(&c, "ver", "k", &v1).await, b"one");
    assert!(common::list_keys(&c, "ver").await.is_empty());
    let (versions, markers) = all_versions(&c, "ver", 1000).await;
    assert_eq!(versions.len(), 1);
    assert!(!versions[0].2, "the version behind a marker is not latest");
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (markers[0].1.as_str(), markers[0].2),
        (marker.as_str(), true)
    );
    // The counters: no current object, one old version and one marker, the old bytes.
    let (_, buckets) = srv.admin("GET", "/buckets", None).await;
    let b = &buckets.as_array().unwrap()[0];
    assert_eq!(
        (
            b["objects"].as_u64(),
            b["versions"].as_u64(),
            b["bytes"].as_u64()
        ),
        (Some(0), Some(2), Some(3))
    );
    // Removing the marker brings the object back.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some(marker.as_str()));
    assert_eq!(
        common::get(&c, "ver", "k").await.as_deref(),
        Some(&b"one"[..])
    );
    // A bucket holding only old versions or markers is not empty.
    c.delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap();
    let e = c.delete_bucket().bucket("ver").send().await.unwrap_err();
    assert_eq!(err_code(&e), "BucketNotEmpty");
}

#[tokio::test]
async fn deleting_a_version_for_good_makes_the_previous_current() {
    let (_srv, c) = versioned("ver").await;
    let v1 = put_v(&c, "ver", "k", b"one").await;
    let v2 = put_v(&c, "ver", "k", b"two").await;
    let v3 = put_v(&c, "ver", "k", b"three").await;
    // A noncurrent one first: the current stays.
    c.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::get(&c, "ver", "k").await.as_deref(),
        Some(&b"three"[..])
    );
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchVersion");
    // Then the current one: the next newest takes its place.
    c.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v3)
        .send()
        .await
        .unwrap();
    let cur = c.get_object().bucket("ver").key("k").send().await.unwrap();
    assert_eq!(cur.version_id(), Some(v1.as_str()));
    let l = c.list_objects_v2().bucket("ver").send().await.unwrap();
    assert_eq!(l.contents()[0].size(), Some(3));
    c.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    let (versions, markers) = all_versions(&c, "ver", 1000).await;
    assert!(versions.is_empty() && markers.is_empty());
    c.delete_bucket().bucket("ver").send().await.unwrap();
}

#[tokio::test]
async fn the_null_version_before_and_while_suspended() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("nullv").send().await.unwrap();
    common::put(&c, "nullv", "k", b"before".to_vec()).await;
    set_versioning(&c, "nullv", "Enabled").await;
    let v1 = put_v(&c, "nullv", "k", b"versioned").await;
    // The object written before versioning is the null version, kept.
    assert_eq!(get_version(&c, "nullv", "k", "null").await, b"before");
    set_versioning(&c, "nullv", "Suspended").await;
    let v = c
        .get_bucket_versioning()
        .bucket("nullv")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Suspended"));
    // While suspended, writes replace the null version (one null version only).
    let n = put_v(&c, "nullv", "k", b"null again").await;
    assert_eq!(n, "null");
    put_v(&c, "nullv", "k", b"null third").await;
    let (versions, _) = all_versions(&c, "nullv", 1000).await;
    let ids: Vec<(&str, bool)> = versions.iter().map(|v| (v.1.as_str(), v.2)).collect();
    assert_eq!(ids, vec![("null", true), (v1.as_str(), false)]);
    assert_eq!(get_version(&c, "nullv", "k", "null").await, b"null third");
    assert_eq!(get_version(&c, "nullv", "k", &v1).await, b"versioned");
    // A delete while suspended is a null delete marker that replaces the null version.
    let d = c
        .delete_object()
        .bucket("nullv")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (d.delete_marker(), d.version_id()),
        (Some(true), Some("null"))
    );
    let (versions, markers) = all_versions(&c, "nullv", 1000).await;
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].1, v1);
    assert_eq!((markers[0].1.as_str(), markers[0].2), ("null", true));
    // Back to enabled: new versions get ids again; the bucket never returns to unversioned.
    set_versioning(&c, "nullv", "Enabled").await;
    let v3 = put_v(&c, "nullv", "k", b"again").await;
    assert_ne!(v3, "null");
}

#[tokio::test]
async fn multi_delete_with_and_without_version_ids() {
    let (_srv, c) = versioned("mdel").await;
    let a1 = put_v(&c, "mdel", "a", b"a1").await;
    let a2 = put_v(&c, "mdel", "a", b"a2").await;
    put_v(&c, "mdel", "b", b"b1").await;
    let del = Delete::builder()
        .objects(
            ObjectIdentifier::builder()
                .key("a")
                .version_id(&a1)
                .build()
                .unwrap(),
        )
        .objects(ObjectIdentifier::builder().key("b").build().unwrap())
        .objects(
            ObjectIdentifier::builder()
                .key("c")
                .version_id("not-an-id")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = c
        .delete_objects()
        .bucket("mdel")
        .delete(del)
        .send()
        .await
        .unwrap();
    let deleted = out.deleted();
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted[0].key(), Some("a"));
    assert_eq!(deleted[0].version_id(), Some(a1.as_str()));
    assert_eq!(deleted[0].delete_marker(), None);
    assert_eq!(deleted[1].key(), Some("b"));
    assert_eq!(deleted[1].delete_marker(), Some(true));
    let b_marker = deleted[1]
        .delete_marker_version_id()
        .expect("marker id")
        .to_string();
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some("InvalidArgument"));
    assert_eq!(out.errors()[0].version_id(), Some("not-an-id"));
    let (versions, markers) = all_versions(&c, "mdel", 1000).await;
    let vs: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| (v.0.as_str(), v.1.as_str()))
        .collect();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0], ("a", a2.as_str()));
    assert_eq!(vs[1].0, "b");
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (markers[0].0.as_str(), markers[0].1.as_str()),
        ("b", b_marker.as_str())
    );
    // Deleting the marker through a multi-delete says so.
    let del = Delete::builder()
        .objects(
            ObjectIdentifier::builder()
                .key("b")
                .version_id(&b_marker)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = c
        .delete_objects()
        .bucket("mdel")
        .delete(del)
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted()[0].delete_marker(), Some(true));
    assert_eq!(
        out.deleted()[0].delete_marker_version_id(),
        Some(b_marker.as_str())
    );
    assert_eq!(
        common::get(&c, "mdel", "b").await.as_deref(),
        Some(&b"b1"[..])
    );
}

#[tokio::test]
async fn copy_from_a_version_restores_it_as_the_newest() {
    let (srv, c) = versioned("copyv").await;
    let v1 = put_v(&c, "copyv", "k", b"original").await;
    put_v(&c, "copyv", "k", b"overwritten").await;
    let out = c
        .copy_object()
        .bucket("copyv")
        .key("k")
        .copy_source(format!("copyv/k?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.copy_source_version_id(), Some(v1.as_str()));
    let v3 = out.version_id().expect("the copy's version").to_string();
    assert_ne!(v3, v1);
    assert_eq!(
        common::get(&c, "copyv", "k").await.as_deref(),
        Some(&b"original"[..])
    );
    let (versions, _) = all_versions(&c, "copyv", 1000).await;
    assert_eq!(versions.len(), 3);
    // The two versions holding the same bytes are independent: removing one keeps the other.
    c.delete_object()
        .bucket("copyv")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(get_version(&c, "copyv", "k", &v3).await, b"original");
    // A copy onto itself in a versioned bucket (metadata replaced) is a new version.
    let out = c
        .copy_object()
        .bucket("copyv")
        .key("k")
        .copy_source("copyv/k")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("level", "2")
        .send()
        .await
        .unwrap();
    let v4 = out.version_id().unwrap().to_string();
    assert_ne!(v4, v3);
    assert_eq!(get_version(&c, "copyv", "k", &v3).await, b"original");
    // Copying a delete marker by its id is refused.
    let d = c
        .delete_object()
        .bucket("copyv")
        .key("k")
        .send()
        .await
        .unwrap();
    let marker = d.version_id().unwrap();
    let raw = srv
        .raw()
        .send(
            "PUT",
            "/copyv/k2",
            &[("x-amz-copy-source", &format!("/copyv/k?versionId={marker}"))],
            Vec::new(),
            true,
            None,
        )
        .await;
    assert_eq!((raw.status, raw.code().as_str()), (400, "InvalidRequest"));
}

#[tokio::test]
async fn tags_and_acls_address_one_version() {
    let (_srv, c) = versioned("tagv").await;
    let v1 = put_v(&c, "tagv", "k", b"one").await;
    let v2 = put_v(&c, "tagv", "k", b"two").await;
    let tagging = |v: &str| {
        Tagging::builder()
            .tag_set(Tag::builder().key("v").value(v).build().unwrap())
            .build()
            .unwrap()
    };
    let out = c
        .put_object_tagging()
        .bucket("tagv")
        .key("k")
        .version_id(&v1)
        .tagging(tagging("old"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    let old = c
        .get_object_tagging()
        .bucket("tagv")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.tag_set()[0].value(), "old");
    assert_eq!(old.version_id(), Some(v1.as_str()));
    let cur = c
        .get_object_tagging()
        .bucket("tagv")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(cur.tag_set().is_empty());
    assert_eq!(cur.version_id(), Some(v2.as_str()));
    // The tagged version keeps its place and its data.
    let (versions, _) = all_versions(&c, "tagv", 1000).await;
    let ids: Vec<&str> = versions.iter().map(|v| v.1.as_str()).collect();
    assert_eq!(ids, vec![v2.as_str(), v1.as_str()]);
    assert_eq!(get_version(&c, "tagv", "k", &v1).await, b"one");
    c.delete_object_tagging()
        .bucket("tagv")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    let old = c
        .get_object_tagging()
        .bucket("tagv")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert!(old.tag_set().is_empty());
    let acl = c
        .get_object_acl()
        .bucket("tagv")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert!(acl.owner().is_some());
    let attrs = c
        .get_object_attributes()
        .bucket("tagv")
        .key("k")
        .version_id(&v1)
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some(3));
}

#[tokio::test]
async fn conditional_writes_and_multipart_in_a_versioned_bucket() {
    let (_srv, c) = versioned("mpv").await;
    let v1 = put_v(&c, "mpv", "k", b"one").await;
    // If-None-Match looks at the current version: there is one.
    let e = c
        .put_object()
        .bucket("mpv")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "PreconditionFailed");
    // Behind a delete marker there is no current object: the write goes through.
    c.delete_object()
        .bucket("mpv")
        .key("k")
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("mpv")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("mpv")
        .key("k")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let done = common::complete_with_one_part(&c, "mpv", "k", id, b"multipart").await;
    let vm = done
        .version_id()
        .expect("completion answers the version")
        .to_string();
    assert_eq!(get_version(&c, "mpv", "k", &vm).await, b"multipart");
    assert_eq!(get_version(&c, "mpv", "k", &v1).await, b"one");
    let (versions, markers) = all_versions(&c, "mpv", 1000).await;
    assert_eq!((versions.len(), markers.len()), (3, 1));
}

/// Listing pages of every size give the same versions in the same order, with prefixes,
/// delimiters and markers that land inside a key's versions.
#[tokio::test]
async fn version_listing_pages_agree() {
    let (srv, c) = versioned("lsv").await;
    let mut expected = Vec::new();
    for key in ["a", "dir/x", "dir/y", "z"] {
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(put_v(&c, "lsv", key, format!("{key}{n}").as_bytes()).await);
        }
        ids.reverse();
        expected.extend(ids.into_iter().map(|id| (key.to_string(), id)));
    }
    c.delete_object()
        .bucket("lsv")
        .key("z")
        .send()
        .await
        .unwrap();
    let (full, markers) = all_versions(&c, "lsv", 1000).await;
    let got: Vec<(String, String)> = full.iter().map(|v| (v.0.clone(), v.1.clone())).collect();
    assert_eq!(got, expected);
    assert_eq!(markers.len(), 1);
    for page in [1, 2, 3, 5] {
        let (v, m) = all_versions(&c, "lsv", page).await;
        assert_eq!(
            (v.clone(), m.clone()),
            (full.clone(), markers.clone()),
            "page {page}"
        );
    }
    // The delete marker comes first among z's versions in the document itself.
    let raw = srv
        .raw()
        .send("GET", "/lsv?versions&prefix=z", &[], Vec::new(), true, None)
        .await;
    let body = raw.text();
    let marker_at = body.find("<DeleteMarker>").expect("marker listed");
    let version_at = body.find("<Version>").expect("versions listed");
    assert!(marker_at < version_at, "{body}");
    // A delimiter rolls dir/ up into one prefix.
    let out = c
        .list_object_versions()
        .bucket("lsv")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.common_prefixes().len(), 1);
    assert_eq!(out.common_prefixes()[0].prefix(), Some("dir/"));
    assert_eq!(out.versions().len(), 6);
    // Prefix and a page that stops inside dir/x's versions.
    let out = c
        .list_object_versions()
        .bucket("lsv")
        .prefix("dir/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_key_marker(), Some("dir/x"));
    let next = c
        .list_object_versions()
        .bucket("lsv")
        .prefix("dir/")
        .key_marker("dir/x")
        .version_id_marker(out.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    let rest: Vec<(&str, bool)> = next
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(
        rest,
        vec![
            ("dir/x", false),
            ("dir/y", true),
            ("dir/y", false),
            ("dir/y", false)
        ]
    );
    // A version-id marker without a key marker is refused.
    let raw = srv
        .raw()
        .send(
            "GET",
            "/lsv?versions&version-id-marker=null",
            &[],
            Vec::new(),
            true,
            None,
        )
        .await;
    assert_eq!((raw.status, raw.code().as_str()), (400, "InvalidArgument"));
}

#[tokio::test]
async fn versioning_configuration_is_checked() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("cfg").send().await.unwrap();
    let raw = srv
        .raw()
        .send(
            "PUT",
            "/cfg?versioning",
            &[],
            b"<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>"
                .to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(
        (raw.status, raw.code().as_str()),
        (400, "IllegalVersioningConfigurationException")
    );
    // As AWS: suspending a never-versioned bucket makes it Suspended, and its writes are
    // the null version from then on.
    set_versioning(&c, "cfg", "Suspended").await;
    let v = c
        .get_bucket_versioning()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Suspended"));
    common::put(&c, "cfg", "k", b"x".to_vec()).await;
    let raw = srv
        .raw()
        .send("GET", "/cfg/k", &[], Vec::new(), true, None)
        .await;
    assert_eq!(raw.header("x-amz-version-id").as_deref(), Some("null"));
}

/// Access to one version is decided by that version's ACL, not the current one's.
#[tokio::test]
async fn a_versions_own_acl_decides_who_reads_it() {
    let (srv, c) = versioned("aclv").await;
    let public = c
        .put_object()
        .bucket("aclv")
        .key("k")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"public"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let private = put_v(&c, "aclv", "k", b"private").await;
    let anonymous = |path: String| {
        let raw = srv.raw();
        async move { raw.send("GET", &path, &[], Vec::new(), false, None).await }
    };
    let r = anonymous(format!("/aclv/k?versionId={public}")).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"public"[..]));
    let r = anonymous("/aclv/k".to_string()).await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    let r = anonymous(format!("/aclv/k?versionId={private}")).await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
}
