//! What every admin handler and dashboard page works with: the shared state, the error
//! type, and the rule that records change only where writes are taken.

use axum::Json;
use std::sync::Arc;

#[derive(Clone)]
pub struct AdminState {
    pub store: Arc<crate::store::Store>,
    pub token: Arc<String>,
    pub zone: Arc<crate::zone::ZoneService>,
    pub dashboard: Arc<crate::dashboard::session::Dashboard>,
    pub lifecycle: Arc<crate::lifecycle::LifecycleStatus>,
    pub config: Arc<crate::config::Config>,
    /// The key service (KMS keys are managed here; set-aside data is opened with it).
    pub keys: Arc<crate::crypt::ring::KeyRing>,
    /// The re-wrap worker's progress, and its wake-up after a rotation.
    pub rewrap: Arc<crate::crypt::rewrap::Rewrap>,
    /// The scrub's findings, and its wake-up for a pass on demand.
    pub scrub: Arc<crate::zone::scrub::ScrubStatus>,
    /// Cross-zone verify: runs on demand and the last result.
    pub verify: Arc<crate::zone::verify::Verifier>,
    /// The zone's S3 router: the dashboard's console sends its object and bucket actions
    /// through it, so they are S3's own (see `dashboard::console`).
    pub s3: axum::Router,
}

/// Admin errors, rendered as JSON (see `error.rs`).
pub type ApiError = super::error::AdminError;

pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// Users, keys and grants change only where writes are taken (they replicate from there);
/// the API and the dashboard both ask here.
pub fn refuse_unless_writable(s: &AdminState) -> Result<(), ApiError> {
    match s.store.zone.writable() {
        true => Ok(()),
        false => Err(ApiError::S3(s.zone.read_only_error())),
    }
}
