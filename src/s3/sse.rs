//! Server-side encryption as clients see it: which encryption a write asks for (its
//! headers, else the bucket's default, else the zone's), the customer key a read or a copy
//! source carries, and the headers that echo an object's encryption. The keys themselves
//! are `crypt`'s.

use super::ctx::{Ctx, S3State};
use super::endpoint::Endpoint;
use crate::crypt::{CustomerKey, Opener, SealSpec};
use crate::s3::body::NewSegment;
use axum::response::Response;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{Encryption, ObjectRecord, ZONE_KEY_ID};
use base64::Engine;
use md5::{Digest, Md5};
use zeroize::Zeroizing;

const SSE: &str = "x-amz-server-side-encryption";
const KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
const KMS_CONTEXT: &str = "x-amz-server-side-encryption-context";
const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";

/// The three headers that carry a customer key.
pub struct KeyHeaders {
    algorithm: &'static str,
    key: &'static str,
    md5: &'static str,
}

/// The customer key of the object a request writes or reads.
pub const CUSTOMER: KeyHeaders = KeyHeaders {
    algorithm: "x-amz-server-side-encryption-customer-algorithm",
    key: "x-amz-server-side-encryption-customer-key",
    md5: "x-amz-server-side-encryption-customer-key-md5",
};

/// The customer key of a copy's source.
pub const COPY_SOURCE_CUSTOMER: KeyHeaders = KeyHeaders {
    algorithm: "x-amz-copy-source-server-side-encryption-customer-algorithm",
    key: "x-amz-copy-source-server-side-encryption-customer-key",
    md5: "x-amz-copy-source-server-side-encryption-customer-key-md5",
};

fn invalid(msg: &'static str) -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidArgument, msg)
}

/// Do this operation's own SSE headers (algorithm, KMS key, context, bucket key) apply?
/// They choose the encryption of an object being created; on a part they must repeat the
/// upload's (some clients send them with every part).
pub fn takes_sse_headers(endpoint: Endpoint) -> bool {
    use Endpoint::*;
    endpoint.row().creates_object
        || matches!(
            endpoint,
            UploadPart | UploadPartCopy | CompleteMultipartUpload
        )
}

/// The SSE headers a part or a completion repeats, to hold against its upload's.
pub struct Repeated {
    algorithm: Option<String>,
    key_id: Option<String>,
    context: bool,
}

impl Repeated {
    pub fn of(ctx: &Ctx) -> Repeated {
        Repeated {
            algorithm: ctx.header(SSE).map(String::from),
            key_id: ctx.header(KMS_KEY_ID).map(|k| kms_key_name(k).to_string()),
            context: ctx.header(KMS_CONTEXT).is_some(),
        }
    }

    /// Refuses SSE headers that are not the upload's (none: nothing to check).
    pub fn check(&self, upload: Option<&Encryption>) -> S3Result<()> {
        let same = |algorithm: &str, key_id: Option<&str>| {
            self.algorithm.as_deref().is_none_or(|a| a == algorithm)
                && (self.key_id.is_none() || self.key_id.as_deref() == key_id)
                && !self.context
        };
        let consistent = match upload {
            _ if self.algorithm.is_none() && self.key_id.is_none() && !self.context => true,
            Some(Encryption::S3) => same("AES256", None),
            Some(Encryption::Kms { key_id, .. }) => same("aws:kms", Some(key_id)),
            _ => false,
        };
        match consistent {
            true => Ok(()),
            false => Err(invalid(
                "The encryption parameters must be those of the multipart upload.",
            )),
        }
    }
}

/// Do customer-key headers apply (the object written, read, or its parts)?
pub fn takes_customer_key(endpoint: Endpoint) -> bool {
    use Endpoint::*;
    endpoint.row().creates_object
        || matches!(
            endpoint,
            GetObject
                | HeadObject
                | UploadPart
                | UploadPartCopy
                | CompleteMultipartUpload
                | GetObjectAttributes
        )
}

/// Do copy-source customer-key headers apply?
pub fn takes_copy_source_key(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::CopyObject | Endpoint::UploadPartCopy)
}

/// The customer key given in `headers` (`CUSTOMER` or `COPY_SOURCE_CUSTOMER`), checked as
/// AWS checks it; none when no header of the three is present.
pub fn customer_key(s: &S3State, ctx: &Ctx, headers: &KeyHeaders) -> S3Result<Option<CustomerKey>> {
    let (alg, key, md5) = (
        ctx.header(headers.algorithm),
        ctx.header(headers.key),
        ctx.header(headers.md5),
    );
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if !ctx.secure_transport && !s.config.encryption.allow_insecure_sse_c {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        ));
    }
    match alg {
        Some("AES256") => {}
        Some(_) => {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidArgument,
                "The encryption algorithm specified is not valid; the valid value is AES256.",
            )
            .with("ArgumentName", headers.algorithm))
        }
        None => {
            return Err(invalid("Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."))
        }
    }
    let key = key.ok_or_else(|| {
        invalid("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
    })?;
    let md5 = md5.ok_or_else(|| {
        invalid("Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")
    })?;
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| invalid("The secret key was invalid for the specified algorithm."))?,
    );
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| invalid("The secret key was invalid for the specified algorithm."))?;
    let computed = base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes));
    if computed != md5 {
        return Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(CustomerKey {
        key: Zeroizing::new(bytes),
        md5: computed,
    }))
}

/// A KMS key id as clients give it: a name, `alias/<name>` or a key ARN; the name is what
/// the key service knows and what is echoed.
fn kms_key_name(given: &str) -> &str {
    let tail = given
        .strip_prefix("arn:aws:kms:")
        .and_then(|rest| rest.rsplit_once(':').map(|(_, t)| t))
        .unwrap_or(given);
    tail.strip_prefix("key/")
        .or_else(|| tail.strip_prefix("alias/"))
        .unwrap_or(tail)
}

/// The encryption a write asks for in its headers (none: no header of it).
fn requested(s: &S3State, ctx: &Ctx) -> S3Result<Option<SealSpec>> {
    let customer = customer_key(s, ctx, &CUSTOMER)?;
    let algorithm = ctx.header(SSE);
    let key_id = ctx.header(KMS_KEY_ID);
    let context = ctx.header(KMS_CONTEXT);
    let bucket_key = match ctx.header(BUCKET_KEY) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(_) => return Err(invalid("The bucket key setting must be true or false.")),
    };
    if let Some(c) = customer {
        if algorithm.is_some() || key_id.is_some() || context.is_some() {
            return Err(invalid("Server Side Encryption with Customer provided key is incompatible with the encryption method specified"));
        }
        return Ok(Some(SealSpec {
            encryption: Encryption::Customer {
                key_md5: c.md5.clone(),
            },
            customer: Some(c),
        }));
    }
    let encryption = match algorithm {
        None if key_id.is_some() || context.is_some() => {
            return Err(invalid("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"))
        }
        None => return Ok(None),
        Some("AES256") => {
            if key_id.is_some() || context.is_some() {
                return Err(invalid("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"));
            }
            Encryption::S3
        }
        Some("aws:kms") => Encryption::Kms {
            key_id: kms_key_name(key_id.unwrap_or(ZONE_KEY_ID)).to_string(),
            context: context.map(checked_context).transpose()?,
            bucket_key: bucket_key.unwrap_or(false),
        },
        Some("aws:kms:dsse") => {
            return Err(S3Error::msg(
                S3ErrorCode::NotImplemented,
                "Dual-layer encryption (aws:kms:dsse) is not implemented by Bascule; the request was not carried out",
            ))
        }
        Some(_) => {
            return Err(invalid("The encryption method specified is not supported")
                .with("ArgumentName", SSE))
        }
    };
    Ok(Some(SealSpec {
        encryption,
        customer: None,
    }))
}

/// The encryption context header: base64 of a JSON object of string values.
fn checked_context(v: &str) -> S3Result<String> {
    let bad = || invalid("The encryption context must be base64 of a JSON object of strings.");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v)
        .map_err(|_| bad())?;
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&raw).map_err(|_| bad())?;
    if !parsed.values().all(|x| x.is_string()) {
        return Err(bad());
    }
    Ok(v.to_string())
}

/// The encryption of an object a request creates: its own headers, else its bucket's
/// default, else the zone's (`encrypt_by_default`), else none.
pub fn for_new_object(s: &S3State, ctx: &Ctx) -> S3Result<Option<SealSpec>> {
    if let Some(spec) = requested(s, ctx)? {
        return Ok(Some(spec));
    }
    if let Some(default) = ctx
        .bucket_record
        .as_ref()
        .and_then(|b| b.encryption.as_ref())
    {
        // PutBucketEncryption stores the bucket-key flag in the KMS default itself.
        return Ok(Some(SealSpec {
            encryption: default.default.clone(),
            customer: None,
        }));
    }
    Ok(s.config.encryption.encrypt_by_default.then_some(SealSpec {
        encryption: Encryption::S3,
        customer: None,
    }))
}

/// The encryption of a part of an upload created with `upload`: the upload's, with the
/// customer key checked against it. SSE headers a part repeats must be the upload's.
pub fn for_part(s: &S3State, ctx: &Ctx, upload: Option<&Encryption>) -> S3Result<Option<SealSpec>> {
    Repeated::of(ctx).check(upload)?;
    let given = customer_key(s, ctx, &CUSTOMER)?;
    match (upload, given) {
        (Some(Encryption::Customer { key_md5 }), Some(c)) if *key_md5 == c.md5 => Ok(Some(SealSpec {
            encryption: Encryption::Customer {
                key_md5: key_md5.clone(),
            },
            customer: Some(c),
        })),
        (Some(Encryption::Customer { .. }), Some(_)) => Err(invalid(
            "The provided encryption parameters did not match the ones used originally.",
        )),
        (Some(Encryption::Customer { .. }), None) => Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.",
        )),
        (_, Some(_)) => Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "The multipart upload initiate did not request encryption with a customer key; its parts must not carry one.",
        )),
        (None, None) => Ok(None),
        (Some(e), None) => Ok(Some(SealSpec {
            encryption: e.clone(),
            customer: None,
        })),
    }
}

/// The keys to read `rec` with, given the customer key the request carries in `headers`
/// (`CUSTOMER` for the object read, `COPY_SOURCE_CUSTOMER` for a copy source). A customer
/// key is required for an SSE-C object and refused for any other.
pub fn opener(
    s: &S3State,
    ctx: &Ctx,
    rec: &ObjectRecord,
    headers: &KeyHeaders,
) -> S3Result<Opener> {
    let given = customer_key(s, ctx, headers)?;
    match (&rec.encryption, &given) {
        (Some(Encryption::Customer { .. }), None) => {
            return Err(crate::crypt::KeyError::CustomerKeyMissing.into())
        }
        (Some(Encryption::Customer { key_md5 }), Some(c)) if *key_md5 != c.md5 => {
            return Err(crate::crypt::KeyError::CustomerKeyWrong.into())
        }
        (Some(Encryption::Customer { .. }), Some(_)) => {}
        (_, Some(_)) => {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                "The encryption parameters are not applicable to this object.",
            ))
        }
        (_, None) => {}
    }
    Ok(Opener::new(s.keys.clone(), rec.encryption.clone(), given))
}

/// A new segment: its id, and its stream key and seal record when `spec` encrypts.
pub fn new_segment(s: &S3State, spec: Option<&SealSpec>) -> S3Result<NewSegment> {
    let mut new = NewSegment::plain();
    if let Some(spec) = spec {
        new.sealing = Some(s.keys.seal_segment(spec, &new.id)?);
    }
    Ok(new)
}

/// Checks, before any byte is read, that the keys a write needs are there (an unknown or
/// disabled KMS key is refused at once).
pub fn check_keys(s: &S3State, spec: Option<&SealSpec>) -> S3Result<()> {
    match spec.map(|s| &s.encryption) {
        Some(Encryption::Kms { key_id, .. }) => {
            s.keys.active(key_id).map(|_| ()).map_err(Into::into)
        }
        Some(Encryption::S3) => s.keys.active(ZONE_KEY_ID).map(|_| ()).map_err(Into::into),
        _ => Ok(()),
    }
}

/// The headers that tell a client how an object (or upload) is encrypted.
pub fn echo(r: &mut Response, encryption: Option<&Encryption>) {
    use super::response::set_header;
    match encryption {
        None => {}
        Some(Encryption::Customer { key_md5 }) => {
            set_header(
                r,
                "x-amz-server-side-encryption-customer-algorithm",
                "AES256",
            );
            set_header(r, "x-amz-server-side-encryption-customer-key-md5", key_md5);
        }
        Some(Encryption::S3) => set_header(r, SSE, "AES256"),
        Some(Encryption::Kms {
            key_id,
            context,
            bucket_key,
        }) => {
            set_header(r, SSE, "aws:kms");
            set_header(r, KMS_KEY_ID, key_id);
            if let Some(c) = context {
                set_header(r, KMS_CONTEXT, c);
            }
            if *bucket_key {
                set_header(r, BUCKET_KEY, "true");
            }
        }
    }
}

/// GetBucketEncryption: the bucket's default, or `404
/// ServerSideEncryptionConfigurationNotFoundError`.
pub fn get_bucket_encryption(ctx: &Ctx) -> S3Result<Response> {
    use bascule_api::xml::{self, S3_NAMESPACE};
    let b = ctx.require_bucket()?;
    let e = b.encryption.as_ref().ok_or_else(|| {
        S3Error::new(S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError)
            .with("BucketName", b.name.clone())
    })?;
    let kms_master_key_id = match &e.default {
        Encryption::Kms { key_id, .. } => Some(key_id.clone()),
        _ => None,
    };
    Ok(super::response::xml_response(
        "ServerSideEncryptionConfiguration",
        &xml::ServerSideEncryptionConfiguration {
            xmlns: S3_NAMESPACE,
            rule: xml::EncryptionRule {
                apply_server_side_encryption_by_default: xml::EncryptionByDefault {
                    sse_algorithm: e.default.algorithm().unwrap_or("AES256"),
                    kms_master_key_id,
                },
                bucket_key_enabled: e.bucket_key,
            },
        },
    ))
}

/// PutBucketEncryption: SSE-S3 or SSE-KMS (the key must exist and be enabled); SSE-C
/// cannot be a default, and dual-layer KMS is not implemented.
pub async fn put_bucket_encryption(
    s: &S3State,
    ctx: &Ctx,
    body: axum::body::Body,
) -> S3Result<Response> {
    use bascule_replication::records::BucketEncryption;
    ctx.require_bucket()?;
    let raw = super::ctx::read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let doc = bascule_api::xml_exact::parse_encryption_configuration(&raw)?;
    let default = match (doc.sse_algorithm.as_str(), doc.kms_master_key_id) {
        ("AES256", None) => Encryption::S3,
        ("AES256", Some(_)) => {
            return Err(invalid(
                "a KMSMasterKeyID is allowed only if SSEAlgorithm is aws:kms",
            ))
        }
        ("aws:kms", key) => {
            let key_id = kms_key_name(key.as_deref().unwrap_or(ZONE_KEY_ID)).to_string();
            s.keys.active(&key_id)?;
            Encryption::Kms {
                key_id,
                context: None,
                bucket_key: doc.bucket_key_enabled,
            }
        }
        ("aws:kms:dsse", _) => {
            return Err(S3Error::msg(
                S3ErrorCode::NotImplemented,
                "Dual-layer encryption (aws:kms:dsse) is not implemented by Bascule; the request was not carried out",
            ))
        }
        _ => return Err(S3Error::new(S3ErrorCode::MalformedXML)),
    };
    let bucket_key = doc.bucket_key_enabled;
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            b.encryption = Some(BucketEncryption {
                default,
                bucket_key,
            });
            Ok(())
        })
        .await?;
    Ok(super::response::empty(http::StatusCode::OK))
}

pub async fn delete_bucket_encryption(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    s.store
        .update_bucket(&ctx.bucket, |b| {
            b.encryption = None;
            Ok(())
        })
        .await?;
    Ok(super::response::empty(http::StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_key_ids_in_every_form_name_the_same_key() {
        for given in [
            "course-data",
            "alias/course-data",
            "key/course-data",
            "arn:aws:kms:us-east-1:123456789012:key/course-data",
            "arn:aws:kms:us-east-1:123456789012:alias/course-data",
        ] {
            assert_eq!(kms_key_name(given), "course-data", "{given}");
        }
    }
}
