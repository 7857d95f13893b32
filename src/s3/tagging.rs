//! Object and bucket tagging: Get/Put/Delete Object and Bucket Tagging. Tag changes are
//! journaled like any write.

use super::ctx::{read_small_body, Ctx, S3State};
use super::meta::{parse_tag_document, parse_tagging_xml, MAX_BUCKET_TAGS};
use super::response::{empty, xml_response};
use super::versioning::update_object;
use super::versioning::{answer_about, requested_version, version_header};
use axum::body::Body;
use axum::response::Response;
use bascule_api::xml::{Tag, TagSet, Tagging, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use http::StatusCode;

fn tagging_response(tags: Vec<(String, String)>) -> Response {
    let tag = tags
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    xml_response(
        "Tagging",
        &Tagging {
            xmlns: S3_NAMESPACE.into(),
            tag_set: TagSet { tag },
        },
    )
}

pub fn get_tagging(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let rec = requested_version(s, ctx)?;
    let mut r = tagging_response(rec.tags.clone());
    version_header(&mut r, Some(b), &rec);
    Ok(r)
}

/// GetBucketTagging: `NoSuchTagSet` when the bucket has none, as AWS answers.
pub fn get_bucket_tagging(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    if b.tags.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchTagSet).with("BucketName", b.name.clone()));
    }
    Ok(tagging_response(b.tags.clone()))
}

pub async fn put_bucket_tagging(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let tags = parse_tag_document(&raw, MAX_BUCKET_TAGS)?;
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            b.tags = tags;
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn delete_bucket_tagging(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    s.store
        .update_bucket(&ctx.bucket, |b| {
            b.tags.clear();
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn put_tagging(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let tags = parse_tagging_xml(&raw)?;
    let rec = update_object(s, &ctx.bucket, &ctx.key, &ctx.params.version, move |r| {
        r.tags = tags;
        Ok(())
    })
    .await?;
    Ok(answer_about(StatusCode::OK, ctx, &rec))
}

pub async fn delete_tagging(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let rec = update_object(s, &ctx.bucket, &ctx.key, &ctx.params.version, |r| {
        r.tags.clear();
        Ok(())
    })
    .await?;
    Ok(answer_about(StatusCode::NO_CONTENT, ctx, &rec))
}
