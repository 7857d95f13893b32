//! User, access-key and grant changes. Each is one commit with one journal entry, so they
//! replicate like object writes.

use super::error::{not_found, AdminError};
use crate::s3::meta::now_ms;
use crate::store::{Store, StoreError, Txn, View};

type AdminResult<T> = Result<T, AdminError>;
use bascule_replication::records::{AccessKeyRecord, BucketRecord, Permission, UserRecord};
use bascule_replication::Op;
use rand::distributions::{Alphanumeric, DistString};
use rand::{Rng, RngCore};

fn conflict(msg: impl Into<String>) -> AdminError {
    AdminError::Conflict(msg.into())
}

fn new_access_key() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let tail: String = (0..18)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect();
    format!("BK{tail}")
}

fn new_secret() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
}

pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// A new user id: 256 random bits in hex, like AWS's canonical user ids. Ids are never
/// derived from names, so a user re-created under a deleted user's name is someone else to
/// every grant, ACL and policy that named the old one.
fn new_user_id() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

pub async fn create_user(store: &Store, name: &str, admin: bool) -> AdminResult<UserRecord> {
    if !valid_user_name(name) {
        return Err(AdminError::Invalid(
            "user names are 1-64 characters of letters, digits, - _ . @".into(),
        ));
    }
    let record = UserRecord {
        id: new_user_id(),
        name: name.to_string(),
        admin,
        enabled: true,
        created_ms: now_ms(),
    };
    let (rec, _) = store
        .commit(move |view| {
            if view.find_user(&record.name)?.is_some() || view.user(&record.id)?.is_some() {
                return Err(conflict(format!("user {} already exists", record.name)));
            }
            let txn = Txn::op(Op::PutUser {
                record: record.clone(),
            });
            Ok((txn, record))
        })
        .await?;
    Ok(rec)
}

/// Reads a user or key record, changes it, and commits it with its journal entry.
async fn update_record<T, F>(
    store: &Store,
    id: &str,
    what: &'static str,
    read: fn(&View, &str) -> Result<Option<T>, StoreError>,
    change: F,
    op: fn(T) -> Op,
) -> AdminResult<T>
where
    T: Clone + Send + 'static,
    F: FnOnce(&mut T) + Send + 'static,
{
    let id = id.to_string();
    let (rec, _) = store
        .commit(move |view| {
            let mut rec = read(view, &id)?.ok_or_else(|| not_found(what, &id))?;
            change(&mut rec);
            Ok::<_, AdminError>((Txn::op(op(rec.clone())), rec))
        })
        .await?;
    Ok(rec)
}

pub async fn set_user_enabled(store: &Store, id: &str, enabled: bool) -> AdminResult<UserRecord> {
    update_record(
        store,
        id,
        "user",
        |v, who| v.find_user(who),
        move |u: &mut UserRecord| u.enabled = enabled,
        |record| Op::PutUser { record },
    )
    .await
}

/// The user an admin request names, by id or by name.
fn resolve_user(store: &Store, who: &str) -> AdminResult<UserRecord> {
    store.find_user(who)?.ok_or_else(|| not_found("user", who))
}

/// Deletes a user with their access keys and bucket grants. Users that still own buckets
/// are kept.
pub async fn delete_user(store: &Store, who: &str) -> AdminResult<()> {
    let id = resolve_user(store, who)?.id;
    let id = id.as_str();
    let owned: Vec<String> = store
        .buckets()?
        .into_iter()
        .filter(|b| b.owner == id)
        .map(|b| b.name)
        .collect();
    if !owned.is_empty() {
        return Err(conflict(format!(
            "user {id} still owns buckets: {}",
            owned.join(", ")
        )));
    }
    let id = id.to_string();
    store
        .commit(move |view| {
            if view.user(&id)?.is_none() {
                return Err(not_found("user", &id));
            }
            // The planner removes the user's access keys and bucket grants with it.
            Ok((Txn::op(Op::DeleteUser { id }), ()))
        })
        .await?;
    Ok(())
}

pub fn list_users(store: &Store) -> AdminResult<Vec<UserRecord>> {
    Ok(store.users()?)
}

pub fn list_keys(store: &Store, user: Option<&str>) -> AdminResult<Vec<AccessKeyRecord>> {
    let user = user.map(|who| resolve_user(store, who)).transpose()?;
    let user = user.as_ref().map(|u| u.id.as_str());
    Ok(store
        .access_keys()?
        .into_iter()
        .filter(|k| user.is_none_or(|u| k.user_id == u))
        .collect())
}

/// Creates an access key for a user. Pass explicit credentials to import existing ones.
pub async fn create_key(
    store: &Store,
    user: &str,
    explicit: Option<(String, String)>,
) -> AdminResult<AccessKeyRecord> {
    let (access_key, secret_key) = explicit.unwrap_or_else(|| (new_access_key(), new_secret()));
    let record = AccessKeyRecord {
        access_key,
        secret_key,
        user_id: resolve_user(store, user)?.id,
        enabled: true,
        created_ms: now_ms(),
    };
    let (rec, _) = store
        .commit(move |view| {
            if view.user(&record.user_id)?.is_none() {
                return Err(not_found("user", &record.user_id));
            }
            if view.access_key(&record.access_key)?.is_some() {
                return Err(conflict("access key already exists"));
            }
            let txn = Txn::op(Op::PutAccessKey {
                record: record.clone(),
            });
            Ok((txn, record))
        })
        .await?;
    Ok(rec)
}

pub async fn set_key_enabled(
    store: &Store,
    access_key: &str,
    enabled: bool,
) -> AdminResult<AccessKeyRecord> {
    update_record(
        store,
        access_key,
        "access key",
        |v, id| v.access_key(id),
        move |k: &mut AccessKeyRecord| k.enabled = enabled,
        |record| Op::PutAccessKey { record },
    )
    .await
}

pub async fn delete_key(store: &Store, access_key: &str) -> AdminResult<()> {
    let ak = access_key.to_string();
    store
        .commit(move |view| {
            if view.access_key(&ak)?.is_none() {
                return Err(not_found("access key", &ak));
            }
            Ok((Txn::op(Op::DeleteAccessKey { access_key: ak }), ()))
        })
        .await?;
    Ok(())
}

/// Grants (or with `None`, revokes) a user's access to a bucket.
pub async fn set_grant(
    store: &Store,
    bucket: &str,
    user: &str,
    perm: Option<Permission>,
) -> AdminResult<BucketRecord> {
    let user = resolve_user(store, user)?.id;
    store
        .update_bucket(bucket, move |rec| {
            match perm {
                Some(p) => rec.grants.insert(user, p),
                None => rec.grants.remove(&user),
            };
            Ok(())
        })
        .await
        .map_err(AdminError::from)
}

/// Bucket summary for the admin API: current objects, bytes of every version, and the
/// versions kept besides the current ones, from the counters kept with every change (no
/// scan).
pub fn bucket_usage(store: &Store, bucket: &str) -> AdminResult<crate::store::Usage> {
    Ok(store.usage(bucket)?)
}
