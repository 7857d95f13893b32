//! Cross-zone verify: do the two zones hold the same objects and settings? Compared
//! without moving object data and with little metadata: each bucket's keys are cut into
//! ranges of about `RANGE_KEYS` keys on the primary, both zones summarise the same ranges
//! (a digest over every key and version as replicas compare them), and only ranges whose
//! summaries differ are listed key by key (a digest per key); only keys whose digests
//! differ have their records fetched.
//!
//! "At the same journal position": writes go on while a verify runs, so a difference is
//! reported only when it holds still. The primary's records of a key are read, then the
//! secondary's once it has applied everything the primary had at that read, then the
//! primary's again: a key the primary changed meanwhile is counted as changing, not as a
//! difference (the next verify looks again).
//!
//! Written against `Side` (what a zone answers, local or over the zone link): the same
//! algorithm runs on either zone.

use crate::protocol::{Catalog, ZoneInfo};
use crate::records::ObjectRecord;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

/// Keys per range the primary cuts.
pub const RANGE_KEYS: usize = 1000;
/// Keys read per page while summarising.
pub const SCAN_PAGE: usize = 5000;
/// Keys (with digests) per page of a range's listing.
pub const KEYS_PAGE: usize = 5000;
/// Keys whose records are fetched per call.
pub const RECORDS_PAGE: usize = 500;
/// First items of each kind a report names (the counts count all).
const FIRST: usize = 20;
/// How long to wait for the secondary to reach the primary's position.
const CATCH_UP: Duration = Duration::from_secs(60);

/// A key's versions, current first then newest first.
pub type Versions = Vec<ObjectRecord>;

/// What two zones compare of a version: everything but where its data is kept.
pub fn replica_view(r: &ObjectRecord) -> ObjectRecord {
    let mut r = r.clone();
    for s in &mut r.segments {
        s.loc = crate::records::Location::Inline;
    }
    r
}

/// Do two zones hold the same version?
pub fn same_version(a: &ObjectRecord, b: &ObjectRecord) -> bool {
    replica_view(a) == replica_view(b)
}

fn key_digest(key: &str, versions: &[ObjectRecord]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key.as_bytes());
    for v in versions {
        // Serialising a derived struct is deterministic (fields in order, maps sorted).
        let bytes = serde_json::to_vec(&replica_view(v)).unwrap_or_default();
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    h.finalize().into()
}

/// One range of a bucket's keys: those after the previous range's `last`, up to this one's
/// (`None`: to the end of the bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSummary {
    pub last: Option<String>,
    pub keys: u64,
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RangesRequest {
    pub bucket: String,
    /// The ranges' last keys as the primary cut them (`None`: cut them here).
    pub bounds: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RangesAnswer {
    pub zone: ZoneInfo,
    pub ranges: Vec<RangeSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysRequest {
    pub bucket: String,
    pub after: String,
    pub upto: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysAnswer {
    /// Keys with their digests (hex), in order; at most `KEYS_PAGE`.
    pub keys: Vec<(String, String)>,
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordsRequest {
    pub bucket: String,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordsAnswer {
    pub zone: ZoneInfo,
    /// Each asked key with its versions (none: the key is absent).
    pub objects: Vec<(String, Versions)>,
}

/// Summarises a bucket: ranges cut every `RANGE_KEYS` keys, or at `bounds`, then always
/// one last open range. `page(after, limit)` reads keys after `after` in order; `pace`
/// is told how many keys were read (a periodic verify sleeps there).
pub fn summarise<E>(
    bounds: Option<&[String]>,
    mut page: impl FnMut(&str, usize) -> Result<Vec<(String, Versions)>, E>,
    mut pace: impl FnMut(usize),
) -> Result<Vec<RangeSummary>, E> {
    let mut out = Vec::new();
    let (mut digest, mut count, mut next_bound) = (Md5::new(), 0u64, 0usize);
    let close = |out: &mut Vec<RangeSummary>, last: Option<String>, d: &mut Md5, n: &mut u64| {
        out.push(RangeSummary {
            last,
            keys: *n,
            digest: hex::encode(d.finalize_reset()),
        });
        *n = 0;
    };
    let mut after = String::new();
    loop {
        let items = page(&after, SCAN_PAGE)?;
        pace(items.len());
        let done = items.len() < SCAN_PAGE;
        for (key, versions) in &items {
            if let Some(b) = bounds {
                while next_bound < b.len() && key.as_str() > b[next_bound].as_str() {
                    close(
                        &mut out,
                        Some(b[next_bound].clone()),
                        &mut digest,
                        &mut count,
                    );
                    next_bound += 1;
                }
            }
            digest.update(key_digest(key, versions));
            count += 1;
            if bounds.is_none() && count as usize == RANGE_KEYS {
                close(&mut out, Some(key.clone()), &mut digest, &mut count);
            }
        }
        match items.last() {
            Some((k, _)) if !done => after.clone_from(k),
            _ => break,
        }
    }
    if let Some(b) = bounds {
        for bound in &b[next_bound..] {
            close(&mut out, Some(bound.clone()), &mut digest, &mut count);
        }
    }
    close(&mut out, None, &mut digest, &mut count);
    Ok(out)
}

/// A page of keys with their digests: `page(after, limit)` reads keys in order; keys past
/// `upto` are left out.
pub fn key_digests<E>(
    req: &KeysRequest,
    mut page: impl FnMut(&str, usize) -> Result<Vec<(String, Versions)>, E>,
) -> Result<KeysAnswer, E> {
    let mut items = page(&req.after, KEYS_PAGE + 1)?;
    let past = |k: &str| req.upto.as_deref().is_some_and(|u| k > u);
    let ended = items.iter().any(|(k, _)| past(k)) || items.len() <= KEYS_PAGE;
    items.retain(|(k, _)| !past(k));
    items.truncate(KEYS_PAGE);
    Ok(KeysAnswer {
        keys: items
            .iter()
            .map(|(k, v)| (k.clone(), hex::encode(key_digest(k, v))))
            .collect(),
        truncated: !ended,
    })
}

/// What a zone answers a verify: locally, or over the zone link.
pub trait Side: Send + Sync {
    fn info(&self) -> impl Future<Output = Result<ZoneInfo, String>> + Send;
    fn catalog(&self) -> impl Future<Output = Result<Catalog, String>> + Send;
    fn ranges(
        &self,
        req: RangesRequest,
    ) -> impl Future<Output = Result<RangesAnswer, String>> + Send;
    fn keys(&self, req: KeysRequest) -> impl Future<Output = Result<KeysAnswer, String>> + Send;
    fn records(
        &self,
        req: RecordsRequest,
    ) -> impl Future<Output = Result<RecordsAnswer, String>> + Send;
}

/// A kind of difference: how many, and the first few named.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Found {
    pub count: u64,
    pub first: Vec<String>,
}

impl Found {
    fn add(&mut self, name: String) {
        self.count += 1;
        if self.first.len() < FIRST {
            self.first.push(name);
        }
    }
}

/// A verify's result (the admin API's JSON, the dashboard's table, `/metrics`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub bucket: Option<String>,
    pub primary: String,
    pub secondary: String,
    /// The primary's journal position when the verify started, and when it ended.
    pub from_seq: u64,
    pub to_seq: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub buckets: u64,
    /// Keys the primary holds in the buckets compared.
    pub keys: u64,
    pub ranges: u64,
    pub ranges_differing: u64,
    /// Key digests and records that crossed the zone link (what "little metadata" means).
    pub key_digests_moved: u64,
    pub records_moved: u64,
    /// Versions the primary has and the secondary lacks, the reverse, and both hold
    /// differently (`bucket/key@version`).
    pub missing: Found,
    pub extra: Found,
    pub different: Found,
    /// Buckets, users and keys (settings included) that differ (`bucket:NAME`, ...).
    pub settings: Found,
    /// Keys the primary changed while they were compared (not counted as differences).
    pub changing: u64,
    /// Keys and settings (buckets, users, keys) this verify repaired (re-fetched on the
    /// secondary), and failed to.
    pub repaired: u64,
    pub repair_failed: u64,
    /// The keys that differed (bucket, key), for the repair; not shown.
    #[serde(skip)]
    pub to_repair: Vec<(String, String)>,
    pub error: Option<String>,
}

impl VerifyReport {
    pub fn differences(&self) -> u64 {
        self.missing.count + self.extra.count + self.different.count + self.settings.count
    }
}

/// Waits until `side` has applied up to `seq`.
async fn reach(side: &impl Side, seq: u64) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let info = side.info().await?;
        if info.last_seq >= seq {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the secondary did not reach the primary's position {seq} (it is at {}) within {} s",
                info.last_seq,
                CATCH_UP.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Compares the zones (`bucket`: only that bucket and its settings). `pace(keys)` is
/// awaited after each step that read keys.
pub async fn compare<P: Side, S: Side, F: Future<Output = ()>>(
    primary: &P,
    secondary: &S,
    bucket: Option<&str>,
    report: &mut VerifyReport,
    pace: impl Fn(u64) -> F,
) -> Result<(), String> {
    let first = primary.catalog().await?;
    report.from_seq = first.zone.last_seq;
    report.primary = first.zone.s3_endpoint.clone();
    reach(secondary, first.zone.last_seq).await?;
    let theirs = secondary.catalog().await?;
    report.secondary = theirs.zone.s3_endpoint.clone();
    let again = primary.catalog().await?;
    compare_catalogs(&first, &theirs, &again, bucket, report);

    let wanted = |name: &str| bucket.is_none_or(|b| b == name);
    let names: BTreeSet<String> = first
        .buckets
        .iter()
        .chain(theirs.buckets.iter())
        .map(|b| b.name.clone())
        .filter(|n| wanted(n))
        .collect();
    for name in names {
        report.buckets += 1;
        compare_bucket(primary, secondary, &name, report, &pace).await?;
    }
    report.to_seq = primary.info().await?.last_seq;
    Ok(())
}

fn compare_catalogs(
    first: &Catalog,
    theirs: &Catalog,
    again: &Catalog,
    bucket: Option<&str>,
    report: &mut VerifyReport,
) {
    fn items<T: Serialize>(
        list: &[T],
        name: impl Fn(&T) -> String,
    ) -> BTreeMap<String, serde_json::Value> {
        list.iter()
            .map(|t| (name(t), serde_json::to_value(t).unwrap_or_default()))
            .collect()
    }
    type Named = BTreeMap<String, serde_json::Value>;
    let all = |c: &Catalog| -> Vec<(&'static str, Named)> {
        let mut out = vec![(
            "bucket",
            items(&c.buckets, |b| b.name.clone())
                .into_iter()
                .filter(|(n, _)| bucket.is_none_or(|b| b == n))
                .collect(),
        )];
        if bucket.is_none() {
            out.push(("user", items(&c.users, |u| u.id.clone())));
            out.push(("access-key", items(&c.keys, |k| k.access_key.clone())));
            out.push(("kms-key", items(&c.kms_keys, |k| k.id.clone())));
        }
        out
    };
    let (p1, s, p2) = (all(first), all(theirs), all(again));
    for (((kind, p1), (_, s)), (_, p2)) in p1.iter().zip(&s).zip(&p2) {
        let names: BTreeSet<&String> = p1.keys().chain(s.keys()).collect();
        for name in names {
            if p1.get(name) != p2.get(name) {
                report.changing += 1;
            } else if p1.get(name) != s.get(name) {
                report.settings.add(format!("{kind}:{name}"));
            }
        }
    }
}

async fn compare_bucket<P: Side, S: Side, F: Future<Output = ()>>(
    primary: &P,
    secondary: &S,
    bucket: &str,
    report: &mut VerifyReport,
    pace: &impl Fn(u64) -> F,
) -> Result<(), String> {
    let ours = primary
        .ranges(RangesRequest {
            bucket: bucket.to_string(),
            bounds: None,
        })
        .await?;
    let keys: u64 = ours.ranges.iter().map(|r| r.keys).sum();
    report.keys += keys;
    pace(keys).await;
    let bounds: Vec<String> = ours.ranges.iter().filter_map(|r| r.last.clone()).collect();
    reach(secondary, ours.zone.last_seq).await?;
    let theirs = secondary
        .ranges(RangesRequest {
            bucket: bucket.to_string(),
            bounds: Some(bounds),
        })
        .await?;
    pace(theirs.ranges.iter().map(|r| r.keys).sum()).await;
    report.ranges += ours.ranges.len() as u64;
    let mut after = String::new();
    for (i, mine) in ours.ranges.iter().enumerate() {
        let same = theirs.ranges.get(i) == Some(mine);
        if !same {
            report.ranges_differing += 1;
            compare_range(
                primary,
                secondary,
                bucket,
                &after,
                mine.last.as_deref(),
                report,
            )
            .await?;
        }
        if let Some(last) = &mine.last {
            after.clone_from(last);
        }
    }
    Ok(())
}

/// Lists one range on both sides (key digests), then compares the records of the keys
/// whose digests differ.
async fn compare_range<P: Side, S: Side>(
    primary: &P,
    secondary: &S,
    bucket: &str,
    after: &str,
    upto: Option<&str>,
    report: &mut VerifyReport,
) -> Result<(), String> {
    let list = |side_after: String| KeysRequest {
        bucket: bucket.to_string(),
        after: side_after,
        upto: upto.map(str::to_string),
    };
    let mut digests: [BTreeMap<String, String>; 2] = Default::default();
    for (side, listed) in digests.iter_mut().enumerate() {
        let mut from = after.to_string();
        loop {
            let page = if side == 0 {
                primary.keys(list(from.clone())).await?
            } else {
                secondary.keys(list(from.clone())).await?
            };
            report.key_digests_moved += page.keys.len() as u64;
            match page.keys.last() {
                Some((k, _)) if page.truncated => from.clone_from(k),
                _ => {
                    listed.extend(page.keys);
                    break;
                }
            }
            listed.extend(page.keys);
        }
    }
    let [p, s] = &digests;
    let differing: Vec<String> = p
        .keys()
        .chain(s.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| p.get(*k) != s.get(*k))
        .cloned()
        .collect();
    for chunk in differing.chunks(RECORDS_PAGE) {
        compare_records(primary, secondary, bucket, chunk, report).await?;
    }
    Ok(())
}

/// Reads the keys' records on the primary, on the secondary once it reached that
/// position, and on the primary again; what differs while the primary held still is a
/// difference.
async fn compare_records<P: Side, S: Side>(
    primary: &P,
    secondary: &S,
    bucket: &str,
    keys: &[String],
    report: &mut VerifyReport,
) -> Result<(), String> {
    let req = || RecordsRequest {
        bucket: bucket.to_string(),
        keys: keys.to_vec(),
    };
    let before = primary.records(req()).await?;
    reach(secondary, before.zone.last_seq).await?;
    let theirs = secondary.records(req()).await?;
    let after = primary.records(req()).await?;
    let count = |a: &RecordsAnswer| a.objects.iter().map(|o| o.1.len() as u64).sum::<u64>();
    report.records_moved += count(&before) + count(&theirs) + count(&after);
    let by_key = |a: RecordsAnswer| a.objects.into_iter().collect::<BTreeMap<_, _>>();
    let (before, theirs, after) = (by_key(before), by_key(theirs), by_key(after));
    for key in keys {
        let none = Vec::new();
        let p = before.get(key).unwrap_or(&none);
        let p2 = after.get(key).unwrap_or(&none);
        let s = theirs.get(key).unwrap_or(&none);
        let unchanged = p.len() == p2.len() && p.iter().zip(p2).all(|(a, b)| same_version(a, b));
        if !unchanged {
            report.changing += 1;
            continue;
        }
        let label = |r: &ObjectRecord| r.version_label().to_string();
        let mine: BTreeMap<String, &ObjectRecord> = p.iter().map(|r| (label(r), r)).collect();
        let yours: BTreeMap<String, &ObjectRecord> = s.iter().map(|r| (label(r), r)).collect();
        let mut differs = false;
        for (v, r) in &mine {
            let name = format!("{bucket}/{key}@{v}");
            match yours.get(v) {
                None => report.missing.add(name),
                Some(o) if !same_version(r, o) => report.different.add(name),
                Some(_) => continue,
            }
            differs = true;
        }
        for v in yours.keys().filter(|v| !mine.contains_key(*v)) {
            report.extra.add(format!("{bucket}/{key}@{v}"));
            differs = true;
        }
        // Same versions, another order: which one is current differs.
        if !differs && p.first().map(label) != s.first().map(label) {
            report
                .different
                .add(format!("{bucket}/{key} (current version)"));
            differs = true;
        }
        if differs {
            report.to_repair.push((bucket.to_string(), key.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(etag: &str) -> ObjectRecord {
        serde_json::from_value(serde_json::json!({
            "size": 1, "etag": etag, "last_modified_ms": 1, "owner": "o"
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn keys(n: usize) -> Vec<(String, Versions)> {
        (0..n)
            .map(|i| (format!("k{i:06}"), vec![rec("a")]))
            .collect()
    }

    fn pager(
        items: &[(String, Versions)],
    ) -> impl FnMut(&str, usize) -> Result<Vec<(String, Versions)>, ()> + '_ {
        move |after, limit| {
            Ok(items
                .iter()
                .filter(|(k, _)| k.as_str() > after)
                .take(limit)
                .cloned()
                .collect())
        }
    }

    #[test]
    fn the_same_keys_summarise_the_same_and_one_change_shows_in_one_range() {
        let a = keys(RANGE_KEYS * 3 + 7);
        let ranges = summarise(None, pager(&a), |_| {}).unwrap();
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[3].keys, 7);
        assert_eq!(ranges.iter().map(|r| r.keys).sum::<u64>(), a.len() as u64);
        let bounds: Vec<String> = ranges.iter().filter_map(|r| r.last.clone()).collect();
        assert_eq!(summarise(Some(&bounds), pager(&a), |_| {}).unwrap(), ranges);

        let mut b = a.clone();
        b[RANGE_KEYS + 5].1[0].etag = "b".into();
        b.remove(10);
        b.push(("zzz".into(), vec![rec("a")]));
        let theirs = summarise(Some(&bounds), pager(&b), |_| {}).unwrap();
        assert_eq!(theirs.len(), 4);
        let differing: Vec<usize> = (0..4).filter(|i| ranges[*i] != theirs[*i]).collect();
        assert_eq!(differing, vec![0, 1, 3]);
        assert_eq!(theirs[0].keys, RANGE_KEYS as u64 - 1);
    }

    #[test]
    fn key_pages_stop_at_the_range_end_and_say_when_they_go_on() {
        let a = keys(KEYS_PAGE * 2);
        let req = KeysRequest {
            bucket: "b".into(),
            after: String::new(),
            upto: Some(a[9].0.clone()),
        };
        let page = key_digests(&req, pager(&a)).unwrap();
        assert_eq!((page.keys.len(), page.truncated), (10, false));
        let open = KeysRequest { upto: None, ..req };
        let page = key_digests(&open, pager(&a)).unwrap();
        assert_eq!((page.keys.len(), page.truncated), (KEYS_PAGE, true));
    }

    #[test]
    fn where_data_is_kept_is_not_a_difference() {
        let mut a = rec("x");
        a.segments.push(crate::records::Segment {
            id: "s".into(),
            size: 1,
            loc: crate::records::Location::Disk(0),
            md5: None,
            seal: None,
            crc32c: None,
        });
        let mut b = a.clone();
        b.segments[0].loc = crate::records::Location::Disk(1);
        assert!(same_version(&a, &b));
        b.segments[0].id = "t".into();
        assert!(!same_version(&a, &b));
    }
}
