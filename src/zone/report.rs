//! One description of the zone's replication state, shared by `zone status`, the admin
//! API and `/metrics`. Lag is measured where it is known: a primary counts what its
//! follower has not acknowledged; a secondary counts what it has seen and not applied.

use super::ZoneService;
use bascule_replication::lease::boottime;
use bascule_replication::status::{now_ms, LastError, ReplicationStatus};
use bascule_replication::zone::{LeaseRule, Promotion, ResyncState, Role};
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
    pub lease: LeaseView,
}

/// The write lease as this zone sees it.
#[derive(Debug, Serialize)]
pub struct LeaseView {
    /// `not_needed` (no peer), `required`, or `until_first_grant` (promoted without a
    /// reachable grantor: takes writes until its first lease).
    pub rule: &'static str,
    /// Whether client writes may be acknowledged now as far as the lease goes.
    pub held: bool,
    /// Time left on the lease held, in milliseconds.
    pub ms_left: u64,
    pub lease_seconds: u64,
    pub witness: Option<String>,
    /// How much longer this zone, as a grantor, has promised the lease to its peer.
    pub promised_ms_left: u64,
    pub grantors: Vec<super::lease::GrantorReport>,
    pub last_denial: Option<String>,
    pub last_denial_at_ms: Option<u64>,
}

pub fn lease_view(zone: &ZoneService) -> LeaseView {
    let z = &zone.store.zone;
    let kept = zone.lease.report();
    let primary = z.role() == Role::Primary;
    LeaseView {
        rule: match z.lease_rule() {
            LeaseRule::NotNeeded => "not_needed",
            LeaseRule::Required => "required",
            LeaseRule::UntilFirstGrant => "until_first_grant",
        },
        held: primary && z.lease_holds(),
        ms_left: z.lease().left_at(boottime()).as_millis() as u64,
        lease_seconds: zone.lease.terms.term.as_secs(),
        witness: zone.lease.witness.as_ref().map(|w| w.base().to_string()),
        promised_ms_left: zone.lease.promised_for().as_millis() as u64,
        // What the keeper heard is a primary's; a secondary asks nobody.
        grantors: if primary { kept.grantors } else { Vec::new() },
        last_denial: kept.last_denial,
        last_denial_at_ms: kept.last_denial_at_ms,
    }
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
        lease: lease_view(zone),
    }
}
