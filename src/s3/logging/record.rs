//! One server access log record: AWS's space-separated line format ("Amazon S3 server
//! access log format"), 26 fields, `-` for a field that has no value.

use crate::s3::endpoint::{Endpoint, Scope, Verb};
use bascule_api::encoding::uri_encode;
use bascule_replication::records::BucketRecord;
use time::OffsetDateTime;

/// What is known of one request to a logged bucket once it is answered.
#[derive(Debug, Clone, Default)]
pub struct LogRecord {
    pub bucket_owner: String,
    pub bucket: String,
    pub time: Option<OffsetDateTime>,
    pub remote_ip: Option<std::net::IpAddr>,
    /// The caller's user id (`None`: anonymous).
    pub requester: Option<String>,
    pub request_id: String,
    /// `REST.GET.OBJECT`, ...
    pub operation: String,
    pub key: Option<String>,
    /// Method, path and query as received, signatures blanked.
    pub request_uri: String,
    pub status: u16,
    pub error_code: Option<String>,
    pub bytes_sent: u64,
    pub object_size: Option<u64>,
    pub total_ms: u64,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub version_id: Option<String>,
    /// `SigV2`, `SigV4`.
    pub signature_version: Option<&'static str>,
    /// `AuthHeader`, `QueryString`.
    pub auth_type: Option<&'static str>,
    pub host: Option<String>,
    pub tls: bool,
}

impl LogRecord {
    /// A record of a request to `bucket`, from what the request itself says; the rest is
    /// filled in once it is answered.
    pub fn begin(
        parts: &http::request::Parts,
        bucket: &BucketRecord,
        key: Option<&str>,
    ) -> LogRecord {
        let header = |n: http::header::HeaderName| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let authorization = header(http::header::AUTHORIZATION).unwrap_or_default();
        let query = parts.uri.query().unwrap_or("");
        let has = |name: &str| query.split('&').any(|p| p.split('=').next() == Some(name));
        let (signature_version, auth_type) = if authorization.starts_with("AWS4-HMAC-SHA256") {
            (Some("SigV4"), Some("AuthHeader"))
        } else if authorization.starts_with("AWS ") {
            (Some("SigV2"), Some("AuthHeader"))
        } else if has("X-Amz-Signature") {
            (Some("SigV4"), Some("QueryString"))
        } else if has("Signature") {
            (Some("SigV2"), Some("QueryString"))
        } else {
            (None, None)
        };
        let version = match parts.version {
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        LogRecord {
            bucket_owner: bucket.owner.clone(),
            bucket: bucket.name.clone(),
            time: Some(OffsetDateTime::now_utc()),
            key: key.map(String::from),
            request_uri: request_uri(
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query(),
                version,
            ),
            referer: header(http::header::REFERER),
            user_agent: header(http::header::USER_AGENT),
            signature_version,
            auth_type,
            host: header(http::header::HOST),
            ..Default::default()
        }
    }

    /// Completes the record from the response: status, version and the object's size
    /// (a read's whole object, a write's body).
    pub fn finish(&mut self, resp: &axum::response::Response, bytes_in: u64) {
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok());
        self.status = resp.status().as_u16();
        self.version_id = header("x-amz-version-id").map(String::from);
        let total_of_range = header("content-range")
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse::<u64>().ok());
        self.object_size = match self.operation.as_str() {
            "REST.GET.OBJECT" | "REST.HEAD.OBJECT" if resp.status().is_success() => {
                total_of_range.or_else(|| header("content-length")?.parse().ok())
            }
            "REST.PUT.OBJECT" | "REST.POST.OBJECT" | "REST.PUT.PART" => Some(bytes_in),
            _ => None,
        };
    }
}

/// The operation's name in a log record: `REST.<method>.<resource>` as AWS writes it.
pub fn operation_name(endpoint: Endpoint) -> String {
    use Endpoint::*;
    let fixed = match endpoint {
        CopyObject => "REST.COPY.OBJECT",
        PostObject => "REST.POST.OBJECT",
        Preflight => "REST.OPTIONS.PREFLIGHT",
        NotImplemented => "REST.NOT_IMPLEMENTED",
        UploadPartCopy => "REST.COPY.PART",
        UploadPart => "REST.PUT.PART",
        CreateMultipartUpload => "REST.POST.UPLOADS",
        CompleteMultipartUpload => "REST.POST.UPLOAD",
        AbortMultipartUpload => "REST.DELETE.UPLOAD",
        ListParts => "REST.GET.UPLOAD",
        DeleteObjects => "REST.POST.MULTI_OBJECT_DELETE",
        ListObjects | ListObjectsV2 => "REST.GET.BUCKET",
        ListObjectVersions => "REST.GET.BUCKETVERSIONS",
        GetBucketLogging => "REST.GET.LOGGING_STATUS",
        PutBucketLogging => "REST.PUT.LOGGING_STATUS",
        GetObjectTagging => "REST.GET.OBJECT_TAGGING",
        PutObjectTagging => "REST.PUT.OBJECT_TAGGING",
        DeleteObjectTagging => "REST.DELETE.OBJECT_TAGGING",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    let row = endpoint.row();
    let verb = match row.verb {
        Verb::Get => "GET",
        Verb::Head => "HEAD",
        Verb::Put => "PUT",
        Verb::Post => "POST",
        Verb::Delete => "DELETE",
        Verb::Options => "OPTIONS",
        Verb::Never => "UNKNOWN",
    };
    let resource = match (row.sub, row.scope) {
        (Some("policy"), _) => "BUCKETPOLICY".to_string(),
        (Some(sub), _) => sub.to_ascii_uppercase().replace('-', "_"),
        (None, Scope::Object) => "OBJECT".into(),
        (None, Scope::Bucket) => "BUCKET".into(),
        (None, Scope::Service | Scope::Any) => "SERVICE".into(),
    };
    format!("REST.{verb}.{resource}")
}

/// Query parameters whose values are credentials for as long as a presigned URL lives:
/// blanked in the request URI a log records (the rest is kept as AWS keeps it).
const SECRET_PARAMETERS: &[&str] = &["X-Amz-Signature", "Signature", "X-Amz-Security-Token"];

/// `METHOD path?query HTTP/1.1` with signature values blanked.
pub fn request_uri(method: &str, path: &str, query: Option<&str>, version: &str) -> String {
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_PARAMETERS.contains(&k) => format!("{k}=-"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) if !q.is_empty() => format!("{method} {path}?{q} {version}"),
        _ => format!("{method} {path} {version}"),
    }
}

fn dash(v: Option<&str>) -> &str {
    match v {
        Some(s) if !s.is_empty() => s,
        _ => "-",
    }
}

/// A quoted field: `"-"` when empty; quotes and backslashes escaped, control characters
/// dropped so a record stays on one line.
fn quote(v: Option<&str>) -> String {
    let mut out = String::from("\"");
    match v {
        Some(s) if !s.is_empty() => {
            for c in s.chars() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if c.is_control() => {}
                    c => out.push(c),
                }
            }
        }
        _ => out.push('-'),
    }
    out.push('"');
    out
}

fn count(n: u64) -> String {
    if n == 0 {
        "-".into()
    } else {
        n.to_string()
    }
}

impl LogRecord {
    /// The record as one line (with its newline).
    pub fn line(&self) -> String {
        let time = self
            .time
            .map(|t| {
                format!(
                    "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
                    t.day(),
                    MONTHS[usize::from(u8::from(t.month())) - 1],
                    t.year(),
                    t.hour(),
                    t.minute(),
                    t.second()
                )
            })
            .unwrap_or_else(|| "[-]".into());
        let key = self.key.as_deref().map(uri_encode);
        let fields = [
            dash(Some(&self.bucket_owner)).to_string(),
            dash(Some(&self.bucket)).to_string(),
            time,
            self.remote_ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "-".into()),
            dash(self.requester.as_deref()).to_string(),
            dash(Some(&self.request_id)).to_string(),
            dash(Some(&self.operation)).to_string(),
            dash(key.as_deref()).to_string(),
            quote(Some(&self.request_uri)),
            self.status.to_string(),
            dash(self.error_code.as_deref()).to_string(),
            count(self.bytes_sent),
            self.object_size
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            self.total_ms.to_string(),
            "-".into(),
            quote(self.referer.as_deref()),
            quote(self.user_agent.as_deref()),
            dash(self.version_id.as_deref()).to_string(),
            dash(Some(&self.request_id)).to_string(),
            dash(self.signature_version).to_string(),
            "-".into(),
            dash(self.auth_type).to_string(),
            dash(self.host.as_deref()).to_string(),
            if self.tls { "TLSv1.3" } else { "-" }.to_string(),
            "-".into(),
            "-".into(),
        ];
        let mut line = fields.join(" ");
        line.push('\n');
        line
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_has_26_fields_and_no_signature() {
        let r = LogRecord {
            bucket_owner: "owner-id".into(),
            bucket: "src".into(),
            time: Some(time::macros::datetime!(2019-02-06 00:00:38 UTC)),
            remote_ip: Some("192.0.2.3".parse().unwrap()),
            requester: None,
            request_id: "3E57427F3EXAMPLE".into(),
            operation: operation_name(Endpoint::GetObject),
            key: Some("a b/\"c\"".into()),
            request_uri: request_uri(
                "GET",
                "/src/a%20b",
                Some("X-Amz-Credential=AK&X-Amz-Signature=abc"),
                "HTTP/1.1",
            ),
            status: 200,
            bytes_sent: 113,
            object_size: Some(113),
            total_ms: 7,
            user_agent: Some("curl \"x\"".into()),
            ..Default::default()
        };
        let line = r.line();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        assert!(!line.contains("abc"), "{line}");
        assert!(line.starts_with(
            "owner-id src [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT a%20b%2F%22c%22 \"GET /src/a%20b?X-Amz-Credential=AK&X-Amz-Signature=- HTTP/1.1\" 200 - 113 113 7 - \"-\" \"curl \\\"x\\\"\" -"
        ), "{line}");
        // Split as a shell would (the suites' parsers do): 26 fields.
        let mut fields = 0;
        let (mut in_quote, mut in_field, mut escaped) = (false, false, false);
        for c in line.trim_end().replace(['[', ']'], "\"").chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    in_quote = !in_quote;
                    if !in_field {
                        in_field = true;
                        fields += 1;
                    }
                }
                ' ' if !in_quote => in_field = false,
                _ if !in_field => {
                    in_field = true;
                    fields += 1;
                }
                _ => {}
            }
        }
        assert_eq!(fields, 26, "{line}");
    }

    #[test]
    fn operation_names() {
        assert_eq!(operation_name(Endpoint::PutObject), "REST.PUT.OBJECT");
        assert_eq!(operation_name(Endpoint::HeadObject), "REST.HEAD.OBJECT");
        assert_eq!(operation_name(Endpoint::DeleteObject), "REST.DELETE.OBJECT");
        assert_eq!(operation_name(Endpoint::PutBucketAcl), "REST.PUT.ACL");
        assert_eq!(
            operation_name(Endpoint::GetBucketPolicy),
            "REST.GET.BUCKETPOLICY"
        );
        assert_eq!(
            operation_name(Endpoint::PutObjectLegalHold),
            "REST.PUT.LEGAL_HOLD"
        );
        assert_eq!(operation_name(Endpoint::ListObjectsV2), "REST.GET.BUCKET");
    }
}
