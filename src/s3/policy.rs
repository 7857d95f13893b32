//! Bucket policies as AWS evaluates them: statements with `Effect` Allow/Deny (an explicit
//! deny wins), `Principal` / `NotPrincipal`, `Action` / `NotAction` with wildcards,
//! `Resource` / `NotResource` with wildcards, and `Condition` blocks. A policy is checked
//! completely when it is put — an unknown action, condition operator or key, principal or
//! resource is `MalformedPolicy` — so a stored policy is always applied whole.

use super::auth::Identity;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Every action S3 defines (a policy may name one Bascule does not implement yet: it then
/// never matches, as no request performs it).
const S3_ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetAccelerateConfiguration",
    "GetAnalyticsConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetInventoryConfiguration",
    "GetLifecycleConfiguration",
    "GetMetricsConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionTagging",
    "GetObjectVersionTorrent",
    "GetReplicationConfiguration",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "ObjectOwnerOverrideToBucketOwner",
    "PutAccelerateConfiguration",
    "PutAnalyticsConfiguration",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutInventoryConfiguration",
    "PutLifecycleConfiguration",
    "PutMetricsConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
];

/// Condition keys Bascule fills from a request (lowercase; `s3:ExistingObjectTag/<k>` and
/// `s3:RequestObjectTag/<k>` take any tag key).
const CONDITION_KEYS: &[&str] = &[
    "aws:currenttime",
    "aws:epochtime",
    "aws:principaltype",
    "aws:referer",
    "aws:securetransport",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceip",
    "aws:useragent",
    "aws:userid",
    "aws:username",
    "s3:authtype",
    "s3:delimiter",
    "s3:max-keys",
    "s3:prefix",
    "s3:requestobjecttagkeys",
    "s3:signatureversion",
    "s3:versionid",
    "s3:x-amz-acl",
    "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:object-lock-mode",
    "s3:object-lock-retain-until-date",
    "s3:object-lock-legal-hold",
    "s3:object-lock-remaining-retention-days",
];

fn malformed(msg: impl Into<String>) -> S3Error {
    S3Error::msg(S3ErrorCode::MalformedPolicy, msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    Everyone,
    /// User ids (ARNs and names were resolved when the policy was put).
    Users(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    Only(Vec<String>),
    AllBut(Vec<String>),
}

impl Matcher {
    fn matches(&self, value: &str, case_insensitive: bool) -> bool {
        let any = |pats: &Vec<String>| {
            pats.iter().any(|p| {
                if case_insensitive {
                    wildcard(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
                } else {
                    wildcard(p, value)
                }
            })
        };
        match self {
            Matcher::Only(p) => any(p),
            Matcher::AllBut(p) => !any(p),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        use Op::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "ArnEquals" => ArnEquals,
            "ArnLike" => ArnLike,
            "ArnNotEquals" => ArnNotEquals,
            "ArnNotLike" => ArnNotLike,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Negated operators hold when the request matches none of the values (and when the
    /// key is absent).
    fn negated(self) -> bool {
        use Op::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Does one request value match one policy value (before negation)?
    fn matches(self, have: &str, want: &str) -> bool {
        use Op::*;
        match self {
            StringEquals | StringNotEquals | ArnEquals | ArnNotEquals => have == want,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                have.to_lowercase() == want.to_lowercase()
            }
            StringLike | StringNotLike | ArnLike | ArnNotLike => wildcard(want, have),
            NumericEquals | NumericNotEquals => num(have, want, |a, b| a == b),
            NumericLessThan => num(have, want, |a, b| a < b),
            NumericLessThanEquals => num(have, want, |a, b| a <= b),
            NumericGreaterThan => num(have, want, |a, b| a > b),
            NumericGreaterThanEquals => num(have, want, |a, b| a >= b),
            DateEquals | DateNotEquals => date(have, want, |a, b| a == b),
            DateLessThan => date(have, want, |a, b| a < b),
            DateLessThanEquals => date(have, want, |a, b| a <= b),
            DateGreaterThan => date(have, want, |a, b| a > b),
            DateGreaterThanEquals => date(have, want, |a, b| a >= b),
            Bool => have.eq_ignore_ascii_case(want),
            IpAddress | NotIpAddress => in_cidr(have, want),
            Null => false,
        }
    }

    /// Checks a policy value once, when the policy is put.
    fn check_value(self, want: &str) -> bool {
        use Op::*;
        match self {
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => want.parse::<f64>().is_ok(),
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => parse_date(want).is_some(),
            Bool | Null => want.eq_ignore_ascii_case("true") || want.eq_ignore_ascii_case("false"),
            IpAddress | NotIpAddress => parse_cidr(want).is_some(),
            _ => true,
        }
    }
}

fn num(have: &str, want: &str, f: fn(f64, f64) -> bool) -> bool {
    match (have.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => f(a, b),
        _ => false,
    }
}

fn parse_date(s: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(d) = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
        return Some(d.midnight().assume_utc().unix_timestamp_nanos());
    }
    s.parse::<i64>()
        .ok()
        .map(|secs| secs as i128 * 1_000_000_000)
}

fn date(have: &str, want: &str, f: fn(i128, i128) -> bool) -> bool {
    match (parse_date(have), parse_date(want)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?),
        None => {
            let ip = s.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

fn in_cidr(have: &str, want: &str) -> bool {
    let (Ok(ip), Some((net, len))) = (have.parse::<IpAddr>(), parse_cidr(want)) else {
        return false;
    };
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// IAM wildcards: `*` any run of characters, `?` one character.
pub fn wildcard(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// How a condition treats a key with several values (`ForAnyValue:` / `ForAllValues:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetMode {
    Single,
    AnyValue,
    AllValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    op: Op,
    if_exists: bool,
    set: SetMode,
    /// Lowercase key.
    key: String,
    values: Vec<String>,
}

impl Condition {
    fn holds(&self, facts: &dyn Facts) -> bool {
        let have = facts.values(&self.key);
        if self.op == Op::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return have.is_empty() == want_absent;
        }
        if have.is_empty() {
            return self.if_exists || self.op.negated() || self.set == SetMode::AllValues;
        }
        let one = |h: &str| {
            let hit = self.values.iter().any(|w| self.op.matches(h, w));
            hit != self.op.negated()
        };
        match self.set {
            SetMode::AllValues => have.iter().all(|h| one(h)),
            SetMode::Single | SetMode::AnyValue => have.iter().any(|h| one(h)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    principal: Option<Principal>,
    not_principal: Option<Principal>,
    action: Matcher,
    resource: Matcher,
    conditions: Vec<Condition>,
}

/// A parsed, checked bucket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// What a request brings to condition evaluation.
pub trait Facts {
    /// The request's values for a (lowercase) condition key; empty when absent.
    fn values(&self, key: &str) -> Vec<String>;
}

/// One request as a policy sees it.
pub struct Request<'a> {
    /// `s3:GetObject`, ...
    pub action: &'a str,
    /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
    pub resource: String,
    pub identity: &'a Identity,
    pub facts: &'a dyn Facts,
}

/// The outcome of a policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No statement applies.
    Neutral,
}

fn strings(v: &Value, what: &str) -> S3Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(malformed(format!("{what} must be strings"))),
            })
            .collect(),
        _ => Err(malformed(format!(
            "{what} must be a string or a list of strings"
        ))),
    }
}

/// Condition values may be strings, numbers or booleans.
fn condition_values(v: &Value) -> S3Result<Vec<String>> {
    let one = |x: &Value| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed(
            "Condition values must be strings, numbers or booleans",
        )),
    };
    match v {
        Value::Array(a) if !a.is_empty() => a.iter().map(one).collect(),
        Value::Array(_) => Err(malformed("Condition values may not be empty")),
        x => Ok(vec![one(x)?]),
    }
}

fn known_condition_key(key: &str) -> bool {
    CONDITION_KEYS.contains(&key)
        || key
            .strip_prefix("s3:existingobjecttag/")
            .or_else(|| key.strip_prefix("s3:requestobjecttag/"))
            .is_some_and(|k| !k.is_empty())
}

/// Resolves principals to user ids when a policy is put.
pub trait Directory {
    /// A user's id from an id, a name, or an IAM-style ARN naming the user.
    fn user_id(&self, principal: &str) -> S3Result<Option<String>>;
}

/// How a service principal is held among a statement's user ids.
const SERVICE_PREFIX: &str = "service:";

fn parse_principal(v: &Value, dir: &dyn Directory) -> S3Result<Principal> {
    let invalid = || malformed("Invalid principal in policy");
    let names = match v {
        Value::String(s) if s == "*" => return Ok(Principal::Everyone),
        Value::Object(m) => {
            let mut names = Vec::new();
            let mut ids = Vec::new();
            for (kind, val) in m {
                match kind.as_str() {
                    "AWS" | "CanonicalUser" => names.extend(strings(val, "Principal")?),
                    // An AWS service (`logging.s3.amazonaws.com` is the one Bascule
                    // acts as): named apart from users, so no user can ever match it.
                    "Service" => ids.extend(
                        strings(val, "Principal")?
                            .into_iter()
                            .map(|s| format!("{SERVICE_PREFIX}{s}")),
                    ),
                    _ => return Err(invalid()),
                }
            }
            if names.is_empty() {
                return Ok(Principal::Users(ids));
            }
            (names, ids)
        }
        _ => return Err(invalid()),
    };
    let (names, mut ids) = names;
    if names.iter().any(|n| n == "*") {
        return Ok(Principal::Everyone);
    }
    for n in &names {
        // An account's root (`arn:aws:iam::<account>:root`): Bascule's callers are users,
        // not accounts, so it names none of them (a policy may still name it).
        let account_root = n
            .strip_prefix("arn:aws:iam::")
            .and_then(|r| r.strip_suffix(":root"))
            .is_some_and(|a| !a.is_empty() && !a.contains(':'));
        if account_root {
            ids.push(format!("account:{n}"));
            continue;
        }
        ids.push(dir.user_id(n)?.ok_or_else(invalid)?);
    }
    Ok(Principal::Users(ids))
}

fn parse_actions(v: &Value) -> S3Result<Vec<String>> {
    let actions = strings(v, "Action")?;
    for a in &actions {
        let lower = a.to_ascii_lowercase();
        let known = lower == "*"
            || lower.strip_prefix("s3:").is_some_and(|name| {
                S3_ACTIONS
                    .iter()
                    .any(|known| wildcard(name, &known.to_ascii_lowercase()))
            });
        if !known {
            return Err(malformed(format!("Policy has invalid action: {a}")));
        }
    }
    Ok(actions)
}

fn parse_resources(v: &Value, bucket: &str) -> S3Result<Vec<String>> {
    let resources = strings(v, "Resource")?;
    for r in &resources {
        let Some(rest) = r.strip_prefix("arn:aws:s3:::") else {
            return Err(malformed(format!("Policy has invalid resource: {r}")));
        };
        let named = rest.split_once('/').map(|(b, _)| b).unwrap_or(rest);
        if !wildcard(named, bucket) {
            return Err(malformed(format!(
                "Policy has invalid resource: {r} is not in bucket {bucket}"
            )));
        }
    }
    Ok(resources)
}

fn parse_conditions(v: &Value) -> S3Result<Vec<Condition>> {
    let Value::Object(ops) = v else {
        return Err(malformed("Condition must be an object"));
    };
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let (set, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (SetMode::AnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (SetMode::AllValues, r)
        } else {
            (SetMode::Single, op_name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (b, true),
            _ => (rest, false),
        };
        let op = Op::parse(base)
            .ok_or_else(|| malformed(format!("Invalid Condition type : {op_name}")))?;
        let Value::Object(keys) = block else {
            return Err(malformed(format!("Condition {op_name} must be an object")));
        };
        for (key, values) in keys {
            let lower = key.to_ascii_lowercase();
            if !known_condition_key(&lower) {
                return Err(malformed(format!(
                    "Policy has an invalid condition key: {key}"
                )));
            }
            let values = condition_values(values)?;
            if let Some(bad) = values.iter().find(|w| !op.check_value(w)) {
                return Err(malformed(format!(
                    "Invalid value for {op_name} on {key}: {bad}"
                )));
            }
            out.push(Condition {
                op,
                if_exists,
                set,
                key: lower,
                values,
            });
        }
    }
    Ok(out)
}

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn parse_statement(st: &Value, bucket: &str, dir: &dyn Directory) -> S3Result<Statement> {
    let Value::Object(m) = st else {
        return Err(malformed("Statements must be objects"));
    };
    if let Some(k) = m.keys().find(|k| !STATEMENT_FIELDS.contains(&k.as_str())) {
        return Err(malformed(format!("Unknown field {k}")));
    }
    let effect = match m.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(malformed("Invalid effect: Effect must be Allow or Deny")),
    };
    let principal = m
        .get("Principal")
        .map(|p| parse_principal(p, dir))
        .transpose()?;
    let not_principal = m
        .get("NotPrincipal")
        .map(|p| parse_principal(p, dir))
        .transpose()?;
    if principal.is_some() == not_principal.is_some() {
        return Err(malformed(
            "Statements need exactly one of Principal and NotPrincipal",
        ));
    }
    let action = match (m.get("Action"), m.get("NotAction")) {
        (Some(a), None) => Matcher::Only(parse_actions(a)?),
        (None, Some(a)) => Matcher::AllBut(parse_actions(a)?),
        _ => {
            return Err(malformed(
                "Statements need exactly one of Action and NotAction",
            ))
        }
    };
    let resource = match (m.get("Resource"), m.get("NotResource")) {
        (Some(r), None) => Matcher::Only(parse_resources(r, bucket)?),
        (None, Some(r)) => Matcher::AllBut(parse_resources(r, bucket)?),
        _ => {
            return Err(malformed(
                "Statements need exactly one of Resource and NotResource",
            ))
        }
    };
    let conditions = m
        .get("Condition")
        .map(parse_conditions)
        .transpose()?
        .unwrap_or_default();
    Ok(Statement {
        effect,
        principal,
        not_principal,
        action,
        resource,
        conditions,
    })
}

impl Policy {
    /// Parses and checks a policy for `bucket`; principals are resolved through `dir`.
    pub fn parse(json: &str, bucket: &str, dir: &dyn Directory) -> S3Result<Policy> {
        let doc: Value =
            serde_json::from_str(json).map_err(|_| malformed("Policies must be valid JSON"))?;
        let Value::Object(top) = &doc else {
            return Err(malformed("Policies must be JSON objects"));
        };
        if let Some(k) = top
            .keys()
            .find(|k| !["Version", "Id", "Statement"].contains(&k.as_str()))
        {
            return Err(malformed(format!("Unknown field {k}")));
        }
        match top.get("Version").and_then(Value::as_str) {
            None | Some("2012-10-17") | Some("2008-10-17") => {}
            Some(v) => return Err(malformed(format!("Invalid policy version {v}"))),
        }
        let statements = match top.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err(malformed("Missing required field Statement")),
        };
        let statements = statements
            .iter()
            .map(|st| parse_statement(st, bucket, dir))
            .collect::<S3Result<Vec<_>>>()?;
        Ok(Policy { statements })
    }

    /// Evaluates the policy for one request: any matching Deny wins, then any Allow.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for st in &self.statements {
            if !self.applies(st, req) {
                continue;
            }
            match st.effect {
                Effect::Deny => return Decision::Deny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::Neutral
        }
    }

    fn applies(&self, st: &Statement, req: &Request<'_>) -> bool {
        let names = |p: &Principal| match (p, req.identity) {
            (Principal::Everyone, _) => true,
            (Principal::Users(ids), Identity::User { user }) => ids.contains(&user.id),
            (Principal::Users(_), Identity::Anonymous) => false,
        };
        let principal_ok = match (&st.principal, &st.not_principal) {
            (Some(p), _) => names(p),
            (None, Some(np)) => !names(np),
            (None, None) => false,
        };
        principal_ok
            && st.action.matches(req.action, true)
            && st.resource.matches(&req.resource, false)
            && st.conditions.iter().all(|c| c.holds(req.facts))
    }

    /// Does the policy let an AWS service (`logging.s3.amazonaws.com`) perform `action` on
    /// `resource`? Only a statement naming the service allows it (`"*"` is everyone's
    /// principal, not a grant to a service, as the S3 test suite checks); a Deny naming
    /// it or everyone wins.
    pub fn allows_service(
        &self,
        service: &str,
        action: &str,
        resource: &str,
        facts: &dyn Facts,
    ) -> bool {
        let id = format!("{SERVICE_PREFIX}{service}");
        let mut allowed = false;
        for st in &self.statements {
            let named = match (&st.principal, &st.not_principal) {
                (Some(Principal::Users(ids)), _) => ids.contains(&id),
                (Some(Principal::Everyone), _) => st.effect == Effect::Deny,
                (None, Some(Principal::Users(ids))) => !ids.contains(&id),
                _ => false,
            };
            let applies = named
                && st.action.matches(action, true)
                && st.resource.matches(resource, false)
                && st.conditions.iter().all(|c| c.holds(facts));
            match (applies, st.effect) {
                (true, Effect::Deny) => return false,
                (true, Effect::Allow) => allowed = true,
                (false, _) => {}
            }
        }
        allowed
    }

    /// Does an Allow statement name its principals by `NotPrincipal` ("everyone but")? AWS
    /// refuses such policies when they are put; one stored before is still evaluated.
    pub fn allows_by_not_principal(&self) -> bool {
        self.statements
            .iter()
            .any(|st| st.effect == Effect::Allow && st.not_principal.is_some())
    }

    /// Does any Allow statement let everyone in, without a condition narrowing who to a
    /// fixed set? That is AWS's "public" policy (GetBucketPolicyStatus, BlockPublicPolicy,
    /// RestrictPublicBuckets). As AWS defines it, only fixed values of a few keys narrow
    /// (`aws:SourceIp` ranges no wider than a /8 (IPv4) or /32 (IPv6), `aws:userid`
    /// and, since a zone's user names are unique, `aws:username` without wildcards);
    /// anything else, `aws:PrincipalType` among them, leaves the statement public.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|st| {
            st.effect == Effect::Allow
                && (st.principal == Some(Principal::Everyone) || st.not_principal.is_some())
                && !st
                    .conditions
                    .iter()
                    .any(Condition::narrows_to_fixed_callers)
        })
    }
}

impl Condition {
    /// Does this condition confine a statement to a fixed set of callers?
    fn narrows_to_fixed_callers(&self) -> bool {
        if self.op.negated() || self.if_exists || self.set == SetMode::AllValues {
            return false;
        }
        let fixed = !self.values.is_empty()
            && self
                .values
                .iter()
                .all(|v| !v.contains('*') && !v.contains('?'));
        match (self.key.as_str(), self.op) {
            ("aws:sourceip", Op::IpAddress) => self.values.iter().all(|v| {
                let prefix = v.split_once('/').map(|(_, p)| p.parse::<u8>().unwrap_or(0));
                match prefix {
                    None => true,
                    Some(p) if v.contains(':') => p >= 32,
                    Some(p) => p >= 8,
                }
            }),
            // User names are unique within a zone: a fixed list names fixed users.
            ("aws:userid" | "aws:username", Op::StringEquals | Op::StringEqualsIgnoreCase) => fixed,
            _ => false,
        }
    }
}

/// A map of condition keys to values, for tests and simple callers.
impl Facts for BTreeMap<String, Vec<String>> {
    fn values(&self, key: &str) -> Vec<String> {
        self.get(key).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bascule_replication::records::UserRecord;

    struct Dir;
    impl Directory for Dir {
        fn user_id(&self, p: &str) -> S3Result<Option<String>> {
            Ok(match p {
                "arn:aws:iam::000000000000:user/alice" | "alice" | "id-alice" => {
                    Some("id-alice".into())
                }
                _ => None,
            })
        }
    }

    fn user(id: &str) -> Identity {
        Identity::User {
            user: UserRecord {
                id: id.into(),
                name: id.into(),
                admin: false,
                enabled: true,
                created_ms: 0,
            },
        }
    }

    fn decide(
        policy: &str,
        action: &str,
        resource: &str,
        who: &Identity,
        facts: &[(&str, &str)],
    ) -> Decision {
        let p = Policy::parse(policy, "b", &Dir).unwrap();
        let facts: BTreeMap<String, Vec<String>> = facts
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect();
        p.decide(&Request {
            action,
            resource: resource.into(),
            identity: who,
            facts: &facts,
        })
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "abbc"));
        assert!(wildcard("*", ""));
        assert!(wildcard("arn:aws:s3:::b/docs/*", "arn:aws:s3:::b/docs/x/y"));
        assert!(!wildcard("arn:aws:s3:::b/docs/*", "arn:aws:s3:::b/doc"));
    }

    #[test]
    fn deny_wins_and_prefixes_scope() {
        let p = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},
             "Action":["s3:Get*"],"Resource":"arn:aws:s3:::b/public/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject",
             "Resource":"arn:aws:s3:::b/public/secret*"}]}"#;
        let alice = user("id-alice");
        assert_eq!(
            decide(p, "s3:GetObject", "arn:aws:s3:::b/public/a", &alice, &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(p, "s3:GetObject", "arn:aws:s3:::b/other", &alice, &[]),
            Decision::Neutral
        );
        assert_eq!(
            decide(
                p,
                "s3:GetObject",
                "arn:aws:s3:::b/public/secret.pdf",
                &alice,
                &[]
            ),
            Decision::Deny
        );
        assert_eq!(
            decide(
                p,
                "s3:GetObject",
                "arn:aws:s3:::b/public/a",
                &user("bob"),
                &[]
            ),
            Decision::Neutral
        );
        assert_eq!(
            decide(p, "s3:PutObject", "arn:aws:s3:::b/public/a", &alice, &[]),
            Decision::Neutral
        );
    }

    #[test]
    fn conditions() {
        let p = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket",
            "Resource":"arn:aws:s3:::b","Condition":{
              "StringLike":{"s3:prefix":"docs/*"},
              "IpAddress":{"aws:SourceIp":["10.0.0.0/8","127.0.0.1"]},
              "NumericLessThanEquals":{"s3:max-keys":"100"}}}]}"#;
        let anon = Identity::Anonymous;
        let ok = [
            ("s3:prefix", "docs/a"),
            ("aws:sourceip", "127.0.0.1"),
            ("s3:max-keys", "10"),
        ];
        assert_eq!(
            decide(p, "s3:ListBucket", "arn:aws:s3:::b", &anon, &ok),
            Decision::Allow
        );
        let far = [
            ("s3:prefix", "docs/a"),
            ("aws:sourceip", "192.168.1.1"),
            ("s3:max-keys", "10"),
        ];
        assert_eq!(
            decide(p, "s3:ListBucket", "arn:aws:s3:::b", &anon, &far),
            Decision::Neutral
        );
        let many = [
            ("s3:prefix", "docs/a"),
            ("aws:sourceip", "10.1.2.3"),
            ("s3:max-keys", "1000"),
        ];
        assert_eq!(
            decide(p, "s3:ListBucket", "arn:aws:s3:::b", &anon, &many),
            Decision::Neutral
        );
        // A missing key fails a positive condition, unless IfExists.
        let no_prefix = [("aws:sourceip", "10.1.2.3"), ("s3:max-keys", "1")];
        assert_eq!(
            decide(p, "s3:ListBucket", "arn:aws:s3:::b", &anon, &no_prefix),
            Decision::Neutral
        );
        let q = p.replace("StringLike", "StringLikeIfExists");
        assert_eq!(
            decide(&q, "s3:ListBucket", "arn:aws:s3:::b", &anon, &no_prefix),
            Decision::Allow
        );

        let tls = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",
            "Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
            "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert_eq!(
            decide(
                tls,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &anon,
                &[("aws:securetransport", "false")]
            ),
            Decision::Deny
        );
        let null = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject",
            "Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"s3:x-amz-acl":"false"}}}]}"#;
        assert_eq!(
            decide(
                null,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                &anon,
                &[("s3:x-amz-acl", "public-read")]
            ),
            Decision::Deny
        );
        assert_eq!(
            decide(null, "s3:PutObject", "arn:aws:s3:::b/k", &anon, &[]),
            Decision::Neutral
        );
    }

    #[test]
    fn bad_policies_are_refused_whole() {
        let base = |st: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{st}]}}"#);
        for bad in [
            base(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::b/*"}"#,
            ),
            base(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}"#,
            ),
            base(
                r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/nobody"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#,
            ),
            base(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEqualz":{"s3:prefix":"x"}}}"#,
            ),
            base(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:nonsense":"x"}}}"#,
            ),
            base(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"not-an-ip"}}}"#,
            ),
            base(
                r#"{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#,
            ),
            "{nope".to_string(),
        ] {
            assert_eq!(
                Policy::parse(&bad, "b", &Dir).unwrap_err().code,
                S3ErrorCode::MalformedPolicy,
                "{bad}"
            );
        }
    }

    /// Allow with NotPrincipal is refused when put (access::check_policy), but a policy
    /// stored earlier still parses, so its bucket keeps working.
    #[test]
    fn allow_by_not_principal_is_recognised_not_rejected_by_parse() {
        let doc = r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}"#;
        assert!(Policy::parse(doc, "b", &Dir)
            .unwrap()
            .allows_by_not_principal());
        let deny = doc.replace("Allow", "Deny");
        assert!(!Policy::parse(&deny, "b", &Dir)
            .unwrap()
            .allows_by_not_principal());
    }

    #[test]
    fn public_policies() {
        let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert!(Policy::parse(public, "b", &Dir).unwrap().is_public());
        let by_ip = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
        assert!(!Policy::parse(by_ip, "b", &Dir).unwrap().is_public());
        let with = |cond: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{cond}}}]}}"#
            )
        };
        // Conditions that do not confine the statement to fixed callers leave it public.
        for cond in [
            r#"{"StringEquals":{"aws:PrincipalType":"Anonymous"}}"#,
            r#"{"StringEquals":{"aws:PrincipalType":"User"}}"#,
            r#"{"StringLike":{"aws:username":"*"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
            r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            r#"{"StringLike":{"aws:userid":"*"}}"#,
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        ] {
            assert!(
                Policy::parse(&with(cond), "b", &Dir).unwrap().is_public(),
                "{cond}"
            );
        }
        for cond in [
            r#"{"StringEquals":{"aws:userid":"id-alice"}}"#,
            r#"{"StringEquals":{"aws:username":"alice"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","10.1.2.3"]}}"#,
        ] {
            assert!(
                !Policy::parse(&with(cond), "b", &Dir).unwrap().is_public(),
                "{cond}"
            );
        }
    }
}
