//! Server access logging: Get/PutBucketLogging, the record format (`record`) and the
//! delivery of records as objects of the target bucket (`delivery`).

pub mod batches;
pub mod delivery;
pub mod record;

use super::access::log_delivery_allowed;
use super::ctx::{read_small_body, Ctx, S3State};
use super::response::{empty, xml_response};
use axum::body::Body;
use axum::response::Response;
use bascule_api::names::validate_object_key;
use bascule_api::xml::LoggingEnabledDoc;
use bascule_api::xml::{self, S3_NAMESPACE};
use bascule_api::xml_exact::parse_bucket_logging_status;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{
    AclPermission, BucketLogging, BucketRecord, ObjectOwnership, PartitionDateSource,
};
use http::StatusCode;

pub fn get_bucket_logging(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let logging_enabled = b.logging.as_ref().map(|l| {
        let owners = super::owners::Owners::new(&s.store);
        xml::LoggingEnabled {
            target_bucket: l.target_bucket.clone(),
            target_grants: (!l.target_grants.is_empty()).then(|| xml::AccessControlList {
                grant: l
                    .target_grants
                    .iter()
                    .map(|g| super::acl::grant_xml(&owners, g))
                    .collect(),
            }),
            target_object_key_format: match l.partition_date_source {
                None => xml::TargetObjectKeyFormat {
                    simple_prefix: Some(xml::Empty {}),
                    partitioned_prefix: None,
                },
                Some(source) => xml::TargetObjectKeyFormat {
                    simple_prefix: None,
                    partitioned_prefix: Some(xml::PartitionedPrefix {
                        partition_date_source: source.as_str(),
                    }),
                },
            },
            target_prefix: l.target_prefix.clone(),
        }
    });
    Ok(xml_response(
        "BucketLoggingStatus",
        &xml::BucketLoggingStatus {
            xmlns: S3_NAMESPACE,
            logging_enabled,
        },
    ))
}

pub async fn put_bucket_logging(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    let source = ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let logging = match parse_bucket_logging_status(&raw)? {
        None => None,
        Some(doc) => Some(checked_target(s, source, doc)?),
    };
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            b.logging = logging;
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::OK))
}

fn invalid_target(msg: &str) -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidTargetBucketForLogging, msg.to_string())
}

fn invalid_argument(msg: &str) -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidArgument, msg.to_string())
}

/// The logging settings a document asks for, once the target can take them: it exists,
/// is not the source and does not log itself (either would log its own deliveries), keeps
/// no default retention (log objects could never be removed), and its policy lets the log
/// delivery service write under the prefix for this source bucket and its owner
/// (`aws:SourceArn`, `aws:SourceAccount`). That policy is the target owner's consent, so
/// the target may belong to another user, as the S3 test suite's cross-account cases do.
fn checked_target(
    s: &S3State,
    source: &BucketRecord,
    doc: LoggingEnabledDoc,
) -> S3Result<BucketLogging> {
    let partition_date_source = match doc.partition_date_source.as_deref() {
        None => None,
        Some(v) => Some(PartitionDateSource::parse(v.trim()).ok_or_else(|| {
            S3Error::msg(
                S3ErrorCode::MalformedXML,
                format!("'{v}' is not a PartitionDateSource"),
            )
        })?),
    };
    // Every log object's key is the prefix and a name of at most 120 bytes.
    validate_object_key(&format!("{}{}", doc.target_prefix, "x".repeat(120)))
        .map_err(|_| invalid_argument("The TargetPrefix is too long or not a valid key"))?;
    let target = s
        .store
        .bucket(&doc.target_bucket)?
        .ok_or_else(|| invalid_target("The target bucket for logging does not exist"))?;
    if target.name == source.name {
        return Err(invalid_argument(
            "A bucket cannot be its own logging target: it would log its own deliveries",
        ));
    }
    if target.logging.is_some() {
        return Err(invalid_argument(
            "The target bucket has logging enabled itself: log delivery would chain",
        ));
    }
    if target
        .object_lock
        .as_ref()
        .is_some_and(|l| l.default_retention.is_some())
    {
        return Err(invalid_argument(
            "The target bucket has a default retention period: log objects could not be removed",
        ));
    }
    let mut target_grants = Vec::new();
    for g in &doc.target_grants {
        if target.ownership() == ObjectOwnership::BucketOwnerEnforced {
            return Err(S3Error::msg(
                S3ErrorCode::AccessControlListNotSupported,
                "The target bucket does not allow ACLs: give access to its logs with a policy",
            ));
        }
        let permission = match g.permission.as_str() {
            "FULL_CONTROL" => AclPermission::FullControl,
            "READ" => AclPermission::Read,
            "WRITE" => AclPermission::Write,
            other => {
                return Err(S3Error::msg(
                    S3ErrorCode::MalformedXML,
                    format!("'{other}' is not a log grant permission"),
                ))
            }
        };
        target_grants.push(super::acl::grant_of(&s.store, g, permission)?);
    }
    if !log_delivery_allowed(source, &target, &doc.target_prefix)? {
        return Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            format!(
                "The target bucket's policy must allow the service principal {} s3:PutObject on arn:aws:s3:::{}/{}",
                super::access::LOG_DELIVERY_SERVICE,
                target.name,
                doc.target_prefix
            ),
        ));
    }
    Ok(BucketLogging {
        target_bucket: target.name,
        target_prefix: doc.target_prefix,
        target_grants,
        partition_date_source,
    })
}
