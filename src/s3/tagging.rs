//! Object tagging: Get/Put/DeleteObjectTagging. Tag changes are journaled like any write.

use super::bucket::update_object;
use super::meta::parse_tagging_xml;
use super::response::{empty, xml_response};
use super::{read_small_body, Ctx, S3State};
use axum::body::Body;
use axum::response::Response;
use bascule_api::xml::{Tag, TagSet, Tagging, S3_NAMESPACE};
use bascule_api::S3Result;
use http::StatusCode;

pub fn get_tagging(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let rec = s
        .store
        .object(&ctx.bucket, &ctx.key)?
        .ok_or_else(|| super::no_such_key(&ctx.key))?;
    let tag = rec
        .tags
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    Ok(xml_response(
        "Tagging",
        &Tagging {
            xmlns: S3_NAMESPACE.into(),
            tag_set: TagSet { tag },
        },
    ))
}

pub async fn put_tagging(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let tags = parse_tagging_xml(&raw)?;
    update_object(s, &ctx.bucket, &ctx.key, move |r| {
        r.tags = tags;
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_tagging(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    update_object(s, &ctx.bucket, &ctx.key, |r| {
        r.tags.clear();
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
