//! The bucket's access controls beyond ACLs and policies: PublicAccessBlock and
//! ObjectOwnership (OwnershipControls), with their Get/Put/Delete operations. Their
//! effects are applied where access is decided (`access`, `acl`).

use super::ctx::{read_small_body, Ctx, S3State};
use super::response::{empty, xml_response};
use axum::body::Body;
use axum::response::Response;
use bascule_api::xml::{self, S3_NAMESPACE};
use bascule_api::xml_exact::{parse_ownership_controls, parse_public_access_block};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{ObjectOwnership, PublicAccessBlock};
use http::StatusCode;

pub fn get_public_access_block(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let p = b.public_access_block.ok_or_else(|| {
        S3Error::new(S3ErrorCode::NoSuchPublicAccessBlockConfiguration)
            .with("BucketName", b.name.clone())
    })?;
    Ok(xml_response(
        "PublicAccessBlockConfiguration",
        &xml::PublicAccessBlockConfiguration {
            xmlns: S3_NAMESPACE,
            block_public_acls: p.block_public_acls,
            ignore_public_acls: p.ignore_public_acls,
            block_public_policy: p.block_public_policy,
            restrict_public_buckets: p.restrict_public_buckets,
        },
    ))
}

pub async fn put_public_access_block(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let [block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets] =
        parse_public_access_block(&raw)?;
    let settings = PublicAccessBlock {
        block_public_acls,
        ignore_public_acls,
        block_public_policy,
        restrict_public_buckets,
    };
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            b.public_access_block = Some(settings);
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_public_access_block(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    s.store
        .update_bucket(&ctx.bucket, |b| {
            b.public_access_block = None;
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn get_ownership_controls(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let o = b.object_ownership.ok_or_else(|| {
        S3Error::new(S3ErrorCode::OwnershipControlsNotFoundError).with("BucketName", b.name.clone())
    })?;
    Ok(xml_response(
        "OwnershipControls",
        &xml::OwnershipControls {
            xmlns: S3_NAMESPACE,
            rule: xml::OwnershipRule {
                object_ownership: o.as_str(),
            },
        },
    ))
}

pub async fn put_ownership_controls(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let value = parse_ownership_controls(&raw)?;
    let ownership = ObjectOwnership::parse(&value).ok_or_else(|| {
        S3Error::msg(
            S3ErrorCode::MalformedXML,
            format!("'{value}' is not an ObjectOwnership setting"),
        )
    })?;
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            // ACLs are disabled only once the bucket's own ACL grants nothing beyond its owner.
            if ownership == ObjectOwnership::BucketOwnerEnforced && !b.acl.is_empty() {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidBucketAclWithObjectOwnership,
                ));
            }
            b.object_ownership = Some(ownership);
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_ownership_controls(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    s.store
        .update_bucket(&ctx.bucket, |b| {
            b.object_ownership = None;
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
