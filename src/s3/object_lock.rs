//! Object lock: a bucket's lock configuration and default retention, each version's
//! retention and legal hold, the lock headers of writes, and the one check every deletion
//! of a version goes through (S3 deletes here, lifecycle expiry through
//! `ObjectRecord::protection`). Lock state is part of the records, so it replicates and a
//! promoted zone enforces it the same way.

use super::ctx::{read_small_body, Ctx, S3State};
use super::meta::{now_ms, time_of};
use super::response::{empty, set_header, xml_response};
use super::versioning::update_object;
use axum::body::Body;
use axum::response::Response;
use bascule_api::headers::{format_iso8601, parse_iso8601};
use bascule_api::xml::{self, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{
    BucketRecord, DefaultRetention, ObjectLock, ObjectRecord, Protection, Retention, RetentionMode,
    Versioning,
};
use http::{HeaderMap, StatusCode};
use std::time::UNIX_EPOCH;

/// The longest default retention S3 accepts, in days and in years.
const MAX_RETENTION_DAYS: u32 = 36_500;
const MAX_RETENTION_YEARS: u32 = 100;

fn missing_lock_configuration() -> S3Error {
    S3Error::msg(
        S3ErrorCode::InvalidRequest,
        "Bucket is missing Object Lock Configuration",
    )
}

fn invalid(message: &str, argument: &str) -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidArgument, message.to_string())
        .with("ArgumentName", argument.to_string())
}

fn millis(date: &str) -> Option<u64> {
    Some(
        parse_iso8601(date)?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_millis() as u64,
    )
}

fn iso(ms: u64) -> String {
    format_iso8601(time_of(ms))
}

/// The lock settings a write asks for (`x-amz-object-lock-*`).
#[derive(Debug, Clone, Default)]
pub struct LockRequest {
    pub retention: Option<Retention>,
    pub legal_hold: Option<bool>,
}

impl LockRequest {
    pub fn from_headers(h: &HeaderMap) -> S3Result<LockRequest> {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let retention = match (
            get("x-amz-object-lock-mode"),
            get("x-amz-object-lock-retain-until-date"),
        ) {
            (None, None) => None,
            (Some(mode), Some(date)) => {
                let mode = RetentionMode::parse(mode).ok_or_else(|| {
                    invalid("Unknown wormMode directive.", "x-amz-object-lock-mode")
                })?;
                let until_ms = millis(date).ok_or_else(|| {
                    invalid(
                        "The retain until date must be provided in ISO 8601 format",
                        "x-amz-object-lock-retain-until-date",
                    )
                })?;
                if until_ms <= now_ms() {
                    return Err(invalid(
                        "The retain until date must be in the future!",
                        "x-amz-object-lock-retain-until-date",
                    ));
                }
                Some(Retention { mode, until_ms })
            }
            _ => {
                return Err(invalid(
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
                    "x-amz-object-lock-mode",
                ))
            }
        };
        let legal_hold = match get("x-amz-object-lock-legal-hold") {
            None => None,
            Some("ON") => Some(true),
            Some("OFF") => Some(false),
            Some(_) => {
                return Err(invalid(
                    "Legal Hold must be either of 'ON' or 'OFF'",
                    "x-amz-object-lock-legal-hold",
                ))
            }
        };
        Ok(LockRequest {
            retention,
            legal_hold,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && self.legal_hold.is_none()
    }

    /// Asking for a lock in a bucket without object lock is refused as S3 refuses it.
    pub fn check(&self, bucket: &BucketRecord) -> S3Result<()> {
        match (self.is_empty(), &bucket.object_lock) {
            (false, None) => Err(missing_lock_configuration()),
            _ => Ok(()),
        }
    }

    /// Gives a new version of `bucket` its lock state: what the write asked for, else the
    /// bucket's default retention.
    pub fn apply(&self, bucket: &BucketRecord, rec: &mut ObjectRecord) -> S3Result<()> {
        self.check(bucket)?;
        let Some(lock) = &bucket.object_lock else {
            return Ok(());
        };
        rec.retention = self
            .retention
            .or_else(|| lock.default_retention.map(|d| d.from(rec.last_modified_ms)));
        rec.legal_hold = self.legal_hold.unwrap_or(false);
        Ok(())
    }
}

/// May this version be deleted for good by this request? A legal hold or compliance
/// retention refuses everyone; governance retention refuses all but callers that bypass
/// it (header and permission).
pub fn check_delete(rec: &ObjectRecord, bypass: bool) -> S3Result<()> {
    match rec.protection(now_ms()) {
        Protection::None => Ok(()),
        Protection::Governance if bypass => Ok(()),
        _ => Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            "Access Denied because object protected by object lock.",
        )),
    }
}

/// Does the request bypass governance retention on `key`, and may its caller? Decided for
/// each key a request touches (a multi-object delete asks once per key).
pub fn bypasses_governance(ctx: &Ctx, key: &str) -> S3Result<bool> {
    if !ctx
        .header("x-amz-bypass-governance-retention")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(false);
    }
    ctx.permits("s3:BypassGovernanceRetention", Some(key), &ctx.query)
}

/// `x-amz-object-lock-*` on GET and HEAD of a version that has lock state.
pub fn write_lock_headers(r: &mut Response, rec: &ObjectRecord) {
    if let Some(ret) = &rec.retention {
        set_header(r, "x-amz-object-lock-mode", ret.mode.as_str());
        set_header(r, "x-amz-object-lock-retain-until-date", &iso(ret.until_ms));
    }
    if rec.legal_hold {
        set_header(r, "x-amz-object-lock-legal-hold", "ON");
    }
}

pub fn get_configuration(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let lock = b.object_lock.as_ref().ok_or_else(|| {
        S3Error::new(S3ErrorCode::ObjectLockConfigurationNotFoundError)
            .with("BucketName", b.name.clone())
    })?;
    Ok(xml_response(
        "ObjectLockConfiguration",
        &xml::ObjectLockConfiguration {
            xmlns: Some(S3_NAMESPACE.to_string()),
            object_lock_enabled: Some("Enabled".into()),
            rule: lock.default_retention.map(|d| xml::ObjectLockRule {
                default_retention: Some(xml::DefaultRetentionXml {
                    mode: Some(d.mode.as_str().into()),
                    days: d.days.map(i64::from),
                    years: d.years.map(i64::from),
                }),
            }),
        },
    ))
}

/// PutObjectLockConfiguration: turns object lock on (for good) and sets or clears the
/// default retention. The bucket's versioning must be enabled.
pub async fn put_configuration(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let doc: xml::ObjectLockConfiguration = xml::from_xml(&raw)?;
    if doc.object_lock_enabled.as_deref() != Some("Enabled") {
        return Err(S3Error::new(S3ErrorCode::MalformedXML));
    }
    let default_retention = match doc.rule.map(|r| r.default_retention) {
        None => None,
        Some(None) => return Err(S3Error::new(S3ErrorCode::MalformedXML)),
        Some(Some(d)) => {
            let mode = d
                .mode
                .as_deref()
                .and_then(RetentionMode::parse)
                .ok_or_else(|| S3Error::new(S3ErrorCode::MalformedXML))?;
            // As AWS bounds them: at most 100 years either way, so no retain-until date
            // computed from them can overflow.
            let period = |n: i64, max: u32| {
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidRetentionPeriod))
            };
            let (days, years) = match (d.days, d.years) {
                (Some(days), None) => (Some(period(days, MAX_RETENTION_DAYS)?), None),
                (None, Some(years)) => (None, Some(period(years, MAX_RETENTION_YEARS)?)),
                _ => return Err(S3Error::new(S3ErrorCode::MalformedXML)),
            };
            Some(DefaultRetention { mode, days, years })
        }
    };
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            if b.versioning != Some(Versioning::Enabled) {
                return Err(S3Error::msg(
                S3ErrorCode::InvalidBucketState,
                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
            ));
            }
            b.object_lock = Some(ObjectLock { default_retention });
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::OK))
}

fn require_lock(ctx: &Ctx) -> S3Result<()> {
    match ctx.require_bucket()?.object_lock {
        Some(_) => Ok(()),
        None => Err(missing_lock_configuration()),
    }
}

pub fn get_retention(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    require_lock(ctx)?;
    let rec = super::versioning::requested_version(s, ctx)?;
    let ret = rec
        .retention
        .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchObjectLockConfiguration))?;
    Ok(xml_response(
        "Retention",
        &xml::Retention {
            xmlns: Some(S3_NAMESPACE.to_string()),
            mode: Some(ret.mode.as_str().into()),
            retain_until_date: Some(iso(ret.until_ms)),
        },
    ))
}

/// PutObjectRetention: lengthening (or making stricter) is always allowed; shortening or
/// removing a governance retention needs the bypass; a compliance retention can only be
/// lengthened until it expires.
pub async fn put_retention(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    require_lock(ctx)?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let doc: xml::Retention = xml::from_xml(&raw)?;
    let wanted = match (doc.mode.as_deref(), doc.retain_until_date.as_deref()) {
        (None, None) => None,
        (Some(mode), Some(date)) => {
            let mode = RetentionMode::parse(mode)
                .ok_or_else(|| S3Error::new(S3ErrorCode::MalformedXML))?;
            let until_ms = millis(date).ok_or_else(|| S3Error::new(S3ErrorCode::MalformedXML))?;
            if until_ms <= now_ms() {
                return Err(invalid(
                    "The retain until date must be in the future!",
                    "RetainUntilDate",
                ));
            }
            Some(Retention { mode, until_ms })
        }
        _ => return Err(S3Error::new(S3ErrorCode::MalformedXML)),
    };
    let bypass = bypasses_governance(ctx, &ctx.key)?;
    let rec = update_object(s, &ctx.bucket, &ctx.key, &ctx.params.version, move |r| {
        check_retention_change(r.retention, wanted, bypass)?;
        r.retention = wanted;
        Ok(())
    })
    .await?;
    Ok(super::versioning::answer_about(StatusCode::OK, ctx, &rec))
}

/// The rule for changing a version's retention from `old` to `new`.
fn check_retention_change(
    old: Option<Retention>,
    new: Option<Retention>,
    bypass: bool,
) -> S3Result<()> {
    let denied = || {
        S3Error::msg(
            S3ErrorCode::AccessDenied,
            "Access Denied because object protected by object lock.",
        )
    };
    let Some(old) = old.filter(|o| o.until_ms > now_ms()) else {
        return Ok(());
    };
    // Only lengthening in the same mode needs nothing; changing GOVERNANCE to COMPLIANCE
    // needs the bypass too, as on AWS.
    let keeps_protection = new.is_some_and(|n| n.until_ms >= old.until_ms && n.mode == old.mode);
    match old.mode {
        _ if keeps_protection => Ok(()),
        RetentionMode::Governance if bypass => Ok(()),
        _ => Err(denied()),
    }
}

pub fn get_legal_hold(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    require_lock(ctx)?;
    let rec = super::versioning::requested_version(s, ctx)?;
    Ok(xml_response(
        "LegalHold",
        &xml::LegalHold {
            xmlns: Some(S3_NAMESPACE.to_string()),
            status: Some(if rec.legal_hold { "ON" } else { "OFF" }.into()),
        },
    ))
}

pub async fn put_legal_hold(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    require_lock(ctx)?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let doc: xml::LegalHold = xml::from_xml(&raw)?;
    let on = match doc.status.as_deref() {
        Some("ON") => true,
        Some("OFF") => false,
        _ => return Err(S3Error::new(S3ErrorCode::MalformedXML)),
    };
    let rec = update_object(s, &ctx.bucket, &ctx.key, &ctx.params.version, move |r| {
        r.legal_hold = on;
        Ok(())
    })
    .await?;
    Ok(super::versioning::answer_about(StatusCode::OK, ctx, &rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret(mode: RetentionMode, days: u64) -> Option<Retention> {
        Some(Retention {
            mode,
            until_ms: now_ms() + days * 86_400_000,
        })
    }

    #[test]
    fn retention_changes_follow_the_mode() {
        use RetentionMode::*;
        let ok = |o, n, b| check_retention_change(o, n, b).is_ok();
        // Lengthening in the same mode is always allowed; governance becomes compliance
        // only with the bypass (as on AWS).
        assert!(ok(ret(Governance, 1), ret(Governance, 2), false));
        assert!(!ok(ret(Governance, 1), ret(Compliance, 2), false));
        assert!(!ok(ret(Governance, 1), ret(Compliance, 1), false));
        assert!(ok(ret(Governance, 1), ret(Compliance, 2), true));
        assert!(ok(ret(Compliance, 1), ret(Compliance, 2), false));
        // Shortening or removing governance needs the bypass.
        assert!(!ok(ret(Governance, 2), ret(Governance, 1), false));
        assert!(ok(ret(Governance, 2), ret(Governance, 1), true));
        assert!(ok(ret(Governance, 2), None, true));
        // Compliance cannot be shortened, weakened or removed, bypass or not.
        assert!(!ok(ret(Compliance, 2), ret(Compliance, 1), true));
        assert!(!ok(ret(Compliance, 2), ret(Governance, 3), true));
        assert!(!ok(ret(Compliance, 2), None, true));
        // An expired retention no longer protects anything.
        let expired = Some(Retention {
            mode: Compliance,
            until_ms: 1,
        });
        assert!(ok(expired, None, false));
    }
}
