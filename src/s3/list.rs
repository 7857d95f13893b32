//! ListObjects (v1, v2) and ListObjectVersions over RocksDB's ordered keys. With a
//! delimiter, a whole common prefix is skipped with one seek instead of a scan.

use super::ctx::{Ctx, S3State};
use super::meta::time_of;
use super::owners::Owners;
use super::response::xml_response;
use crate::store::listing::{self, Item, Walk};
use axum::response::Response;
use bascule_api::encoding::uri_encode_path;
use bascule_api::headers::format_iso8601;
use bascule_api::xml::{self, CommonPrefix, ListEntry, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::ObjectRecord;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};

fn max_keys(ctx: &Ctx, name: &str) -> S3Result<usize> {
    match ctx.q(name) {
        None => Ok(1000),
        Some(v) => v.parse::<usize>().map(|n| n.min(1000)).map_err(|_| {
            S3Error::msg(
                S3ErrorCode::InvalidArgument,
                format!("Provided {name} not an integer or within integer range"),
            )
            .with("ArgumentName", name.to_string())
        }),
    }
}

struct Encoder(bool);

impl Encoder {
    fn from(ctx: &Ctx) -> S3Result<Encoder> {
        match ctx.q("encoding-type") {
            None => Ok(Encoder(false)),
            Some("url") => Ok(Encoder(true)),
            Some(_) => Err(S3Error::msg(
                S3ErrorCode::InvalidArgument,
                "Invalid Encoding Method specified in Request",
            )
            .with("ArgumentName", "encoding-type")),
        }
    }
    fn enc(&self, s: &str) -> String {
        if self.0 {
            uri_encode_path(s)
        } else {
            s.to_string()
        }
    }
    fn name(&self) -> Option<String> {
        self.0.then(|| "url".to_string())
    }
}

/// The query parameters every listing shares.
struct Params {
    enc: Encoder,
    prefix: String,
    delimiter: Option<String>,
    max: usize,
}

impl Params {
    fn parse(ctx: &Ctx) -> S3Result<Params> {
        Ok(Params {
            enc: Encoder::from(ctx)?,
            prefix: ctx.q("prefix").unwrap_or("").to_string(),
            delimiter: ctx
                .q("delimiter")
                .filter(|d| !d.is_empty())
                .map(String::from),
            max: max_keys(ctx, "max-keys")?,
        })
    }

    /// Where to start after a marker (`None`: from the beginning).
    fn after(&self, marker: &str) -> Vec<u8> {
        if marker.is_empty() {
            Vec::new()
        } else {
            listing::objects_resume(marker, self.delimiter.as_deref())
        }
    }

    fn page(&self, s: &S3State, ctx: &Ctx, resume: Vec<u8>) -> S3Result<Page> {
        list_page(
            s,
            ctx,
            &self.prefix,
            self.delimiter.as_deref(),
            resume,
            self.max,
        )
    }

    fn common_prefixes(&self, page: &Page) -> Vec<CommonPrefix> {
        page.prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: self.enc.enc(p),
            })
            .collect()
    }
}

struct Page {
    contents: Vec<(String, ObjectRecord)>,
    prefixes: Vec<String>,
    truncated: bool,
    next: Option<Vec<u8>>,
    last: Option<String>,
}

fn list_page(
    s: &S3State,
    ctx: &Ctx,
    prefix: &str,
    delimiter: Option<&str>,
    resume: Vec<u8>,
    max: usize,
) -> S3Result<Page> {
    ctx.require_bucket()?;
    let walked = listing::objects(
        &s.store,
        &Walk {
            bucket: &ctx.bucket,
            prefix,
            delimiter,
            resume,
            max,
        },
    )?;
    let mut page = Page {
        contents: Vec::new(),
        prefixes: Vec::new(),
        truncated: walked.truncated,
        next: walked.next,
        last: None,
    };
    for item in walked.items {
        match item {
            Item::Entry { key, record } => {
                page.last = Some(key.clone());
                page.contents.push((key, record));
            }
            Item::Prefix(p) => {
                page.last = Some(p.clone());
                page.prefixes.push(p);
            }
        }
    }
    Ok(page)
}

fn entry(
    owners: &Owners,
    enc: &Encoder,
    key: &str,
    rec: &ObjectRecord,
    with_owner: bool,
) -> ListEntry {
    ListEntry {
        key: enc.enc(key),
        last_modified: format_iso8601(time_of(rec.last_modified_ms)),
        etag: super::meta::quoted(&rec.etag),
        size: rec.size,
        storage_class: "STANDARD",
        owner: with_owner.then(|| owners.get(&rec.owner)),
        checksum_algorithm: rec.checksum.iter().map(|c| c.algorithm.clone()).collect(),
    }
}

pub fn list_objects_v1(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    let p = Params::parse(ctx)?;
    let marker = ctx.q("marker").unwrap_or("").to_string();
    let page = p.page(s, ctx, p.after(&marker))?;
    let owners = Owners::new(&s.store);
    // S3 gives NextMarker only with a delimiter; otherwise clients use the last key.
    let next_marker = (page.truncated && p.delimiter.is_some())
        .then(|| page.last.clone())
        .flatten()
        .map(|m| p.enc.enc(&m));
    Ok(xml_response(
        "ListBucketResult",
        &xml::ListBucketResultV1 {
            xmlns: S3_NAMESPACE,
            name: ctx.bucket.clone(),
            prefix: p.enc.enc(&p.prefix),
            marker: p.enc.enc(&marker),
            next_marker,
            max_keys: p.max,
            delimiter: p.delimiter.as_deref().map(|d| p.enc.enc(d)),
            is_truncated: page.truncated,
            encoding_type: p.enc.name(),
            contents: page
                .contents
                .iter()
                .map(|(k, r)| entry(&owners, &p.enc, k, r, true))
                .collect(),
            common_prefixes: p.common_prefixes(&page),
        },
    ))
}

pub fn list_objects_v2(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    let p = Params::parse(ctx)?;
    let token = ctx.q("continuation-token").map(String::from);
    let start_after = ctx
        .q("start-after")
        .filter(|s| !s.is_empty())
        .map(String::from);
    let resume = match (&token, &start_after) {
        (Some(t), _) => B64URL.decode(t).map_err(|_| {
            S3Error::msg(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
            .with("ArgumentName", "continuation-token")
        })?,
        (None, Some(sa)) => listing::objects_resume(sa, None),
        (None, None) => Vec::new(),
    };
    let page = p.page(s, ctx, resume)?;
    let owners = Owners::new(&s.store);
    let fetch_owner = ctx.q("fetch-owner") == Some("true");
    Ok(xml_response(
        "ListBucketResult",
        &xml::ListBucketResultV2 {
            xmlns: S3_NAMESPACE,
            name: ctx.bucket.clone(),
            prefix: p.enc.enc(&p.prefix),
            continuation_token: token,
            next_continuation_token: page.next.as_ref().map(|n| B64URL.encode(n)),
            start_after: start_after.map(|s| p.enc.enc(&s)),
            key_count: page.contents.len() + page.prefixes.len(),
            max_keys: p.max,
            delimiter: p.delimiter.as_deref().map(|d| p.enc.enc(d)),
            is_truncated: page.truncated,
            encoding_type: p.enc.name(),
            contents: page
                .contents
                .iter()
                .map(|(k, r)| entry(&owners, &p.enc, k, r, fetch_owner))
                .collect(),
            common_prefixes: p.common_prefixes(&page),
        },
    ))
}

/// ListObjectVersions: every version and delete marker, key by key, newest first.
pub fn list_object_versions(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let p = Params::parse(ctx)?;
    let (enc, prefix, delimiter, max) = (&p.enc, &p.prefix, &p.delimiter, p.max);
    let key_marker = ctx.q("key-marker").unwrap_or("").to_string();
    let version_marker = ctx.q("version-id-marker").unwrap_or("").to_string();
    if key_marker.is_empty() && !version_marker.is_empty() {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidArgument,
            "A version-id marker cannot be specified without a key marker.",
        )
        .with("ArgumentName", "version-id-marker"));
    }
    if !version_marker.is_empty() && version_marker != "null" {
        super::versioning::requested(&super::endpoint::VersionSlot::Id(version_marker.clone()))?;
    }
    let walked = listing::versions(
        &s.store,
        &listing::VersionWalk {
            bucket: &ctx.bucket,
            prefix,
            delimiter: delimiter.as_deref(),
            key_marker: &key_marker,
            version_marker: &version_marker,
            max,
        },
    )?;
    let owners = Owners::new(&s.store);
    let (next_key_marker, next_version_id_marker) = match (walked.truncated, walked.items.last()) {
        (true, Some(listing::VersionItem::Version { key, record, .. })) => {
            (Some(enc.enc(key)), Some(record.version_label().to_string()))
        }
        (true, Some(listing::VersionItem::Prefix(p))) => (Some(enc.enc(p)), None),
        _ => (None, None),
    };
    let mut versions = Vec::new();
    let mut prefixes = Vec::new();
    for item in walked.items {
        match item {
            listing::VersionItem::Prefix(cp) => prefixes.push(CommonPrefix {
                prefix: enc.enc(&cp),
            }),
            listing::VersionItem::Version {
                key,
                record: r,
                latest,
            } if r.delete_marker => {
                versions.push(xml::VersionItem::DeleteMarker(xml::DeleteMarkerEntry {
                    key: enc.enc(&key),
                    version_id: r.version_label().to_string(),
                    is_latest: latest,
                    last_modified: format_iso8601(time_of(r.last_modified_ms)),
                    owner: owners.get(&r.owner),
                }))
            }
            listing::VersionItem::Version {
                key,
                record: r,
                latest,
            } => versions.push(xml::VersionItem::Version(xml::VersionEntry {
                key: enc.enc(&key),
                version_id: r.version_label().to_string(),
                is_latest: latest,
                last_modified: format_iso8601(time_of(r.last_modified_ms)),
                etag: super::meta::quoted(&r.etag),
                size: r.size,
                storage_class: "STANDARD",
                owner: owners.get(&r.owner),
            })),
        }
    }
    Ok(xml_response(
        "ListVersionsResult",
        &xml::ListVersionsResult {
            xmlns: S3_NAMESPACE,
            name: ctx.bucket.clone(),
            prefix: enc.enc(prefix),
            key_marker: enc.enc(&key_marker),
            version_id_marker: version_marker,
            next_key_marker,
            next_version_id_marker,
            max_keys: max,
            delimiter: delimiter.as_deref().map(|d| enc.enc(d)),
            is_truncated: walked.truncated,
            encoding_type: enc.name(),
            versions,
            common_prefixes: prefixes,
        },
    ))
}
