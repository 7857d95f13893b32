//! This zone in a pair: its role and epoch (in the store), the replication loop against
//! the peer, the zone-to-zone routes, and the operator's actions (promote, switchover).

pub mod apply;
pub mod lease;
pub mod quarantine;
pub mod replica;
pub mod report;
pub mod scrub;
pub mod serve;
pub mod trim;
pub mod verify;

use crate::store::{Store, StoreError};
use bascule_api::{S3Error, S3ErrorCode};
use bascule_replication::peer::{PeerClient, PeerError};
use bascule_replication::protocol::ZoneInfo;
use bascule_replication::status::{now_ms, StatusCell};
use bascule_replication::zone::{Fence, PeerView, Refused, Role, ZoneState};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a retryable write refusal waits before it is answered (see `refuse_write`).
pub const RETRYABLE_REFUSAL_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

pub struct ZoneService {
    pub store: Arc<Store>,
    pub status: Arc<StatusCell>,
    /// Shared secret for zone-to-zone calls; without one the replication routes refuse all.
    pub secret: Option<String>,
    /// Where S3 clients should write when this zone is primary.
    pub s3_endpoint: String,
    pub peer: Option<PeerClient>,
    /// Highest sequence number the follower has acknowledged (primary side).
    peer_ack: AtomicU64,
    /// Role changes (promote, switchover) run one at a time: two overlapping switchovers
    /// could otherwise let one lift the write stop while the other hands over.
    role_change: tokio::sync::Mutex<()>,
    /// How long after a demotion refused writes stay retryable (`zone.demoted_retry_seconds`).
    pub demoted_retry: std::time::Duration,
    /// The write lease: terms, witness, promises made and the keeper's last round.
    pub lease: lease::LeaseState,
    /// Held while replicated entries apply, and by a verify's repair across reading the
    /// primary and writing here: a repair never installs a state older than one applied.
    pub apply_gate: Arc<tokio::sync::Mutex<()>>,
    /// Set once the process starts to stop: requests that wait (the journal's long-poll)
    /// answer at once instead of holding the drain up for their whole wait.
    pub draining: tokio::sync::watch::Sender<bool>,
}

/// The zone layer's error: a transition the state machine refused, a storage failure, or
/// a step of a switchover that did not complete. Converted to S3 XML or admin JSON at the
/// edge.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this zone has no peer")]
    NoPeer,
    /// A switchover that stopped; `resumed` says whether this zone takes writes again.
    #[error("{message}")]
    Switchover { message: String, resumed: bool },
    /// The witness did not agree to a promotion.
    #[error("not promoted: {0}")]
    Witness(String),
}

impl From<ZoneError> for S3Error {
    fn from(e: ZoneError) -> S3Error {
        match e {
            ZoneError::Store(s) => s.into(),
            ZoneError::Refused(r) => S3Error::msg(S3ErrorCode::InvalidRequest, r.to_string()),
            ZoneError::NoPeer => S3Error::msg(S3ErrorCode::InvalidRequest, e.to_string()),
            ZoneError::Switchover { message, .. } => {
                S3Error::msg(S3ErrorCode::ServiceUnavailable, message)
            }
            ZoneError::Witness(_) => S3Error::msg(S3ErrorCode::ServiceUnavailable, e.to_string()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PromotionReport {
    pub epoch: u64,
    /// The last primary sequence number applied here: later entries of the old primary
    /// are lost to this zone (and will be set aside when it rejoins).
    pub after_seq: u64,
    /// How many entries the old primary had shown beyond that point, if known. A lower
    /// bound: the old primary may have written more that this zone never heard of.
    pub entries_at_risk: Option<u64>,
    /// Whether `entries_at_risk` is exact (never, for an unplanned promotion).
    pub entries_at_risk_exact: bool,
    pub warning: Option<String>,
}

/// How long a switchover keeps asking a peer whose answer to "promote" was lost before
/// it leaves the question to the heartbeat (writes stay stopped meanwhile).
const UNRESOLVED_WAIT: Duration = Duration::from_secs(10);

impl ZoneService {
    pub fn new(
        store: Arc<Store>,
        secret: Option<String>,
        s3_endpoint: String,
        peer: Option<PeerClient>,
        lease: lease::LeaseState,
    ) -> ZoneService {
        let ack = store.peer_ack();
        ZoneService {
            store,
            status: Arc::new(StatusCell::default()),
            secret,
            s3_endpoint,
            peer,
            peer_ack: AtomicU64::new(ack),
            role_change: tokio::sync::Mutex::new(()),
            demoted_retry: std::time::Duration::from_secs(5),
            lease,
            apply_gate: Arc::new(tokio::sync::Mutex::new(())),
            draining: tokio::sync::watch::Sender::new(false),
        }
    }

    /// One zone transition, saved then published (see `Zone::change`).
    async fn change<T>(
        &self,
        f: impl FnOnce(&mut ZoneState) -> Result<T, Refused>,
    ) -> Result<T, ZoneError> {
        self.store.change_zone(f).await
    }

    pub fn info(&self) -> ZoneInfo {
        let z = self.store.zone.snapshot();
        ZoneInfo {
            role: z.role(),
            epoch: z.epoch,
            fenced: z.fenced(),
            last_seq: *self.store.last_seq().borrow(),
            journal_floor: z.journal_floor,
            s3_endpoint: self.s3_endpoint.clone(),
            promotions: z.promotions,
            id: z.id,
        }
    }

    /// A client that fetches object data from the peer (repairs), when there is a peer.
    pub fn fetcher(&self) -> Option<bascule_replication::fetch::Fetcher> {
        Some(bascule_replication::fetch::Fetcher {
            peer: self.peer.clone()?,
            status: self.status.clone(),
            throttle: bascule_replication::fetch::Throttle::new(0),
        })
    }

    pub fn peer_ack(&self) -> u64 {
        self.peer_ack.load(Ordering::SeqCst)
    }

    /// Sets what the follower is known to hold when this zone becomes primary: everything
    /// up to the promotion point after a switchover, nothing known after a failover.
    pub fn reset_ack(&self, seq: u64) {
        self.peer_ack.store(seq, Ordering::SeqCst);
        if let Err(e) = self.store.save_peer_ack(seq) {
            tracing::warn!(error = %e, "cannot record the follower's acknowledgement");
        }
    }

    /// Records the follower's acknowledgement (its durable cursor).
    pub fn note_ack(&self, seq: u64) {
        if self.peer_ack.fetch_max(seq, Ordering::SeqCst) < seq {
            if let Err(e) = self.store.save_peer_ack(seq) {
                tracing::warn!(error = %e, "cannot record the follower's acknowledgement");
            }
        }
    }

    /// The error every S3 or admin write gets on a zone that does not take writes. A
    /// secondary refuses for good (403, final for SDKs) and names the primary (message and
    /// `x-bascule-primary`) when it knows it. A primary that holds writes only for a moment
    /// (fenced at restart, handing over) answers 503 with `Retry-After`, which SDKs retry,
    /// and names its peer.
    /// The refusal of a write that arrives while this zone takes none, as
    /// [`Self::read_only_error`] words it. A retryable refusal (handing over, just demoted)
    /// is given after a short pause: the length of one health check of the shipped
    /// HAProxy configuration, so that the client's or the proxy's retry reaches the new
    /// primary instead of spending its attempts here in a few milliseconds.
    pub async fn refuse_write(&self) -> S3Error {
        let e = self.read_only_error();
        if e.code == S3ErrorCode::ServiceUnavailable {
            tokio::time::sleep(RETRYABLE_REFUSAL_PAUSE).await;
        }
        e
    }

    pub fn read_only_error(&self) -> S3Error {
        let z = self.store.zone.snapshot();
        let peer = self.status.get().peer;
        match z.role() {
            Role::Secondary => {
                let primary = peer
                    .filter(|p| p.role == Role::Primary)
                    .map(|p| p.s3_endpoint);
                // Just demoted: clients and the endpoint in front still send writes here
                // for a moment. A retryable answer lets SDKs (and HAProxy) retry until
                // they reach the new primary, instead of failing the request.
                let just_demoted = self
                    .store
                    .zone
                    .demoted_ago()
                    .is_some_and(|ago| ago < self.demoted_retry);
                if just_demoted {
                    let named = primary
                        .as_ref()
                        .map(|p| format!(" The primary zone is now at {p}."))
                        .unwrap_or_default();
                    let e = S3Error::msg(
                        S3ErrorCode::ServiceUnavailable,
                        format!("This zone became a read-only replica a moment ago; retry shortly.{named}"),
                    )
                    .with_header("retry-after", "1");
                    return match primary {
                        Some(p) => e.with_header("x-bascule-primary", p),
                        None => e,
                    };
                }
                match primary {
                    Some(p) => S3Error::msg(
                        S3ErrorCode::ZoneReadOnly,
                        format!("This zone is a read-only replica; send writes to the primary zone at {p}."),
                    )
                    .with_header("x-bascule-primary", p),
                    None => S3Error::msg(
                        S3ErrorCode::ZoneReadOnly,
                        "This zone is a read-only replica and cannot reach its primary right now.",
                    ),
                }
            }
            Role::Primary => {
                let why = match z.fence() {
                    Some(Fence::HandingOver | Fence::HandoverUnresolved) => {
                        "is handing over to its peer"
                    }
                    None => "holds no write lease: it cannot reach its peer zone or the witness",
                    _ => "is waiting to confirm with its peer that it is still primary",
                };
                let peer = peer
                    .map(|p| format!(" Its peer zone is at {}.", p.s3_endpoint))
                    .unwrap_or_default();
                S3Error::msg(
                    S3ErrorCode::ServiceUnavailable,
                    format!("This zone {why}; retry shortly.{peer}"),
                )
                .with_header("retry-after", "1")
            }
        }
    }

    /// `x-amz-replication-status` for an object version written at `seq`.
    pub fn replication_status(&self, seq: u64) -> Option<&'static str> {
        self.peer.as_ref()?;
        Some(if self.store.zone.is_secondary() {
            "REPLICA"
        } else if seq > 0 && seq <= self.peer_ack() {
            "COMPLETED"
        } else {
            "PENDING"
        })
    }

    /// What promoting now would lose: the entries the primary has shown beyond what this
    /// zone applied (a lower bound: it may have written more). `None` when the primary was
    /// never heard from. The promotion and its confirmation both state this number.
    pub fn entries_at_risk(&self) -> Option<u64> {
        let status = self.status.get();
        let cursor = *self.store.last_seq().borrow();
        let seen = status
            .peer
            .as_ref()
            .map(|p| p.last_seq)
            .unwrap_or(0)
            .max(status.primary_last_seq);
        (seen > 0).then(|| seen.saturating_sub(cursor))
    }

    /// Unplanned failover: this secondary becomes primary with a higher epoch, once no
    /// lease of the old primary can still run (see `promotion_gate`; a forced one skips
    /// that).
    pub async fn promote(&self, kind: lease::Promotion) -> Result<PromotionReport, ZoneError> {
        let _one_at_a_time = self.role_change.lock().await;
        let before = self.store.zone.snapshot();
        if before.role() == Role::Primary {
            return Err(Refused::AlreadyPrimary.into());
        }
        let peer_epoch = self.status.get().peer.map(|p| p.epoch).unwrap_or(0);
        let rule = self
            .promotion_gate(before.epoch.max(peer_epoch) + 1, kind)
            .await?;
        let state = self.store.zone.snapshot();
        let status = self.status.get();
        let cursor = *self.store.last_seq().borrow();
        let entries_at_risk = self.entries_at_risk();
        let peer_epoch = status.peer.as_ref().map(|p| p.epoch).unwrap_or(0);
        let warning = state.resync().map(|_| {
            "a full resync was in progress: this zone may lack objects the old primary had"
                .to_string()
        });
        let epoch = self
            .change(|s| s.promote(peer_epoch, cursor, entries_at_risk, now_ms()))
            .await?;
        self.store.zone.set_lease_rule(rule);
        // The old primary holds at least what this zone applied from it: it lacks only what
        // is written from now on (its own writes past this point are set aside when it
        // rejoins, and one that lost its data resyncs). Pending entries count from here,
        // not from the start of the journal. (Set after the promotion, so a refused one
        // changes nothing.)
        self.reset_ack(cursor);
        tracing::warn!(
            epoch,
            after_seq = cursor,
            ?entries_at_risk,
            "zone promoted to primary (unplanned failover)"
        );
        Ok(PromotionReport {
            epoch,
            after_seq: cursor,
            entries_at_risk,
            entries_at_risk_exact: false,
            warning,
        })
    }

    /// The secondary's half of a switchover: promote if this zone has applied exactly
    /// `last_seq` (what the handing-over primary holds). Nothing is at risk.
    pub async fn promote_for_switchover(
        &self,
        last_seq: u64,
        caller_epoch: u64,
    ) -> Result<u64, ZoneError> {
        let _one_at_a_time = self.role_change.lock().await;
        let cursor = *self.store.last_seq().borrow();
        let epoch = self
            .change(|s| s.promote_for_switchover(cursor, last_seq, caller_epoch, now_ms()))
            .await?;
        // The follower holds everything up to here.
        self.reset_ack(cursor);
        tracing::warn!(
            epoch,
            after_seq = cursor,
            "switchover: this zone is now primary"
        );
        Ok(epoch)
    }

    /// Planned switchover, run on the primary: stop writes, wait for the secondary to
    /// apply everything, have it promote, then follow it. If the answer to "promote" is
    /// lost, writes stay stopped until the peer says whether it promoted.
    pub async fn switchover(&self, timeout: Duration) -> Result<ZoneInfo, ZoneError> {
        let peer = self.peer.as_ref().ok_or(ZoneError::NoPeer)?;
        if self.store.zone.role() != Role::Primary {
            // Run on the secondary: ask the primary to hand over.
            return peer.switchover().await.map_err(|e| ZoneError::Switchover {
                message: format!("the primary did not complete the switchover: {e}"),
                resumed: true,
            });
        }
        let _one_at_a_time = self.role_change.lock().await;
        self.change(|s| s.begin_handover()).await?;
        let target = *self.store.last_seq().borrow();
        tracing::warn!(
            target,
            "switchover: writes stopped, waiting for the peer to catch up"
        );
        let deadline = Instant::now() + timeout;
        while self.peer_ack() < target {
            if Instant::now() >= deadline {
                self.change(|s| s.abort_handover()).await?;
                return Err(ZoneError::Switchover {
                    message: format!(
                        "switchover abandoned: the peer applied {} of {target} entries in time; this zone takes writes again",
                        self.peer_ack()
                    ),
                    resumed: true,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let epoch = self.store.zone.epoch();
        match peer.promote(target, epoch).await {
            Ok(info) => self.follow_new_primary(info, target).await,
            Err(e @ PeerError::Refused { .. }) => {
                // The peer answered: it did not promote.
                self.change(|s| s.abort_handover()).await?;
                Err(ZoneError::Switchover {
                    message: format!("switchover abandoned, the peer did not promote: {e}; this zone takes writes again"),
                    resumed: true,
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "switchover: the answer to promote was lost; writes stay stopped until the peer says whether it promoted");
                self.change(|s| s.handover_unresolved()).await?;
                self.resolve_handover(peer, target).await
            }
        }
    }

    /// After a lost answer to "promote": asks the peer until it says. Promoted: follow it.
    /// Not promoted: resume writes. No answer in time: writes stay stopped and the
    /// heartbeat settles it when the peer is heard from again.
    async fn resolve_handover(
        &self,
        peer: &PeerClient,
        target: u64,
    ) -> Result<ZoneInfo, ZoneError> {
        let deadline = Instant::now() + UNRESOLVED_WAIT;
        loop {
            match peer.hello().await {
                Ok(info) if info.role == Role::Primary && info.epoch > self.store.zone.epoch() => {
                    return self.follow_new_primary(info, target).await;
                }
                Ok(info) => {
                    let view = PeerView {
                        role: info.role,
                        epoch: info.epoch,
                        promotions: &info.promotions,
                    };
                    self.change(|s| s.peer_confirms(view)).await?;
                    return Err(ZoneError::Switchover {
                        message: "switchover abandoned: the peer did not promote; this zone takes writes again".into(),
                        resumed: true,
                    });
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    return Err(ZoneError::Switchover {
                        message: format!("switchover outcome unknown: the peer cannot be reached ({e}); this zone takes no writes until it knows whether the peer promoted"),
                        resumed: false,
                    })
                }
            }
        }
    }

    /// The peer is primary now: this zone follows it, and names it to clients at once.
    async fn follow_new_primary(&self, info: ZoneInfo, target: u64) -> Result<ZoneInfo, ZoneError> {
        self.status.update(|s| {
            s.peer = Some(info.clone());
            s.peer_reachable = true;
            s.primary_last_seq = info.last_seq;
        });
        let view = PeerView {
            role: info.role,
            epoch: info.epoch,
            promotions: &info.promotions,
        };
        let observed = self.change(|s| Ok(s.observe_peer(view, target))).await?;
        tracing::warn!(
            epoch = info.epoch,
            ?observed,
            "switchover done: this zone is now secondary"
        );
        Ok(info)
    }
}
