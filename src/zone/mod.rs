//! This zone in a pair: its role and epoch (in the store), the replication loop against
//! the peer, the zone-to-zone routes, and the operator's actions (promote, switchover).

pub mod apply;
pub mod quarantine;
pub mod replica;
pub mod report;
pub mod resync;
pub mod serve;
pub mod tls;
pub mod trim;

use crate::store::{Cf, Store};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::peer::PeerClient;
use bascule_replication::protocol::ZoneInfo;
use bascule_replication::status::{now_ms, StatusCell};
use bascule_replication::zone::{Promotion, Role};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The peer's acknowledged sequence number, kept across restarts for journal trimming.
const PEER_ACK_KEY: &[u8] = b"zone/peer_ack";

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
}

#[derive(Debug, Serialize)]
pub struct PromotionReport {
    pub epoch: u64,
    /// The last primary sequence number applied here: later entries of the old primary
    /// are lost to this zone (and will be set aside when it rejoins).
    pub after_seq: u64,
    /// How many entries the old primary had shown beyond that point, if known.
    pub entries_at_risk: Option<u64>,
    pub warning: Option<String>,
}

impl ZoneService {
    pub fn new(
        store: Arc<Store>,
        secret: Option<String>,
        s3_endpoint: String,
        peer: Option<PeerClient>,
    ) -> ZoneService {
        let ack = store
            .get_raw(Cf::System, PEER_ACK_KEY)
            .ok()
            .flatten()
            .and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        ZoneService {
            store,
            status: Arc::new(StatusCell::default()),
            secret,
            s3_endpoint,
            peer,
            peer_ack: AtomicU64::new(ack),
            role_change: tokio::sync::Mutex::new(()),
        }
    }

    pub fn info(&self) -> ZoneInfo {
        let z = self.store.zone.snapshot();
        ZoneInfo {
            role: z.role,
            epoch: z.epoch,
            fenced: z.fenced || z.handing_over,
            last_seq: *self.store.last_seq().borrow(),
            journal_floor: z.journal_floor,
            s3_endpoint: self.s3_endpoint.clone(),
            promotions: z.promotions,
        }
    }

    pub fn peer_ack(&self) -> u64 {
        self.peer_ack.load(Ordering::SeqCst)
    }

    /// Sets what the follower is known to hold when this zone becomes primary: everything
    /// up to the promotion point after a switchover, nothing known after a failover.
    pub fn reset_ack(&self, seq: u64) {
        self.peer_ack.store(seq, Ordering::SeqCst);
        let _ = self
            .store
            .put_side(Cf::System, PEER_ACK_KEY, &seq.to_be_bytes());
    }

    /// Records the follower's acknowledgement (its durable cursor).
    pub fn note_ack(&self, seq: u64) {
        if self.peer_ack.fetch_max(seq, Ordering::SeqCst) < seq {
            let _ = self
                .store
                .put_side(Cf::System, PEER_ACK_KEY, &seq.to_be_bytes());
        }
    }

    /// The error every S3 or admin write gets on a zone that does not take writes; it names
    /// the primary (message and `x-bascule-primary`) when this zone knows it.
    pub fn read_only_error(&self) -> S3Error {
        let z = self.store.zone.snapshot();
        let primary = match z.role {
            Role::Secondary => self
                .status
                .get()
                .peer
                .filter(|p| p.role == Role::Primary)
                .map(|p| p.s3_endpoint),
            Role::Primary => None,
        };
        let mut e = match (&primary, z.role) {
            (Some(p), _) => S3Error::msg(
                S3ErrorCode::ZoneReadOnly,
                format!("This zone is a read-only replica; send writes to the primary zone at {p}."),
            ),
            (None, Role::Secondary) => S3Error::msg(
                S3ErrorCode::ZoneReadOnly,
                "This zone is a read-only replica and cannot reach its primary right now.",
            ),
            (None, Role::Primary) => S3Error::msg(
                S3ErrorCode::ZoneReadOnly,
                "This zone is fenced (handing over, or waiting to confirm with its peer that it is still primary); retry shortly.",
            ),
        };
        if let Some(p) = primary {
            e = e.with_header("x-bascule-primary", p);
        }
        e
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

    /// Unplanned failover: this secondary becomes primary with a higher epoch, now.
    pub async fn promote(&self) -> S3Result<PromotionReport> {
        let _one_at_a_time = self.role_change.lock().await;
        let state = self.store.zone.snapshot();
        if state.role == Role::Primary {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                "this zone is already primary",
            ));
        }
        let status = self.status.get();
        let cursor = *self.store.last_seq().borrow();
        let seen = status
            .peer
            .as_ref()
            .map(|p| p.last_seq)
            .unwrap_or(0)
            .max(status.primary_last_seq);
        let entries_at_risk = (seen > 0).then(|| seen.saturating_sub(cursor));
        let epoch = state
            .epoch
            .max(status.peer.as_ref().map(|p| p.epoch).unwrap_or(0))
            + 1;
        let warning = state.resync.as_ref().map(|_| {
            "a full resync was in progress: this zone may lack objects the old primary had"
                .to_string()
        });
        tracing::warn!(
            epoch,
            after_seq = cursor,
            ?entries_at_risk,
            "zone promoted to primary (unplanned failover)"
        );
        // Nothing is known of what the old primary holds.
        self.become_primary(epoch, cursor, "promote", entries_at_risk, 0)
            .await?;
        Ok(PromotionReport {
            epoch,
            after_seq: cursor,
            entries_at_risk,
            warning,
        })
    }

    /// Makes this zone primary with `epoch`, recording the promotion point (`after_seq`,
    /// the last entry applied here) and what the follower is known to hold (`ack`).
    /// Callers hold `role_change` (see `promote_for_switchover`).
    async fn become_primary(
        &self,
        epoch: u64,
        after_seq: u64,
        kind: &str,
        entries_at_risk: Option<u64>,
        ack: u64,
    ) -> S3Result<()> {
        self.reset_ack(ack);
        let promotion = Promotion {
            epoch,
            after_seq,
            at_ms: now_ms(),
            kind: kind.into(),
            entries_at_risk,
        };
        self.store
            .update_zone(move |s| {
                s.role = Role::Primary;
                s.epoch = epoch;
                s.fenced = false;
                s.handing_over = false;
                s.resync = None;
                s.rejoin_after = None;
                s.promotions.push(promotion);
            })
            .await
    }

    /// The secondary's half of a switchover: promote if this zone has applied exactly
    /// `last_seq` (what the handing-over primary holds). Nothing is at risk.
    pub async fn promote_for_switchover(
        &self,
        last_seq: u64,
        caller_epoch: u64,
    ) -> Result<u64, String> {
        let _one_at_a_time = self.role_change.lock().await;
        let state = self.store.zone.snapshot();
        let cursor = *self.store.last_seq().borrow();
        if state.role != Role::Secondary {
            return Err("this zone is already primary".into());
        }
        if cursor != last_seq || state.resync.is_some() {
            return Err(format!("this zone applied up to {cursor}, not {last_seq}"));
        }
        let epoch = state.epoch.max(caller_epoch) + 1;
        self.become_primary(epoch, cursor, "switchover", Some(0), cursor)
            .await
            .map_err(|e| e.to_string())?;
        tracing::warn!(
            epoch,
            after_seq = cursor,
            "switchover: this zone is now primary"
        );
        Ok(epoch)
    }

    /// Planned switchover, run on the primary: stop writes, wait for the secondary to
    /// apply everything, have it promote, then follow it.
    pub async fn switchover(&self, timeout: Duration) -> S3Result<ZoneInfo> {
        let peer = self
            .peer
            .as_ref()
            .ok_or_else(|| S3Error::msg(S3ErrorCode::InvalidRequest, "this zone has no peer"))?;
        if self.store.zone.role() != Role::Primary {
            // Run on the secondary: ask the primary to hand over.
            return peer.switchover().await.map_err(|e| {
                S3Error::msg(
                    S3ErrorCode::ServiceUnavailable,
                    format!("the primary did not complete the switchover: {e}"),
                )
            });
        }
        let _one_at_a_time = self.role_change.lock().await;
        if self.store.zone.role() != Role::Primary {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                "this zone stopped being primary while the switchover waited its turn",
            ));
        }
        self.store.update_zone(|s| s.handing_over = true).await?;
        let target = *self.store.last_seq().borrow();
        tracing::warn!(
            target,
            "switchover: writes stopped, waiting for the peer to catch up"
        );
        let deadline = Instant::now() + timeout;
        while self.peer_ack() < target {
            if Instant::now() >= deadline {
                self.store.update_zone(|s| s.handing_over = false).await?;
                return Err(S3Error::msg(
                    S3ErrorCode::ServiceUnavailable,
                    format!(
                        "switchover abandoned: the peer applied {} of {target} entries in time; this zone takes writes again",
                        self.peer_ack()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let epoch = self.store.zone.epoch();
        let info = match peer.promote(target, epoch).await {
            Ok(info) => info,
            Err(e) => {
                self.store.update_zone(|s| s.handing_over = false).await?;
                return Err(S3Error::msg(
                    S3ErrorCode::ServiceUnavailable,
                    format!("switchover abandoned, the peer did not promote: {e}; this zone takes writes again"),
                ));
            }
        };
        let promotions = info.promotions.clone();
        let new_epoch = info.epoch;
        self.store
            .update_zone(move |s| {
                s.role = Role::Secondary;
                s.epoch = new_epoch;
                s.fenced = false;
                s.handing_over = false;
                s.promotions = promotions;
            })
            .await?;
        tracing::warn!(
            epoch = new_epoch,
            "switchover done: this zone is now secondary"
        );
        Ok(info)
    }
}
