//! What lifecycle rules do to one key, decided from the key's versions and the clock
//! alone (no I/O): the worker carries the decisions out, and S3 answers
//! `x-amz-expiration` from the same arithmetic.

use bascule_replication::records::{LifecycleRule, ObjectRecord, Protection};

pub const REAL_DAY_MS: u64 = 86_400_000;

/// The time as lifecycle sees it: now, and how long a lifecycle day is.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: u64,
    pub day_ms: u64,
}

impl Clock {
    /// `days` lifecycle days after `from_ms`. With real days the result is rounded up to
    /// the next midnight UTC, as S3 does; a sped-up clock is not rounded.
    pub fn after_days(&self, from_ms: u64, days: u32) -> u64 {
        let t = from_ms.saturating_add((days as u64).saturating_mul(self.day_ms));
        if self.day_ms == REAL_DAY_MS {
            t.div_ceil(REAL_DAY_MS).saturating_mul(REAL_DAY_MS)
        } else {
            t
        }
    }
}

/// When the current version `rec` of `key` expires under `rule`, if it does.
pub fn current_expiry(
    rule: &LifecycleRule,
    key: &str,
    rec: &ObjectRecord,
    clock: &Clock,
) -> Option<u64> {
    let exp = rule.expiration.as_ref()?;
    if !rule.enabled || rec.delete_marker || !rule.filter.matches(key, rec.size, &rec.tags) {
        return None;
    }
    match (exp.days, exp.date_ms) {
        (Some(days), _) => Some(clock.after_days(rec.last_modified_ms, days)),
        (None, Some(date)) => Some(date),
        _ => None,
    }
}

/// The earliest expiry of a current version under any rule, with that rule's id: what
/// `x-amz-expiration` reports.
pub fn earliest_expiry<'r>(
    rules: &'r [LifecycleRule],
    key: &str,
    rec: &ObjectRecord,
    clock: &Clock,
) -> Option<(u64, Option<&'r str>)> {
    rules
        .iter()
        .filter_map(|r| current_expiry(r, key, rec, clock).map(|t| (t, r.id.as_deref())))
        .min_by_key(|(t, _)| *t)
}

/// One thing lifecycle does to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The current version expires: removed (unversioned bucket) or hidden behind a new
    /// delete marker. `seq` names the version decided on.
    ExpireCurrent { seq: u64 },
    /// One version (noncurrent, or an expired object delete marker) goes for good.
    RemoveVersion {
        version_id: Option<String>,
        seq: u64,
        delete_marker: bool,
    },
}

/// What the rules do now to `key`, whose versions are `versions` (newest first, the first
/// being the latest). Versions under object lock are never removed.
pub fn plan_key(
    rules: &[LifecycleRule],
    key: &str,
    versions: &[ObjectRecord],
    clock: &Clock,
) -> Vec<Action> {
    let mut out = Vec::new();
    let Some(latest) = versions.first() else {
        return out;
    };
    let enabled = || rules.iter().filter(|r| r.enabled);
    if !latest.delete_marker
        && earliest_expiry(rules, key, latest, clock).is_some_and(|(t, _)| t <= clock.now_ms)
    {
        out.push(Action::ExpireCurrent { seq: latest.seq });
    }
    // A delete marker with nothing behind it hides nothing: an expired object delete marker.
    if latest.delete_marker && versions.len() == 1 {
        let expired = enabled().any(|r| {
            let Some(exp) = &r.expiration else {
                return false;
            };
            let old_enough = match exp.days {
                Some(days) => clock.after_days(latest.last_modified_ms, days) <= clock.now_ms,
                None => exp.expired_object_delete_marker,
            };
            key.starts_with(&r.filter.prefix) && old_enough
        });
        if expired {
            out.push(remove(latest));
        }
    }
    // Noncurrent versions: each became noncurrent when the next newer one was written.
    for (rank, pair) in versions.windows(2).enumerate() {
        let (newer, v) = (&pair[0], &pair[1]);
        if v.protection(clock.now_ms) != Protection::None {
            continue;
        }
        let expires = enabled().any(|r| {
            let Some(nc) = &r.noncurrent_expiration else {
                return false;
            };
            let kept = nc
                .newer_noncurrent_versions
                .is_some_and(|n| (rank as u32) < n);
            let due = nc
                .days
                .map(|d| clock.after_days(newer.last_modified_ms, d))
                .unwrap_or(0);
            r.filter.matches(key, v.size, &v.tags) && !kept && due <= clock.now_ms
        });
        if expires {
            out.push(remove(v));
        }
    }
    out
}

fn remove(v: &ObjectRecord) -> Action {
    Action::RemoveVersion {
        version_id: v.version_id.clone(),
        seq: v.seq,
        delete_marker: v.delete_marker,
    }
}

/// Does an upload of `key` started at `initiated_ms` get aborted now?
pub fn abort_upload(rules: &[LifecycleRule], key: &str, initiated_ms: u64, clock: &Clock) -> bool {
    rules.iter().filter(|r| r.enabled).any(|r| {
        r.abort_incomplete_upload_days.is_some_and(|days| {
            key.starts_with(&r.filter.prefix)
                && clock.after_days(initiated_ms, days) <= clock.now_ms
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bascule_replication::records::{
        LifecycleExpiration, LifecycleFilter, NoncurrentExpiration, Retention, RetentionMode,
    };

    const DAY: u64 = 1_000;

    fn clock(now: u64) -> Clock {
        Clock {
            now_ms: now,
            day_ms: DAY,
        }
    }

    fn version(seq: u64, at: u64, marker: bool) -> ObjectRecord {
        ObjectRecord {
            size: 10,
            etag: String::new(),
            last_modified_ms: at,
            owner: String::new(),
            headers: Default::default(),
            user_meta: Default::default(),
            checksum: None,
            tags: vec![],
            segments: vec![],
            acl: vec![],
            acl_without_owner: false,
            parts_count: None,
            parts: vec![],
            upload_id: None,
            seq,
            version_id: Some(format!("v{seq}")),
            delete_marker: marker,
            retention: None,
            legal_hold: false,
            encryption: None,
        }
    }

    fn rule(prefix: &str) -> LifecycleRule {
        LifecycleRule {
            enabled: true,
            filter: LifecycleFilter {
                prefix: prefix.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn real_days_round_up_to_midnight() {
        let c = Clock {
            now_ms: 0,
            day_ms: REAL_DAY_MS,
        };
        // 15 Jan 2016 10:30 UTC + 3 days expires at 19 Jan 00:00 UTC.
        let created = 1_452_853_800_000;
        assert_eq!(c.after_days(created, 3), 1_453_161_600_000);
        assert_eq!(clock(0).after_days(500, 2), 2_500);
    }

    #[test]
    fn current_versions_expire_by_days_and_filter() {
        let mut r = rule("logs/");
        r.expiration = Some(LifecycleExpiration {
            days: Some(2),
            ..Default::default()
        });
        let v = [version(5, 1_000, false)];
        assert!(plan_key(std::slice::from_ref(&r), "logs/a", &v, &clock(2_999)).is_empty());
        assert_eq!(
            plan_key(std::slice::from_ref(&r), "logs/a", &v, &clock(3_000)),
            vec![Action::ExpireCurrent { seq: 5 }]
        );
        assert!(plan_key(std::slice::from_ref(&r), "other/a", &v, &clock(9_000)).is_empty());
        r.enabled = false;
        assert!(plan_key(&[r], "logs/a", &v, &clock(9_000)).is_empty());
    }

    #[test]
    fn noncurrent_versions_count_from_their_successor_and_keep_the_newest() {
        let mut r = rule("");
        r.noncurrent_expiration = Some(NoncurrentExpiration {
            days: Some(1),
            newer_noncurrent_versions: Some(1),
        });
        // v4 current (written at 4000), v3 noncurrent since 4000, v2 since 3000, v1 since 2000.
        let vs = [
            version(4, 4_000, false),
            version(3, 3_000, false),
            version(2, 2_000, false),
            version(1, 1_000, false),
        ];
        let ids = |a: Vec<Action>| {
            a.into_iter()
                .map(|a| match a {
                    Action::RemoveVersion { seq, .. } => seq,
                    Action::ExpireCurrent { .. } => 0,
                })
                .collect::<Vec<_>>()
        };
        // At 3500: v1 (noncurrent since 2000) and v2 (since 3000) are past a day? v1 yes.
        assert_eq!(
            ids(plan_key(std::slice::from_ref(&r), "k", &vs, &clock(3_500))),
            vec![1]
        );
        // Much later every noncurrent version but the newest one (kept) goes.
        assert_eq!(
            ids(plan_key(std::slice::from_ref(&r), "k", &vs, &clock(99_000))),
            vec![2, 1]
        );
        // A locked version stays.
        let mut locked = vs.clone();
        locked[3].retention = Some(Retention {
            mode: RetentionMode::Governance,
            until_ms: 1_000_000,
        });
        assert_eq!(ids(plan_key(&[r], "k", &locked, &clock(99_000))), vec![2]);
    }

    #[test]
    fn a_lone_delete_marker_is_removed_when_the_rule_says_so() {
        let mut r = rule("");
        r.expiration = Some(LifecycleExpiration {
            expired_object_delete_marker: true,
            ..Default::default()
        });
        let lone = [version(9, 1_000, true)];
        assert_eq!(
            plan_key(std::slice::from_ref(&r), "k", &lone, &clock(1_001)),
            vec![Action::RemoveVersion {
                version_id: Some("v9".into()),
                seq: 9,
                delete_marker: true
            }]
        );
        // A marker with versions behind it is not expired.
        let behind = [version(9, 1_000, true), version(8, 500, false)];
        assert!(plan_key(&[r], "k", &behind, &clock(99_000)).is_empty());
    }

    #[test]
    fn filters_combine_prefix_tags_and_size() {
        let mut r = rule("exams/");
        r.filter.tags = vec![("kind".into(), "draft".into())];
        r.filter.size_greater_than = Some(5);
        r.filter.size_less_than = Some(100);
        r.expiration = Some(LifecycleExpiration {
            date_ms: Some(5_000),
            ..Default::default()
        });
        let mut v = version(1, 0, false);
        v.tags = vec![("kind".into(), "draft".into()), ("x".into(), "y".into())];
        let expired = |v: &ObjectRecord, key: &str, now: u64| {
            !plan_key(
                std::slice::from_ref(&r),
                key,
                std::slice::from_ref(v),
                &clock(now),
            )
            .is_empty()
        };
        // A Date rule acts from that date on, whatever the object's age.
        assert!(!expired(&v, "exams/a", 4_999));
        assert!(expired(&v, "exams/a", 5_000));
        assert!(!expired(&v, "other/a", 5_000));
        let mut untagged = v.clone();
        untagged.tags.clear();
        assert!(!expired(&untagged, "exams/a", 5_000));
        let mut big = v.clone();
        big.size = 100;
        assert!(!expired(&big, "exams/a", 5_000));
        let mut small = v.clone();
        small.size = 5;
        assert!(!expired(&small, "exams/a", 5_000));
    }

    #[test]
    fn uploads_abort_after_their_days() {
        let mut r = rule("tmp/");
        r.abort_incomplete_upload_days = Some(1);
        assert!(!abort_upload(
            std::slice::from_ref(&r),
            "tmp/x",
            1_000,
            &clock(1_999)
        ));
        assert!(abort_upload(
            std::slice::from_ref(&r),
            "tmp/x",
            1_000,
            &clock(2_000)
        ));
        assert!(!abort_upload(&[r], "keep/x", 1_000, &clock(9_000)));
    }
}
