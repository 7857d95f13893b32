//! Header grammar: `Range`, conditional requests (`If-*`), HTTP dates, ETag lists.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A resolved byte range `[start, end]`, inclusive, within an object of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end)
    }
}

/// Resolves a `Range` header against an object size, as S3 does:
/// - a header S3 would not understand (other unit, several ranges, bad syntax) is ignored
///   and the whole object is served (`Ok(None)`);
/// - a range starting at or past the end is `InvalidRange` (416);
/// - an end past the object is clamped; `bytes=-N` is the last N bytes.
pub fn resolve_range(header: &str, size: u64) -> S3Result<Option<ByteRange>> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || {
        S3Error::new(S3ErrorCode::InvalidRange)
            .with("RangeRequested", header.to_string())
            .with("ActualObjectSize", size.to_string())
            .with_header("content-range", format!("bytes */{size}"))
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Ok(n) = last.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        return Ok(Some(ByteRange {
            start: size.saturating_sub(n),
            end: size - 1,
        }));
    }
    let Ok(start) = first.parse::<u64>() else {
        return Ok(None);
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(ByteRange {
        start,
        end: end.min(size - 1),
    }))
}

/// Does an `If-Match`/`If-None-Match` list match this ETag? `*` matches any object.
pub fn etag_list_matches(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag)
}

/// The request's preconditions, as sent.
#[derive(Debug, Default, Clone)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

/// Outcome of evaluating preconditions on a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Proceed,
    NotModified,
    Failed,
}

impl Preconditions {
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// RFC 7232 section 6 order, as S3 applies it to GET/HEAD (and copy sources): a true
    /// If-Match overrides If-Unmodified-Since; a false If-None-Match overrides
    /// If-Modified-Since. Dates compare at one-second precision.
    pub fn evaluate(&self, etag: &str, last_modified: SystemTime) -> Precondition {
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let lm = secs(last_modified);
        match &self.if_match {
            Some(list) if !etag_list_matches(list, etag) => return Precondition::Failed,
            Some(_) => {}
            None => {
                if let Some(t) = self.if_unmodified_since {
                    if lm > secs(t) {
                        return Precondition::Failed;
                    }
                }
            }
        }
        match &self.if_none_match {
            Some(list) if etag_list_matches(list, etag) => return Precondition::NotModified,
            Some(_) => {}
            None => {
                if let Some(t) = self.if_modified_since {
                    if lm <= secs(t) {
                        return Precondition::NotModified;
                    }
                }
            }
        }
        Precondition::Proceed
    }
}

pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// An HTTP date; a time outside what the format can name (before 1970, after the year
/// 9999) is written as the nearest one it can, never a panic.
pub fn format_http_date(t: SystemTime) -> String {
    // 9999-12-31T23:59:59Z, the last instant an HTTP date names.
    const LAST: Duration = Duration::from_secs(253_402_300_799);
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default().min(LAST);
    httpdate::fmt_http_date(UNIX_EPOCH + since)
}

/// ISO 8601 with milliseconds, as S3 writes times in XML: `2015-08-30T12:36:00.000Z`.
pub fn format_iso8601(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i128;
    let dt = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(fmt).unwrap_or_default()
}

pub fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let dt = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(UNIX_EPOCH + Duration::from_nanos(u64::try_from(dt.unix_timestamp_nanos()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(h: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
        resolve_range(h, size).map(|o| o.map(|r| (r.start, r.end)))
    }

    #[test]
    fn ranges() {
        assert_eq!(r("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(r("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=-1000", 100).unwrap(), Some((0, 99)));
        assert_eq!(r("bytes=50-1000", 100).unwrap(), Some((50, 99)));
        assert_eq!(r("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(r("items=0-1", 100).unwrap(), None);
        assert_eq!(r("bytes=9-1", 100).unwrap(), None);
        assert_eq!(
            r("bytes=100-", 100).unwrap_err().code,
            S3ErrorCode::InvalidRange
        );
        assert_eq!(
            r("bytes=0-", 0).unwrap_err().code,
            S3ErrorCode::InvalidRange
        );
        assert_eq!(
            r("bytes=-0", 10).unwrap_err().code,
            S3ErrorCode::InvalidRange
        );
    }

    #[test]
    fn preconditions_follow_rfc7232_order() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let later = t0 + Duration::from_secs(10);
        let earlier = t0 - Duration::from_secs(10);
        let p = |m: Option<&str>,
                 n: Option<&str>,
                 ms: Option<SystemTime>,
                 us: Option<SystemTime>| Preconditions {
            if_match: m.map(String::from),
            if_none_match: n.map(String::from),
            if_modified_since: ms,
            if_unmodified_since: us,
        };
        let e = "\"abc\"";
        assert_eq!(
            p(Some("\"abc\""), None, None, None).evaluate(e, t0),
            Precondition::Proceed
        );
        assert_eq!(
            p(Some("\"x\""), None, None, None).evaluate(e, t0),
            Precondition::Failed
        );
        assert_eq!(
            p(Some("*"), None, None, None).evaluate(e, t0),
            Precondition::Proceed
        );
        assert_eq!(
            p(Some("\"abc\""), None, None, Some(earlier)).evaluate(e, t0),
            Precondition::Proceed
        );
        assert_eq!(
            p(None, None, None, Some(earlier)).evaluate(e, t0),
            Precondition::Failed
        );
        assert_eq!(
            p(None, Some("\"abc\""), None, None).evaluate(e, t0),
            Precondition::NotModified
        );
        assert_eq!(
            p(None, Some("\"x\""), Some(later), None).evaluate(e, t0),
            Precondition::Proceed
        );
        assert_eq!(
            p(None, None, Some(later), None).evaluate(e, t0),
            Precondition::NotModified
        );
        assert_eq!(
            p(None, None, Some(earlier), None).evaluate(e, t0),
            Precondition::Proceed
        );
    }

    #[test]
    fn dates() {
        let t = parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap();
        assert_eq!(format_http_date(t), "Sun, 30 Aug 2015 12:36:00 GMT");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(format_http_date(far), "Fri, 31 Dec 9999 23:59:59 GMT");
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format_iso8601(t), "2015-08-30T12:36:00.000Z");
        assert_eq!(parse_iso8601("2015-08-30T12:36:00.000Z"), Some(t));
    }
}

/// Decodes RFC 2047 encoded-words (`=?UTF-8?B?...?=`, `=?ISO-8859-1?Q?...?=`) in a header
/// value, as S3 does for user metadata; text outside encoded-words, and words it cannot
/// decode, are kept as sent.
pub fn rfc2047_decode(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match decode_word(candidate) {
            Some((text, used)) => {
                // Whitespace between two adjacent encoded-words is not part of the text.
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[used..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One `=?charset?encoding?text?=` at the start of `s`: its text and the bytes it used.
fn decode_word(s: &str) -> Option<(String, usize)> {
    use base64::Engine;
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    let used = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "Q" | "q" => {
            let mut out = Vec::new();
            let raw = text.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                match raw[i] {
                    b'_' => out.push(b' '),
                    b'=' => {
                        let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
                        out.push(u8::from_str_radix(hex, 16).ok()?);
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    let text = match charset.to_ascii_uppercase().as_str() {
        "UTF-8" | "US-ASCII" => String::from_utf8(bytes).ok()?,
        "ISO-8859-1" | "LATIN1" => bytes.iter().map(|&b| b as char).collect(),
        _ => return None,
    };
    Some((text, used))
}

/// A header value as S3 sends user metadata back: printable ASCII as is, anything else as
/// one RFC 2047 encoded-word (UTF-8, base64).
pub fn rfc2047_encode(value: &str) -> std::borrow::Cow<'_, str> {
    use base64::Engine;
    if value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return std::borrow::Cow::Borrowed(value);
    }
    std::borrow::Cow::Owned(format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    ))
}

#[cfg(test)]
mod rfc2047_tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(rfc2047_decode("=?UTF-8?B?w6l0w6k=?="), "été");
        assert_eq!(
            rfc2047_decode("=?iso-8859-1?q?caf=E9_cr=E8me?="),
            "café crème"
        );
        assert_eq!(
            rfc2047_decode("a =?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?= b"),
            "a éé b"
        );
        assert_eq!(rfc2047_decode("plain =? not a word"), "plain =? not a word");
        assert_eq!(rfc2047_encode("plain"), "plain");
        assert_eq!(rfc2047_encode("été"), "=?UTF-8?B?w6l0w6k=?=");
        assert_eq!(rfc2047_decode(&rfc2047_encode("日本語 ✓")), "日本語 ✓");
    }
}
