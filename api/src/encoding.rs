//! Percent-encoding as SigV4 and S3 define it: every byte except `A-Z a-z 0-9 - _ . ~`
//! is encoded (uppercase hex), and `/` is kept in paths.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters SigV4 encodes in query keys and values.
pub const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Characters SigV4 encodes in the path (slashes separate segments and stay).
pub const PATH: &AsciiSet = &STRICT.remove(b'/');

pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, STRICT).to_string()
}

pub fn uri_encode_path(s: &str) -> String {
    utf8_percent_encode(s, PATH).to_string()
}

/// Decodes `%XX` escapes. `+` stays a plus sign: S3 keys may contain it.
/// Invalid UTF-8 after decoding is an error rather than a lossy guess.
pub fn percent_decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Splits a raw query string into decoded `(key, value)` pairs, in wire order.
/// Returns `None` when an escape decodes to invalid UTF-8.
pub fn parse_query(raw: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_sigv4() {
        assert_eq!(uri_encode("a b/c+d~"), "a%20b%2Fc%2Bd~");
        assert_eq!(uri_encode_path("/a b/ሴ"), "/a%20b/%E1%88%B4");
    }

    #[test]
    fn parses_queries() {
        let q = parse_query("b=2&a&c=x%2By+z").unwrap();
        assert_eq!(
            q,
            vec![
                ("b".into(), "2".into()),
                ("a".into(), "".into()),
                ("c".into(), "x+y+z".into())
            ]
        );
        assert!(parse_query("a=%FF").is_none());
    }
}
