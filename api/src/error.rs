//! The S3 error vocabulary: every failure a client can see is one of these codes, with the
//! HTTP status AWS uses for it. Rendering to XML lives in `xml::error_body`.

use std::borrow::Cow;

macro_rules! s3_error_codes {
    ($($name:ident = $status:literal, $msg:literal;)*) => {
        /// An S3 error code (the `<Code>` element) and its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode { $($name,)* }

        impl S3ErrorCode {
            pub fn as_str(self) -> &'static str {
                // Codes AWS spells with a dot (the KMS errors S3 passes on).
                match self {
                    S3ErrorCode::KmsNotFound => "KMS.NotFoundException",
                    S3ErrorCode::KmsDisabled => "KMS.DisabledException",
                    other => other.name(),
                }
            }
            fn name(self) -> &'static str {
                match self { $(S3ErrorCode::$name => stringify!($name),)* }
            }
            pub fn status(self) -> u16 {
                match self { $(S3ErrorCode::$name => $status,)* }
            }
            pub fn default_message(self) -> &'static str {
                match self { $(S3ErrorCode::$name => $msg,)* }
            }
        }
    };
}

s3_error_codes! {
    AccessDenied = 403, "Access Denied";
    AccessControlListNotSupported = 400, "The bucket does not allow ACLs.";
    AuthorizationHeaderMalformed = 400, "The authorization header is malformed.";
    AuthorizationQueryParametersError = 400, "The authorization query parameters are malformed.";
    BadDigest = 400, "The Content-MD5 or checksum you specified did not match what we received.";
    BucketAlreadyExists = 409, "The requested bucket name is not available.";
    BucketAlreadyOwnedByYou = 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty = 409, "The bucket you tried to delete is not empty.";
    CORSResponse = 403, "CORS is not enabled for this bucket, or this request is not allowed by its rules.";
    EntityTooLarge = 400, "Your proposed upload exceeds the maximum allowed object size.";
    EntityTooSmall = 400, "Your proposed upload is smaller than the minimum allowed object size.";
    IllegalVersioningConfigurationException = 400, "The versioning configuration specified in the request is invalid.";
    IncompleteBody = 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InsufficientStorage = 507, "The server does not have enough free storage to complete the request.";
    InternalError = 500, "We encountered an internal error. Please try again.";
    InvalidBucketState = 409, "The request is not valid with the current state of the bucket.";
    InvalidAccessKeyId = 403, "The AWS access key Id you provided does not exist in our records.";
    InvalidArgument = 400, "Invalid Argument";
    InvalidBucketName = 400, "The specified bucket is not valid.";
    InvalidLocationConstraint = 400, "The specified location constraint is not valid.";
    InvalidPartNumber = 400, "The requested partnumber is not satisfiable";
    InvalidDigest = 400, "The Content-MD5 or checksum you specified is not valid.";
    InvalidBucketAclWithObjectOwnership = 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting.";
    InvalidPart = 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartOrder = 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    InvalidPolicyDocument = 400, "The content of the form does not meet the conditions specified in the policy document.";
    InvalidRetentionPeriod = 400, "The retention period must be a positive whole number of days (at most 36500) or years (at most 100).";
    InvalidRange = 416, "The requested range is not satisfiable";
    InvalidTargetBucketForLogging = 400, "The target bucket for logging does not exist, is not owned by you, or does not have the appropriate grants for the log-delivery group.";
    InvalidRequest = 400, "Invalid Request";
    InvalidStorageClass = 400, "The storage class you specified is not valid.";
    InvalidTag = 400, "The tag provided was not a valid tag.";
    InvalidToken = 400, "The provided token is malformed or otherwise invalid.";
    UnresolvableGrantByEmailAddress = 400, "The email address you provided does not match any account on record.";
    KeyTooLongError = 400, "Your key is too long.";
    KmsDisabled = 400, "The KMS key is disabled.";
    KmsNotFound = 400, "The KMS key does not exist.";
    KmsUnavailable = 503, "This zone cannot open the key that protects this data (the key id is in the error and the log).";
    MalformedACLError = 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MalformedPOSTRequest = 400, "The body of your POST request is not well-formed multipart/form-data.";
    MalformedPolicy = 400, "Policy has invalid resource or is not supported.";
    MalformedXML = 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MaxMessageLengthExceeded = 400, "Your request was too big.";
    MetadataTooLarge = 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MissingSecurityHeader = 400, "Your request is missing a required header.";
    MethodNotAllowed = 405, "The specified method is not allowed against this resource.";
    MissingContentLength = 411, "You must provide the Content-Length HTTP header.";
    NoSuchBucket = 404, "The specified bucket does not exist.";
    NoSuchBucketPolicy = 404, "The bucket policy does not exist.";
    NoSuchCORSConfiguration = 404, "The CORS configuration does not exist.";
    NoSuchObjectLockConfiguration = 404, "The specified object does not have a ObjectLock configuration.";
    NoSuchLifecycleConfiguration = 404, "The lifecycle configuration does not exist.";
    NoSuchKey = 404, "The specified key does not exist.";
    NoSuchVersion = 404, "The specified version does not exist.";
    NoSuchPublicAccessBlockConfiguration = 404, "The public access block configuration was not found.";
    NoSuchTagSet = 404, "The TagSet does not exist.";
    NoSuchUpload = 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NotImplemented = 501, "A header or query you provided implies functionality that is not implemented.";
    NotModified = 304, "Not Modified";
    ObjectLockConfigurationNotFoundError = 404, "Object Lock configuration does not exist for this bucket";
    OwnershipControlsNotFoundError = 404, "The bucket ownership controls were not found.";
    PreconditionFailed = 412, "At least one of the preconditions you specified did not hold.";
    RequestHeaderSectionTooLarge = 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeout = 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    RequestTimeTooSkewed = 403, "The difference between the request time and the server's time is too large.";
    ServerSideEncryptionConfigurationNotFoundError = 404, "The server side encryption configuration was not found.";
    ServiceUnavailable = 503, "Please reduce your request rate.";
    SlowDown = 503, "Please reduce your request rate.";
    SignatureDoesNotMatch = 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    UnexpectedContent = 400, "This request does not support content.";
    XAmzContentSHA256Mismatch = 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
    ZoneReadOnly = 403, "This zone is a read-only replica; send writes to the primary zone.";
}

/// An S3 error as the client will see it: code, message, and extra XML fields
/// (AWS adds context such as `<Key>`, `<BucketName>`, `<Condition>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: Cow<'static, str>,
    pub extra: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: S3ErrorCode) -> Self {
        S3Error {
            code,
            message: Cow::Borrowed(code.default_message()),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn msg(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error {
            message: message.into(),
            ..S3Error::new(code)
        }
    }

    /// Adds an element to the XML body (`<Name>value</Name>`).
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// Adds a response header sent along with the error.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code)
    }
}

pub type S3Result<T> = Result<T, S3Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_render_with_their_status() {
        assert_eq!(S3ErrorCode::NoSuchKey.as_str(), "NoSuchKey");
        assert_eq!(S3ErrorCode::NoSuchKey.status(), 404);
        assert_eq!(S3ErrorCode::InvalidRange.status(), 416);
        let e = S3Error::msg(S3ErrorCode::InvalidArgument, "bad").with("ArgumentName", "x");
        assert_eq!(e.to_string(), "InvalidArgument: bad");
        assert_eq!(e.extra, vec![("ArgumentName", "x".to_string())]);
    }
}
