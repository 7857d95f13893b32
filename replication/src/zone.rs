//! A zone's role and epoch: one state machine. The role is an enum that carries its state
//! (a primary's fence, a secondary's phase); every change is a named transition below, each
//! refusing what it cannot do, and the epoch rule is written once (`observe_peer`).
//!
//! At run time a `Zone` holds the state behind a lock plus the facts the write path checks
//! on every commit without locking. Changes are *planned* on a copy, persisted by the
//! caller, and only then *published* (`Zone::publish`): nothing becomes visible, and no
//! write gets through, before it is on disk. A change that stops writes stops them while it
//! is being saved already (`Zone::hold_writes`), and a failed save restores the old state.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }
}

/// The point where a zone became primary: entries after `after_seq` written by any other
/// zone with a lower epoch are divergent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub epoch: u64,
    /// The last sequence number this zone had applied when it was promoted.
    pub after_seq: u64,
    pub at_ms: u64,
    /// `promote` (unplanned) or `switchover` (planned, nothing at risk).
    pub kind: String,
    /// Entries the old primary had shown beyond `after_seq`, if known: a lower bound (the
    /// old primary may have written more that nobody saw) unless `kind` is `switchover`.
    pub entries_at_risk: Option<u64>,
}

/// Why a primary does not take writes right now. All of them are short-lived: a client
/// is told to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fence")]
pub enum Fence {
    /// Restarted next to a peer that may have been promoted meanwhile: waits until the
    /// peer confirms it is not ahead.
    Restart,
    /// A caller with a higher epoch was seen: waits to learn whether the peer was promoted.
    HigherEpoch { seen: u64 },
    /// A planned switchover: waits for the follower to hold everything, then has it
    /// promote.
    HandingOver,
    /// The follower was asked to promote and its answer was lost: it may or may not have.
    /// Writes stay stopped until the peer says which.
    HandoverUnresolved,
}

/// What a secondary is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// Applying the primary's journal.
    Following,
    /// A demoted primary that must set aside its writes after `after_seq` first.
    Rejoining { after_seq: u64 },
    /// A full, resumable resync.
    Resyncing { resync: ResyncState },
}

/// The role with the state that belongs to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum RoleState {
    Primary {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fence: Option<Fence>,
    },
    Secondary {
        phase: Phase,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneState {
    pub state: RoleState,
    pub epoch: u64,
    /// The peer zone's replication endpoint (its admin listener), if any.
    pub peer: Option<String>,
    /// Promotions of this zone and of the zones it followed, newest last.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
    /// Entries at or below this sequence number may be missing from this zone's journal
    /// (they arrived through a full resync, or were trimmed); a follower behind it must
    /// resync too.
    #[serde(default)]
    pub journal_floor: u64,
    /// This zone's identity in lease requests and promotion votes: random, made once and
    /// kept (the S3 endpoints of two zones behind one proxy are the same string).
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncState {
    /// The primary's last sequence number when the resync started; the journal is
    /// followed from here once the diff is done.
    pub from_seq: u64,
    /// Buckets done, and the last key done in the current bucket.
    pub bucket: Option<String>,
    pub after_key: Option<String>,
    pub stage: String,
}

impl ResyncState {
    /// A resync about to begin (the primary's position is noted at its first step).
    pub fn start() -> ResyncState {
        ResyncState {
            from_seq: 0,
            bucket: None,
            after_key: None,
            stage: "start".into(),
        }
    }
}

/// A transition the current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this zone is already primary")]
    AlreadyPrimary,
    #[error("this zone is not primary")]
    NotPrimary,
    #[error("this zone is fenced: {0}")]
    Fenced(String),
    #[error("this zone is not handing over")]
    NotHandingOver,
    #[error("this zone applied up to {cursor}, not {wanted}")]
    NotCaughtUp { cursor: u64, wanted: u64 },
    #[error("a full resync is in progress")]
    Resyncing,
    #[error("this zone is not {0}")]
    WrongPhase(&'static str),
    #[error("the peer is not ahead of this zone")]
    PeerNotAhead,
}

/// What the peer said about itself (a `ZoneInfo`, reduced to what the rules need).
#[derive(Debug, Clone, Copy)]
pub struct PeerView<'a> {
    pub role: Role,
    pub epoch: u64,
    pub promotions: &'a [Promotion],
}

/// What `observe_peer` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The peer's epoch is not higher: nothing to learn.
    Nothing,
    /// A secondary took the higher epoch and the promotions.
    Adopted,
    /// A primary was promoted over: it follows the peer now, with nothing to set aside.
    Followed,
    /// A primary was promoted over and had written past the promotion point: it sets
    /// those writes aside before following.
    Demoted { after_seq: u64 },
}

impl ZoneState {
    pub fn new(role: Role, peer: Option<String>) -> ZoneState {
        ZoneState {
            state: match role {
                Role::Primary => RoleState::Primary { fence: None },
                Role::Secondary => RoleState::Secondary {
                    phase: Phase::Following,
                },
            },
            epoch: 1,
            peer,
            promotions: Vec::new(),
            journal_floor: 0,
            id: new_zone_id(),
        }
    }

    /// Gives a zone saved before identities existed its own.
    pub fn ensure_id(&mut self) {
        if self.id.is_empty() {
            self.id = new_zone_id();
        }
    }

    pub fn role(&self) -> Role {
        match self.state {
            RoleState::Primary { .. } => Role::Primary,
            RoleState::Secondary { .. } => Role::Secondary,
        }
    }

    pub fn accepts_writes(&self) -> bool {
        matches!(self.state, RoleState::Primary { fence: None })
    }

    pub fn fence(&self) -> Option<&Fence> {
        match &self.state {
            RoleState::Primary { fence } => fence.as_ref(),
            RoleState::Secondary { .. } => None,
        }
    }

    /// A primary that does not take writes for now.
    pub fn fenced(&self) -> bool {
        self.fence().is_some()
    }

    pub fn resync(&self) -> Option<&ResyncState> {
        match &self.state {
            RoleState::Secondary {
                phase: Phase::Resyncing { resync },
            } => Some(resync),
            _ => None,
        }
    }

    pub fn rejoin_after(&self) -> Option<u64> {
        match self.state {
            RoleState::Secondary {
                phase: Phase::Rejoining { after_seq },
            } => Some(after_seq),
            _ => None,
        }
    }

    fn primary_fence(&self) -> Result<&Option<Fence>, Refused> {
        match &self.state {
            RoleState::Primary { fence } => Ok(fence),
            RoleState::Secondary { .. } => Err(Refused::NotPrimary),
        }
    }

    /// The epoch this zone takes when it is promoted over a peer last seen at `peer_epoch`.
    fn next_epoch(&self, peer_epoch: u64) -> u64 {
        self.epoch.max(peer_epoch) + 1
    }

    /// Unplanned failover, on a secondary: becomes primary with an epoch above any it or
    /// its peer had, recording the promotion point. Returns the new epoch.
    pub fn promote(
        &mut self,
        peer_epoch: u64,
        after_seq: u64,
        entries_at_risk: Option<u64>,
        at_ms: u64,
    ) -> Result<u64, Refused> {
        if self.role() == Role::Primary {
            return Err(Refused::AlreadyPrimary);
        }
        let epoch = self.next_epoch(peer_epoch);
        self.become_primary(epoch, after_seq, "promote", entries_at_risk, at_ms);
        Ok(epoch)
    }

    /// The secondary's half of a switchover: promotes only if this zone holds exactly
    /// `target_seq` (all the primary has) and is simply following. Nothing is at risk.
    pub fn promote_for_switchover(
        &mut self,
        cursor: u64,
        target_seq: u64,
        caller_epoch: u64,
        at_ms: u64,
    ) -> Result<u64, Refused> {
        match &self.state {
            RoleState::Primary { .. } => return Err(Refused::AlreadyPrimary),
            RoleState::Secondary {
                phase: Phase::Following,
            } => {}
            RoleState::Secondary { .. } => return Err(Refused::Resyncing),
        }
        if cursor != target_seq {
            return Err(Refused::NotCaughtUp {
                cursor,
                wanted: target_seq,
            });
        }
        let epoch = self.next_epoch(caller_epoch);
        self.become_primary(epoch, cursor, "switchover", Some(0), at_ms);
        Ok(epoch)
    }

    fn become_primary(
        &mut self,
        epoch: u64,
        after_seq: u64,
        kind: &str,
        entries_at_risk: Option<u64>,
        at_ms: u64,
    ) {
        self.state = RoleState::Primary { fence: None };
        self.epoch = epoch;
        self.promotions.push(Promotion {
            epoch,
            after_seq,
            at_ms,
            kind: kind.into(),
            entries_at_risk,
        });
    }

    /// A primary restarting next to a peer: no writes until the peer confirms.
    pub fn fence_at_restart(&mut self) -> Result<(), Refused> {
        self.primary_fence()?;
        self.state = RoleState::Primary {
            fence: Some(Fence::Restart),
        };
        Ok(())
    }

    /// A caller with a higher epoch reached this primary: its peer was probably promoted.
    /// Writes stop until the peer is heard from (`observe_peer` then demotes, or
    /// `peer_confirms` lifts the fence).
    pub fn fence_for_caller(&mut self, caller_epoch: u64) -> Result<(), Refused> {
        match self.primary_fence()? {
            _ if caller_epoch <= self.epoch => Err(Refused::PeerNotAhead),
            // A handover keeps its own fence: it knows more about what happens next.
            Some(Fence::HandingOver | Fence::HandoverUnresolved) => Ok(()),
            _ => {
                self.state = RoleState::Primary {
                    fence: Some(Fence::HigherEpoch { seen: caller_epoch }),
                };
                Ok(())
            }
        }
    }

    /// The peer answered and is not ahead of this primary (not primary at a higher
    /// epoch): a fence that waited for that lifts. A handover whose outcome was unknown
    /// resolves as "the peer did not promote". A handover in progress keeps its fence.
    pub fn peer_confirms(&mut self, peer: PeerView) -> Result<(), Refused> {
        let fence = self.primary_fence()?.clone();
        if peer.epoch > self.epoch || (peer.role == Role::Primary && peer.epoch >= self.epoch) {
            return Err(Refused::Fenced("the peer is not behind this zone".into()));
        }
        match fence {
            None => Ok(()),
            Some(Fence::HandingOver) => Err(Refused::Fenced("handing over".into())),
            Some(_) => {
                self.state = RoleState::Primary { fence: None };
                Ok(())
            }
        }
    }

    /// Planned switchover, first step: writes stop.
    pub fn begin_handover(&mut self) -> Result<(), Refused> {
        match self.primary_fence()? {
            None => {
                self.state = RoleState::Primary {
                    fence: Some(Fence::HandingOver),
                };
                Ok(())
            }
            Some(f) => Err(Refused::Fenced(format!("{f:?}"))),
        }
    }

    /// The switchover was abandoned before the follower was asked to promote (or the
    /// follower refused): writes resume.
    pub fn abort_handover(&mut self) -> Result<(), Refused> {
        match self.primary_fence()? {
            Some(Fence::HandingOver) => {
                self.state = RoleState::Primary { fence: None };
                Ok(())
            }
            _ => Err(Refused::NotHandingOver),
        }
    }

    /// The follower was asked to promote and no answer came back: it may have promoted.
    pub fn handover_unresolved(&mut self) -> Result<(), Refused> {
        match self.primary_fence()? {
            Some(Fence::HandingOver) => {
                self.state = RoleState::Primary {
                    fence: Some(Fence::HandoverUnresolved),
                };
                Ok(())
            }
            _ => Err(Refused::NotHandingOver),
        }
    }

    /// The epoch rule, the one place a higher epoch is acted on. A secondary adopts the
    /// peer's epoch and promotions. A primary that meets a primary with a higher epoch was
    /// promoted over: it becomes that zone's secondary, setting aside what it wrote after
    /// the promotion point (`last_seq` is its own journal's end).
    pub fn observe_peer(&mut self, peer: PeerView, last_seq: u64) -> Observed {
        if peer.epoch <= self.epoch {
            return Observed::Nothing;
        }
        self.promotions = peer.promotions.to_vec();
        let mine = self.epoch;
        self.epoch = peer.epoch;
        if self.role() == Role::Secondary || peer.role != Role::Primary {
            return Observed::Adopted;
        }
        let point = peer
            .promotions
            .iter()
            .filter(|p| p.epoch > mine)
            .map(|p| p.after_seq)
            .min()
            .unwrap_or(0);
        if point >= last_seq {
            // Everything this zone wrote, the new primary holds: just follow it.
            self.state = RoleState::Secondary {
                phase: Phase::Following,
            };
            Observed::Followed
        } else {
            self.state = RoleState::Secondary {
                phase: Phase::Rejoining { after_seq: point },
            };
            Observed::Demoted { after_seq: point }
        }
    }

    /// A rejoining zone has set its divergent writes aside: it resyncs next.
    pub fn finish_rejoin(&mut self) -> Result<(), Refused> {
        match self.state {
            RoleState::Secondary {
                phase: Phase::Rejoining { .. },
            } => {
                self.state = RoleState::Secondary {
                    phase: Phase::Resyncing {
                        resync: ResyncState::start(),
                    },
                };
                Ok(())
            }
            _ => Err(Refused::WrongPhase("rejoining")),
        }
    }

    /// A following secondary that cannot follow the journal (behind the primary's floor,
    /// or empty next to a primary with data) resyncs. Already resyncing: kept as is.
    pub fn begin_resync(&mut self) -> Result<(), Refused> {
        match &self.state {
            RoleState::Secondary {
                phase: Phase::Following,
            } => {
                self.state = RoleState::Secondary {
                    phase: Phase::Resyncing {
                        resync: ResyncState::start(),
                    },
                };
                Ok(())
            }
            RoleState::Secondary {
                phase: Phase::Resyncing { .. },
            } => Ok(()),
            RoleState::Secondary { .. } => Err(Refused::WrongPhase("following")),
            RoleState::Primary { .. } => Err(Refused::AlreadyPrimary),
        }
    }

    /// Records how far a resync got (resumed from there after a restart).
    pub fn resync_progress(&mut self, progress: ResyncState) -> Result<(), Refused> {
        match &mut self.state {
            RoleState::Secondary {
                phase: Phase::Resyncing { resync },
            } => {
                *resync = progress;
                Ok(())
            }
            _ => Err(Refused::WrongPhase("resyncing")),
        }
    }

    /// The resync is done: the journal is followed from `from_seq`, and entries at or
    /// below it may be missing from this zone's journal.
    pub fn finish_resync(&mut self, from_seq: u64) -> Result<(), Refused> {
        match self.state {
            RoleState::Secondary {
                phase: Phase::Resyncing { .. },
            } => {
                self.state = RoleState::Secondary {
                    phase: Phase::Following,
                };
                self.journal_floor = from_seq;
                Ok(())
            }
            _ => Err(Refused::WrongPhase("resyncing")),
        }
    }

    /// Journal entries up to `upto` are about to be deleted.
    pub fn raise_journal_floor(&mut self, upto: u64) {
        self.journal_floor = self.journal_floor.max(upto);
    }

    /// The configured peer (it may change between starts).
    pub fn set_peer(&mut self, peer: Option<String>) {
        self.peer = peer;
    }
}

/// 128 random bits from the kernel, in hex; the boot clock and the process id if the
/// kernel has none to give (identities only need to differ between two zones).
fn new_zone_id() -> String {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is a valid, writable buffer of the length given.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        let fallback = (crate::lease::boottime().as_nanos() as u64) ^ u64::from(std::process::id());
        buf[..8].copy_from_slice(&fallback.to_le_bytes());
    }
    hex::encode(buf)
}

/// Whether this zone needs a lease to acknowledge client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRule {
    /// A zone without a peer answers to nobody.
    NotNeeded = 0,
    /// A primary with a peer acknowledges only inside a lease.
    Required = 1,
    /// Promoted while no grantor could be reached (no witness, the old primary gone, or
    /// `--force`): takes writes until it first gets a lease, then needs one like any
    /// primary. The promotion itself waited out every promise made to the old primary.
    UntilFirstGrant = 2,
}

/// The live zone state shared by the write path, the S3 front end and replication.
pub struct Zone {
    state: RwLock<ZoneState>,
    epoch: AtomicU64,
    writable: AtomicBool,
    secondary: AtomicBool,
    /// Changes are planned, saved and published one at a time.
    changing: tokio::sync::Mutex<()>,
    /// When this process last saw the zone stop being primary (a switchover, or a higher
    /// epoch learnt), on the monotonic clock: writes refused just after are retryable.
    demoted_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// The write lease this zone holds as primary, and whether it needs one.
    lease: crate::lease::Held,
    lease_rule: std::sync::atomic::AtomicU8,
    /// Woken on every published change (the lease keeper asks at once after a promotion).
    changed: tokio::sync::Notify,
}

impl Zone {
    pub fn new(state: ZoneState) -> Zone {
        Zone {
            epoch: AtomicU64::new(state.epoch),
            writable: AtomicBool::new(state.accepts_writes()),
            secondary: AtomicBool::new(state.role() == Role::Secondary),
            state: RwLock::new(state),
            changing: tokio::sync::Mutex::new(()),
            demoted_at: std::sync::Mutex::new(None),
            lease: crate::lease::Held::default(),
            lease_rule: std::sync::atomic::AtomicU8::new(LeaseRule::NotNeeded as u8),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The lease this zone holds as primary.
    pub fn lease(&self) -> &crate::lease::Held {
        &self.lease
    }

    pub fn lease_rule(&self) -> LeaseRule {
        match self.lease_rule.load(Ordering::SeqCst) {
            0 => LeaseRule::NotNeeded,
            2 => LeaseRule::UntilFirstGrant,
            _ => LeaseRule::Required,
        }
    }

    pub fn set_lease_rule(&self, rule: LeaseRule) {
        self.lease_rule.store(rule as u8, Ordering::SeqCst);
    }

    /// A grantor answered the request sent at `sent_at` (boot clock) with a grant.
    pub fn lease_granted(&self, sent_at: std::time::Duration, terms: &crate::lease::LeaseTerms) {
        self.lease.granted(sent_at, terms);
        let _ = self.lease_rule.compare_exchange(
            LeaseRule::UntilFirstGrant as u8,
            LeaseRule::Required as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// Whether the lease (if this zone needs one) holds right now: one atomic load and a
    /// clock read, cheap enough for every commit.
    pub fn lease_holds(&self) -> bool {
        match self.lease_rule() {
            LeaseRule::NotNeeded | LeaseRule::UntilFirstGrant => true,
            LeaseRule::Required => self.lease.valid_at(crate::lease::boottime()),
        }
    }

    /// Whether a client write may be acknowledged now: the role takes writes and the
    /// lease holds. (`writable` alone is the role's answer, for start-up work.)
    pub fn may_acknowledge(&self) -> bool {
        self.writable() && self.lease_holds()
    }

    /// Resolves when the next change is published.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// How long ago this zone stopped being primary, if it did while this process ran.
    pub fn demoted_ago(&self) -> Option<std::time::Duration> {
        let at = match self.demoted_at.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        at.map(|t| t.elapsed())
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether client writes may commit right now.
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::SeqCst)
    }

    /// Whether this zone applies the primary's journal (and only then).
    pub fn is_secondary(&self) -> bool {
        self.secondary.load(Ordering::SeqCst)
    }

    pub fn snapshot(&self) -> ZoneState {
        match self.state.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn role(&self) -> Role {
        self.snapshot().role()
    }

    /// Runs one change: plans it on a copy, stops writes at once if the new state takes
    /// none, saves it with `save`, and publishes it only once saved. A refused change or a
    /// failed save leaves the zone as it was.
    pub async fn change<T, E, S, Fut, F>(&self, change: F, save: S) -> Result<T, E>
    where
        F: FnOnce(&mut ZoneState) -> Result<T, E>,
        S: FnOnce(ZoneState) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let _one_at_a_time = self.changing.lock().await;
        let mut next = self.snapshot();
        let out = change(&mut next)?;
        if !next.accepts_writes() {
            self.writable.store(false, Ordering::SeqCst);
        }
        if next.role() != Role::Secondary {
            // Entries of the old primary's journal must not commit once this zone is
            // about to become primary.
            self.secondary.store(false, Ordering::SeqCst);
        }
        if let Err(e) = save(next.clone()).await {
            let old = self.snapshot();
            self.publish(old);
            return Err(e);
        }
        self.publish(next);
        Ok(out)
    }

    /// Makes a saved state visible. The flags drop before the state changes and rise only
    /// after, so no write slips through a demotion.
    fn publish(&self, state: ZoneState) {
        let mut guard = match self.state.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        self.writable.store(false, Ordering::SeqCst);
        self.secondary.store(false, Ordering::SeqCst);
        if guard.role() == Role::Primary && state.role() == Role::Secondary {
            let mut at = match self.demoted_at.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            *at = Some(std::time::Instant::now());
        }
        *guard = state;
        self.epoch.store(guard.epoch, Ordering::SeqCst);
        self.secondary
            .store(guard.role() == Role::Secondary, Ordering::SeqCst);
        self.writable
            .store(guard.accepts_writes(), Ordering::SeqCst);
        if guard.role() == Role::Secondary {
            self.lease.drop_lease();
        }
        drop(guard);
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// States with a fixed identity, so that two of them compare equal.
    fn primary() -> ZoneState {
        ZoneState {
            id: "zone-p".into(),
            ..ZoneState::new(Role::Primary, Some("peer".into()))
        }
    }

    fn secondary() -> ZoneState {
        ZoneState {
            id: "zone-s".into(),
            ..ZoneState::new(Role::Secondary, Some("peer".into()))
        }
    }

    #[test]
    fn every_zone_gets_its_own_identity_once() {
        let (a, b) = (
            ZoneState::new(Role::Primary, None),
            ZoneState::new(Role::Primary, None),
        );
        assert_eq!(a.id.len(), 32);
        assert_ne!(a.id, b.id);
        let mut old = a.clone();
        old.id.clear();
        old.ensure_id();
        assert_eq!(old.id.len(), 32);
        let mut kept = a.clone();
        kept.ensure_id();
        assert_eq!(kept.id, a.id);
    }

    fn fenced(f: Fence) -> ZoneState {
        let mut s = primary();
        s.state = RoleState::Primary { fence: Some(f) };
        s
    }

    fn in_phase(p: Phase) -> ZoneState {
        let mut s = secondary();
        s.state = RoleState::Secondary { phase: p };
        s
    }

    fn resyncing() -> ZoneState {
        in_phase(Phase::Resyncing {
            resync: ResyncState::start(),
        })
    }

    type Step = fn(&mut ZoneState) -> Result<(), Refused>;

    /// Every transition from every kind of state: what it becomes, or that it is refused.
    #[test]
    fn transitions_table() {
        let peer_secondary = |s: &mut ZoneState| {
            s.peer_confirms(PeerView {
                role: Role::Secondary,
                epoch: 1,
                promotions: &[],
            })
        };
        let cases: Vec<(&str, ZoneState, Step, Option<RoleState>)> = vec![
            (
                "promote a secondary",
                secondary(),
                |s| s.promote(1, 10, Some(2), 0).map(|_| ()),
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "promote a primary",
                primary(),
                |s| s.promote(1, 10, None, 0).map(|_| ()),
                None,
            ),
            (
                "promote while resyncing (unplanned: allowed)",
                resyncing(),
                |s| s.promote(1, 0, None, 0).map(|_| ()),
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "switchover promote, caught up",
                secondary(),
                |s| s.promote_for_switchover(7, 7, 1, 0).map(|_| ()),
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "switchover promote, behind",
                secondary(),
                |s| s.promote_for_switchover(6, 7, 1, 0).map(|_| ()),
                None,
            ),
            (
                "switchover promote while resyncing",
                resyncing(),
                |s| s.promote_for_switchover(7, 7, 1, 0).map(|_| ()),
                None,
            ),
            (
                "switchover promote a primary",
                primary(),
                |s| s.promote_for_switchover(7, 7, 1, 0).map(|_| ()),
                None,
            ),
            (
                "fence at restart",
                primary(),
                |s| s.fence_at_restart(),
                Some(RoleState::Primary {
                    fence: Some(Fence::Restart),
                }),
            ),
            (
                "fence a secondary at restart",
                secondary(),
                |s| s.fence_at_restart(),
                None,
            ),
            (
                "caller with a higher epoch",
                primary(),
                |s| s.fence_for_caller(2),
                Some(RoleState::Primary {
                    fence: Some(Fence::HigherEpoch { seen: 2 }),
                }),
            ),
            (
                "caller with the same epoch",
                primary(),
                |s| s.fence_for_caller(1),
                None,
            ),
            (
                "caller with a higher epoch during a handover",
                fenced(Fence::HandingOver),
                |s| s.fence_for_caller(2),
                Some(RoleState::Primary {
                    fence: Some(Fence::HandingOver),
                }),
            ),
            (
                "peer confirms a restart fence",
                fenced(Fence::Restart),
                peer_secondary,
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "peer confirms an epoch fence",
                fenced(Fence::HigherEpoch { seen: 2 }),
                peer_secondary,
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "peer confirms an unresolved handover: it did not promote",
                fenced(Fence::HandoverUnresolved),
                peer_secondary,
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "peer confirms during a handover",
                fenced(Fence::HandingOver),
                peer_secondary,
                None,
            ),
            (
                "a peer primary at a higher epoch confirms nothing",
                fenced(Fence::Restart),
                |s| {
                    s.peer_confirms(PeerView {
                        role: Role::Primary,
                        epoch: 2,
                        promotions: &[],
                    })
                },
                None,
            ),
            (
                "a peer primary at the same epoch confirms nothing",
                fenced(Fence::Restart),
                |s| {
                    s.peer_confirms(PeerView {
                        role: Role::Primary,
                        epoch: 1,
                        promotions: &[],
                    })
                },
                None,
            ),
            (
                "begin a handover",
                primary(),
                |s| s.begin_handover(),
                Some(RoleState::Primary {
                    fence: Some(Fence::HandingOver),
                }),
            ),
            (
                "begin a handover while fenced",
                fenced(Fence::Restart),
                |s| s.begin_handover(),
                None,
            ),
            (
                "begin a handover on a secondary",
                secondary(),
                |s| s.begin_handover(),
                None,
            ),
            (
                "abort a handover",
                fenced(Fence::HandingOver),
                |s| s.abort_handover(),
                Some(RoleState::Primary { fence: None }),
            ),
            (
                "abort without a handover",
                primary(),
                |s| s.abort_handover(),
                None,
            ),
            (
                "abort an unresolved handover (must ask the peer)",
                fenced(Fence::HandoverUnresolved),
                |s| s.abort_handover(),
                None,
            ),
            (
                "lose the promote answer",
                fenced(Fence::HandingOver),
                |s| s.handover_unresolved(),
                Some(RoleState::Primary {
                    fence: Some(Fence::HandoverUnresolved),
                }),
            ),
            (
                "lose an answer never asked for",
                primary(),
                |s| s.handover_unresolved(),
                None,
            ),
            (
                "finish a rejoin",
                in_phase(Phase::Rejoining { after_seq: 4 }),
                |s| s.finish_rejoin(),
                Some(RoleState::Secondary {
                    phase: Phase::Resyncing {
                        resync: ResyncState::start(),
                    },
                }),
            ),
            (
                "finish a rejoin that is not one",
                secondary(),
                |s| s.finish_rejoin(),
                None,
            ),
            (
                "begin a resync",
                secondary(),
                |s| s.begin_resync(),
                Some(RoleState::Secondary {
                    phase: Phase::Resyncing {
                        resync: ResyncState::start(),
                    },
                }),
            ),
            (
                "begin a resync while rejoining",
                in_phase(Phase::Rejoining { after_seq: 4 }),
                |s| s.begin_resync(),
                None,
            ),
            (
                "begin a resync on a primary",
                primary(),
                |s| s.begin_resync(),
                None,
            ),
            (
                "finish a resync",
                resyncing(),
                |s| s.finish_resync(9),
                Some(RoleState::Secondary {
                    phase: Phase::Following,
                }),
            ),
            (
                "finish a resync never begun",
                secondary(),
                |s| s.finish_resync(9),
                None,
            ),
            (
                "record resync progress while following",
                secondary(),
                |s| s.resync_progress(ResyncState::start()),
                None,
            ),
        ];
        for (name, start, step, expect) in cases {
            let mut s = start.clone();
            let got = step(&mut s);
            match expect {
                Some(state) => {
                    assert!(got.is_ok(), "{name}: refused: {got:?}");
                    assert_eq!(s.state, state, "{name}");
                }
                None => {
                    assert!(got.is_err(), "{name}: allowed");
                    assert_eq!(s, start, "{name}: a refused transition changed the state");
                }
            }
        }
    }

    #[test]
    fn epochs_only_grow_and_promotions_are_recorded() {
        let mut s = secondary();
        s.epoch = 4;
        assert_eq!(s.promote(7, 100, Some(3), 5), Ok(8));
        assert_eq!(s.epoch, 8);
        let p = s.promotions.last().unwrap();
        assert_eq!((p.epoch, p.after_seq, p.entries_at_risk), (8, 100, Some(3)));
        let mut t = secondary();
        t.epoch = 9;
        assert_eq!(t.promote_for_switchover(3, 3, 2, 0), Ok(10));
        assert_eq!(t.promotions.last().unwrap().kind, "switchover");
    }

    #[test]
    fn the_epoch_rule() {
        let promoted = [Promotion {
            epoch: 2,
            after_seq: 10,
            at_ms: 0,
            kind: "promote".into(),
            entries_at_risk: None,
        }];
        let peer = |role, epoch| PeerView {
            role,
            epoch,
            promotions: &promoted,
        };
        // Not higher: nothing happens, whatever the roles.
        let mut p = primary();
        assert_eq!(
            p.observe_peer(peer(Role::Primary, 1), 12),
            Observed::Nothing
        );
        assert_eq!(p, primary());
        // A secondary adopts.
        let mut s = secondary();
        assert_eq!(s.observe_peer(peer(Role::Primary, 2), 3), Observed::Adopted);
        assert_eq!((s.epoch, s.promotions.len()), (2, 1));
        assert_eq!(s.role(), Role::Secondary);
        // A primary that wrote past the promotion point rejoins, setting them aside.
        let mut p = primary();
        assert_eq!(
            p.observe_peer(peer(Role::Primary, 2), 12),
            Observed::Demoted { after_seq: 10 }
        );
        assert_eq!(p.rejoin_after(), Some(10));
        assert!(!p.accepts_writes());
        // One that did not (a switchover whose answer was lost) just follows.
        let mut p = fenced(Fence::HandoverUnresolved);
        assert_eq!(
            p.observe_peer(peer(Role::Primary, 2), 10),
            Observed::Followed
        );
        assert_eq!(
            p.state,
            RoleState::Secondary {
                phase: Phase::Following
            }
        );
    }

    #[test]
    fn state_round_trips() {
        for s in [
            primary(),
            fenced(Fence::HandoverUnresolved),
            resyncing(),
            in_phase(Phase::Rejoining { after_seq: 2 }),
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(
                serde_json::from_str::<ZoneState>(&json).unwrap(),
                s,
                "{json}"
            );
        }
    }

    #[tokio::test]
    async fn persist_then_publish() {
        let z = Zone::new(secondary());
        // A failing save leaves the zone as it was.
        let r: Result<u64, String> = z
            .change(
                |s| s.promote(1, 0, None, 0).map_err(|e| e.to_string()),
                |_| async { Err("disk on fire".to_string()) },
            )
            .await;
        assert!(r.is_err());
        assert_eq!(z.snapshot(), secondary());
        assert!(z.is_secondary() && !z.writable());
        // While a save runs, nothing of the new state is visible yet.
        let seen = std::sync::Mutex::new(None);
        let r: Result<u64, String> = z
            .change(
                |s| s.promote(1, 0, None, 0).map_err(|e| e.to_string()),
                |_| async {
                    *seen.lock().unwrap() = Some((z.snapshot().role(), z.writable()));
                    Ok(())
                },
            )
            .await;
        assert_eq!(r, Ok(2));
        assert_eq!(*seen.lock().unwrap(), Some((Role::Secondary, false)));
        assert!(z.writable() && !z.is_secondary());
        assert_eq!(z.epoch(), 2);
        // A change that stops writes stops them while it is being saved.
        let r: Result<(), String> = z
            .change(
                |s| s.begin_handover().map_err(|e| e.to_string()),
                |_| async {
                    *seen.lock().unwrap() = Some((z.snapshot().role(), z.writable()));
                    Ok(())
                },
            )
            .await;
        assert_eq!(r, Ok(()));
        assert_eq!(*seen.lock().unwrap(), Some((Role::Primary, false)));
    }
}
