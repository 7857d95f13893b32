//! Put/Get/DeleteBucketLifecycleConfiguration, and the `x-amz-expiration` header. The rules
//! are checked and stored typed with the bucket (so they replicate with it); the worker in
//! `crate::lifecycle` applies them.

use super::ctx::{read_small_body, Ctx, S3State};
use super::meta::time_of;
use super::response::{empty, set_header, xml_response};
use crate::lifecycle::rules::{earliest_expiry, Clock};
use axum::body::Body;
use axum::response::Response;
use bascule_api::headers::{format_http_date, format_iso8601, parse_iso8601};
use bascule_api::xml::{self, Tag, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{
    BucketRecord, LifecycleExpiration, LifecycleFilter, LifecycleRule, NoncurrentExpiration,
    ObjectRecord,
};
use http::StatusCode;
use std::collections::HashSet;
use std::time::UNIX_EPOCH;

/// S3 takes at most 1000 rules per configuration.
const MAX_RULES: usize = 1000;

fn invalid(message: impl Into<String>) -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidArgument, message.into())
}

fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

/// The most days a lifecycle rule may count: about 2,700 years, so that no expiry date
/// computed from a rule passes the year 9999 (the last a date header can name).
const MAX_RULE_DAYS: u32 = 1_000_000;

/// A positive number of days (bounded), or S3's error naming the field.
fn days(n: i64, what: &str) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|d| (1..=MAX_RULE_DAYS).contains(d))
        .ok_or_else(|| {
            invalid(format!(
                "'{what}' in a lifecycle rule must be a positive integer of at most {MAX_RULE_DAYS}"
            ))
        })
}

fn size(n: i64) -> S3Result<u64> {
    u64::try_from(n).map_err(|_| invalid("Object size filters must be non-negative"))
}

fn filter_of(rule: &xml::LifecycleRuleXml) -> S3Result<LifecycleFilter> {
    let tags = |t: Vec<&Tag>| {
        t.into_iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect()
    };
    match (&rule.filter, &rule.prefix) {
        (Some(_), Some(_)) => Err(malformed()),
        (None, Some(p)) => Ok(LifecycleFilter {
            prefix: p.clone(),
            legacy_prefix: true,
            ..Default::default()
        }),
        (None, None) => Err(malformed()),
        (Some(f), None) => {
            let given = [
                f.prefix.is_some(),
                f.tag.is_some(),
                f.object_size_greater_than.is_some(),
                f.object_size_less_than.is_some(),
                f.and.is_some(),
            ];
            // A filter names one condition, or several inside `And`.
            if given.iter().filter(|g| **g).count() > 1 {
                return Err(malformed());
            }
            let out = match &f.and {
                Some(a) => LifecycleFilter {
                    prefix: a.prefix.clone().unwrap_or_default(),
                    tags: tags(a.tag.iter().collect()),
                    size_greater_than: a.object_size_greater_than.map(size).transpose()?,
                    size_less_than: a.object_size_less_than.map(size).transpose()?,
                    and: true,
                    legacy_prefix: false,
                },
                None => LifecycleFilter {
                    prefix: f.prefix.clone().unwrap_or_default(),
                    tags: tags(f.tag.iter().collect()),
                    size_greater_than: f.object_size_greater_than.map(size).transpose()?,
                    size_less_than: f.object_size_less_than.map(size).transpose()?,
                    and: false,
                    legacy_prefix: false,
                },
            };
            if let (Some(g), Some(l)) = (out.size_greater_than, out.size_less_than) {
                if g >= l {
                    return Err(invalid(
                        "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
                    ));
                }
            }
            Ok(out)
        }
    }
}

/// Checks one rule as S3 does and turns it into the stored form.
fn rule_of(r: xml::LifecycleRuleXml) -> S3Result<LifecycleRule> {
    if !r.transition.is_empty() || !r.noncurrent_version_transition.is_empty() {
        return Err(S3Error::msg(
            S3ErrorCode::NotImplemented,
            "Lifecycle transitions are not supported: Bascule has a single storage class",
        ));
    }
    if r.id.as_ref().is_some_and(|id| id.len() > 255) {
        return Err(invalid("ID length should not exceed allowed limit of 255"));
    }
    let enabled = match r.status.as_deref() {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(malformed()),
    };
    let filter = filter_of(&r)?;
    let expiration = match &r.expiration {
        None => None,
        Some(e) => {
            let marker = e.expired_object_delete_marker.unwrap_or(false);
            let given = [
                e.days.is_some(),
                e.date.is_some(),
                e.expired_object_delete_marker.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(malformed());
            }
            if marker && (!filter.tags.is_empty()) {
                return Err(invalid(
                    "ExpiredObjectDeleteMarker cannot be specified with object tags",
                ));
            }
            let date_ms = match &e.date {
                None => None,
                Some(d) => {
                    let t = parse_iso8601(d)
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .ok_or_else(|| invalid("Invalid date in a lifecycle rule"))?
                        .as_millis() as u64;
                    if !t.is_multiple_of(86_400_000) {
                        return Err(invalid("'Date' must be at midnight GMT"));
                    }
                    Some(t)
                }
            };
            Some(LifecycleExpiration {
                days: e.days.map(|d| days(d, "Days")).transpose()?,
                date_ms,
                expired_object_delete_marker: marker,
            })
        }
    };
    let noncurrent_expiration = match &r.noncurrent_version_expiration {
        None => None,
        Some(n) => Some(NoncurrentExpiration {
            days: Some(days(
                n.noncurrent_days.ok_or_else(malformed)?,
                "NoncurrentDays",
            )?),
            newer_noncurrent_versions: n
                .newer_noncurrent_versions
                .map(|v| days(v, "NewerNoncurrentVersions"))
                .transpose()?,
        }),
    };
    let abort_incomplete_upload_days = match &r.abort_incomplete_multipart_upload {
        None => None,
        Some(a) => {
            if !filter.tags.is_empty()
                || filter.size_greater_than.is_some()
                || filter.size_less_than.is_some()
            {
                return Err(invalid(
                    "AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters",
                ));
            }
            Some(days(
                a.days_after_initiation.ok_or_else(malformed)?,
                "DaysAfterInitiation",
            )?)
        }
    };
    if expiration.is_none()
        && noncurrent_expiration.is_none()
        && abort_incomplete_upload_days.is_none()
    {
        return Err(invalid(
            "At least one action needs to be specified in a rule",
        ));
    }
    Ok(LifecycleRule {
        id: r.id,
        enabled,
        filter,
        expiration,
        noncurrent_expiration,
        abort_incomplete_upload_days,
    })
}

/// Parses and checks a whole configuration.
pub fn parse_rules(raw: &[u8]) -> S3Result<Vec<LifecycleRule>> {
    let doc: xml::LifecycleConfiguration = xml::from_xml(raw)?;
    if doc.rule.is_empty() || doc.rule.len() > MAX_RULES {
        return Err(malformed());
    }
    let mut rules = doc
        .rule
        .into_iter()
        .map(rule_of)
        .collect::<S3Result<Vec<_>>>()?;
    // A rule sent without an ID gets one, as on AWS (stored, so it reads back the same
    // here and on the other zone).
    for r in rules.iter_mut().filter(|r| r.id.is_none()) {
        use rand::distributions::{Alphanumeric, DistString};
        r.id = Some(Alphanumeric.sample_string(&mut rand::thread_rng(), 48));
    }
    let mut ids = HashSet::new();
    for id in rules.iter().filter_map(|r| r.id.as_ref()) {
        if !ids.insert(id) {
            return Err(invalid(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
    }
    Ok(rules)
}

fn rule_xml(r: &LifecycleRule) -> xml::LifecycleRuleXml {
    let f = &r.filter;
    let tag = |(k, v): &(String, String)| Tag {
        key: k.clone(),
        value: v.clone(),
    };
    let filter = match (f.legacy_prefix, f.and) {
        (true, _) => None,
        (false, true) => Some(xml::LifecycleFilterXml {
            and: Some(xml::LifecycleAndXml {
                prefix: Some(f.prefix.clone()).filter(|p| !p.is_empty()),
                tag: f.tags.iter().map(tag).collect(),
                object_size_greater_than: f.size_greater_than.map(|n| n as i64),
                object_size_less_than: f.size_less_than.map(|n| n as i64),
            }),
            ..Default::default()
        }),
        (false, false) => Some(xml::LifecycleFilterXml {
            prefix: (f.tags.is_empty()
                && f.size_greater_than.is_none()
                && f.size_less_than.is_none())
            .then(|| f.prefix.clone()),
            tag: f.tags.first().map(tag),
            object_size_greater_than: f.size_greater_than.map(|n| n as i64),
            object_size_less_than: f.size_less_than.map(|n| n as i64),
            and: None,
        }),
    };
    xml::LifecycleRuleXml {
        id: r.id.clone(),
        filter,
        prefix: f.legacy_prefix.then(|| f.prefix.clone()),
        status: Some(if r.enabled { "Enabled" } else { "Disabled" }.into()),
        expiration: r.expiration.as_ref().map(|e| xml::ExpirationXml {
            days: e.days.map(i64::from),
            date: e.date_ms.map(|d| format_iso8601(time_of(d))),
            expired_object_delete_marker: e.expired_object_delete_marker.then_some(true),
        }),
        noncurrent_version_expiration: r.noncurrent_expiration.as_ref().map(|n| {
            xml::NoncurrentExpirationXml {
                noncurrent_days: n.days.map(i64::from),
                newer_noncurrent_versions: n.newer_noncurrent_versions.map(i64::from),
            }
        }),
        abort_incomplete_multipart_upload: r.abort_incomplete_upload_days.map(|d| {
            xml::AbortIncompleteXml {
                days_after_initiation: Some(i64::from(d)),
            }
        }),
        transition: Vec::new(),
        noncurrent_version_transition: Vec::new(),
    }
}

pub fn get_lifecycle(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    if b.lifecycle.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchLifecycleConfiguration)
            .with("BucketName", b.name.clone()));
    }
    Ok(xml_response(
        "LifecycleConfiguration",
        &xml::LifecycleConfiguration {
            xmlns: Some(S3_NAMESPACE.to_string()),
            rule: b.lifecycle.iter().map(rule_xml).collect(),
        },
    ))
}

pub async fn put_lifecycle(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    if ctx
        .headers
        .contains_key("x-amz-transition-default-minimum-object-size")
    {
        return Err(S3Error::msg(
            S3ErrorCode::NotImplemented,
            "Lifecycle transitions are not supported: Bascule has a single storage class",
        ));
    }
    let raw = read_small_body(body, &ctx.payload, 1024 * 1024).await?;
    let rules = parse_rules(&raw)?;
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            b.lifecycle = rules;
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_lifecycle(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    s.store
        .update_bucket(&ctx.bucket, |b| {
            b.lifecycle.clear();
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `x-amz-expiration: expiry-date="...", rule-id="..."` for the current version of an
/// object an expiration rule applies to.
pub fn expiration_header(
    r: &mut Response,
    bucket: Option<&BucketRecord>,
    key: &str,
    rec: &ObjectRecord,
    current: bool,
) {
    let Some(b) = bucket.filter(|b| !b.lifecycle.is_empty()) else {
        return;
    };
    if !current {
        return;
    }
    // What AWS promises, in real days (midnight UTC after creation + Days), even when
    // the worker's day is shortened for tests: the header is the contract with clients.
    let clock = Clock {
        now_ms: 0,
        day_ms: crate::lifecycle::rules::REAL_DAY_MS,
    };
    if let Some((at, id)) = earliest_expiry(&b.lifecycle, key, rec, &clock) {
        let value = format!(
            "expiry-date=\"{}\", rule-id=\"{}\"",
            format_http_date(time_of(at)),
            id.unwrap_or_default()
        );
        set_header(r, "x-amz-expiration", &value);
    }
}
