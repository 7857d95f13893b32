//! One description of the zone's replication state, shared by `zone status`, the admin
//! API and `/metrics`. Lag is measured where it is known: a primary counts what its
//! follower has not acknowledged; a secondary counts what it has seen and not applied.

use super::ZoneService;
use bascule_replication::status::{now_ms, LastError, ReplicationStatus};
use bascule_replication::zone::{Promotion, ResyncState, Role};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ZoneReport {
    pub role: Role,
    pub epoch: u64,
    pub fenced: bool,
    pub peer: Option<String>,
    pub peer_reachable: bool,
    /// This zone's journal position (on a secondary: the primary's entries applied).
    pub last_seq: u64,
    pub journal_floor: u64,
    /// The primary's last sequence number (this zone's own when primary).
    pub primary_last_seq: u64,
    /// Entries not yet on the secondary (on a primary: not acknowledged by it).
    pub entries_pending: u64,
    pub bytes_pending: u64,
    /// Age of the oldest entry not yet applied on the secondary, in milliseconds.
    pub oldest_pending_age_ms: u64,
    pub last_error: Option<LastError>,
    pub promotions: Vec<Promotion>,
    pub resync: Option<ResyncState>,
    pub rejoin_after: Option<u64>,
    pub divergent: usize,
    pub replication: ReplicationStatus,
}

pub fn report(zone: &ZoneService) -> ZoneReport {
    let state = zone.store.zone.snapshot();
    let status = zone.status.get();
    let last_seq = *zone.store.last_seq().borrow();
    let now = now_ms();
    let (primary_last_seq, entries_pending, bytes_pending, oldest_pending_age_ms) =
        match (state.role(), &zone.peer) {
            (Role::Primary, Some(_)) => {
                // One seek, whatever the backlog: the oldest pending entry gives its time
                // and the running byte total where the follower stands.
                let ack = zone.peer_ack().min(last_seq);
                let oldest = match ack < last_seq {
                    true => zone
                        .store
                        .journal_after(ack, 1)
                        .ok()
                        .and_then(|v| v.into_iter().next()),
                    false => None,
                };
                let (bytes, age) = match oldest {
                    Some(e) => {
                        let total = zone.store.journal_bytes().unwrap_or(0);
                        let before = e.bytes_total.saturating_sub(e.op.data_bytes());
                        (total.saturating_sub(before), now.saturating_sub(e.at_ms))
                    }
                    None => (0, 0),
                };
                (last_seq, last_seq - ack, bytes, age)
            }
            (Role::Primary, None) => (last_seq, 0, 0, 0),
            (Role::Secondary, _) => (
                status.primary_last_seq.max(last_seq),
                status.primary_last_seq.saturating_sub(last_seq),
                status.bytes_pending,
                status
                    .oldest_pending_at_ms
                    .filter(|_| status.primary_last_seq > last_seq)
                    .map(|t| now.saturating_sub(t))
                    .unwrap_or(0),
            ),
        };
    ZoneReport {
        role: state.role(),
        epoch: state.epoch,
        fenced: state.fenced(),
        peer: state.peer.clone(),
        peer_reachable: status.peer_reachable,
        last_seq,
        journal_floor: state.journal_floor,
        primary_last_seq,
        entries_pending,
        bytes_pending,
        oldest_pending_age_ms,
        last_error: status.last_error.clone(),
        promotions: state.promotions.clone(),
        resync: state.resync().cloned(),
        rejoin_after: state.rejoin_after(),
        divergent: super::quarantine::list(&zone.store)
            .map(|l| l.len())
            .unwrap_or(0),
        replication: status,
    }
}
