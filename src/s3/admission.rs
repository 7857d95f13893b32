//! Step 3 of every request, PUT and browser POST alike: may this caller do it (the
//! operation's action, the version action when it names a version, and every action its
//! headers or form fields ask for), and does it ask for nothing Bascule would ignore?

use super::ctx::{check_expected_owner, no_such_key, Ctx};
use super::endpoint::Endpoint;
use super::{access, request_headers, versioning};
use crate::store::Store;
use bascule_api::{S3Error, S3ErrorCode, S3Result};

pub fn admit(store: &Store, ctx: &Ctx, endpoint: Endpoint) -> S3Result<()> {
    let header = |n: &str| ctx.header(n).map(String::from);
    let key = (!ctx.key.is_empty()).then_some(ctx.key.as_str());
    let authorized = access::authorize(
        &ctx.access_request(
            endpoint,
            ctx.bucket_record.as_ref(),
            key,
            &ctx.query,
            &header,
        ),
        // The version the request names decides by its own owner, ACL and tags.
        || match key {
            Some(k) => Ok(versioning::named(
                &store.read(),
                &ctx.bucket,
                k,
                &ctx.params.version,
            )?),
            None => Ok(None),
        },
    );
    if let Err(refused) = authorized {
        // A read of a key that is not there says so to whoever may list it (as the S3
        // test suites expect): it learns nothing a listing would not tell.
        let missing_read = matches!(endpoint, Endpoint::GetObject | Endpoint::HeadObject)
            && ctx.bucket_record.is_some()
            && key.is_some_and(|k| {
                matches!(
                    versioning::named(&store.read(), &ctx.bucket, k, &ctx.params.version),
                    Ok(None)
                )
            });
        if missing_read && ctx.may_list_key(&ctx.key)? {
            return Err(no_such_key(&ctx.key));
        }
        return Err(refused);
    }
    request_headers::check(
        endpoint,
        ctx.headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
    )?;
    if ctx.query.iter().any(|(k, _)| k == "X-Amz-Security-Token") {
        return Err(S3Error::new(S3ErrorCode::InvalidToken));
    }
    check_expected_owner(
        &ctx.headers,
        "x-amz-expected-bucket-owner",
        ctx.bucket_record.as_ref(),
    )
}
