//! The write lease on a zone (see `bascule_replication::lease` for the rule and the
//! clock): the primary's keeper, which asks its grantors (the peer zone and the witness)
//! every T/3; the answer this zone gives when its peer asks; and the wait a promotion owes
//! to every promise made to the old primary.

use super::{ZoneError, ZoneService};
use bascule_replication::lease::{
    boottime, LeaseAnswer, LeaseRequest, LeaseTerms, Promise, PromoteVote, VoteAnswer,
};
use bascule_replication::peer::{PeerClient, PeerError};
use bascule_replication::status::now_ms;
use bascule_replication::zone::{Fence, LeaseRule, Phase, Role, RoleState};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A failed round is tried again this soon (a lease has T·(1−ρ)−δ to be renewed).
const RETRY: Duration = Duration::from_millis(200);

/// Who asks for an unplanned promotion; it decides what the promotion waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// An operator: waits for the old primary's lease to run out, asks the witness.
    Manual,
    /// An operator, `--force`: waits for nothing (loudly).
    Forced,
    /// Automatic failover: like `Manual`, but given up as soon as the old primary is heard
    /// from again (a healed link must not end in a promotion nobody needs).
    Automatic,
}

/// The lease side of a zone: its terms, the witness, what it promised as a grantor, and
/// what its keeper last heard.
pub struct LeaseState {
    pub terms: LeaseTerms,
    pub witness: Option<PeerClient>,
    promise: Mutex<Promise>,
    /// A promotion is under way: no more grants to the old primary, or its promise would
    /// never run out.
    promoting: AtomicBool,
    report: Mutex<LeaseReport>,
    /// When (boot clock, ns) this secondary last heard from its primary: a lease request
    /// or journal progress. Automatic failover starts after T of silence.
    heard_ns: std::sync::atomic::AtomicU64,
}

/// What the keeper last heard from each grantor, for `/metrics`, the dashboard and the
/// zone report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeaseReport {
    pub grantors: Vec<GrantorReport>,
    pub last_denial: Option<String>,
    pub last_denial_at_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantorReport {
    /// `peer` or `witness`.
    pub name: &'static str,
    pub url: String,
    pub reachable: bool,
    pub granted: bool,
    pub error: Option<String>,
}

impl LeaseState {
    pub fn new(terms: LeaseTerms, witness: Option<PeerClient>) -> LeaseState {
        LeaseState {
            terms,
            witness,
            promise: Mutex::new(Promise::default()),
            promoting: AtomicBool::new(false),
            report: Mutex::new(LeaseReport::default()),
            heard_ns: std::sync::atomic::AtomicU64::new(boottime().as_nanos() as u64),
        }
    }

    fn heard(&self) {
        self.heard_ns
            .store(boottime().as_nanos() as u64, Ordering::SeqCst);
    }

    fn silent_for(&self) -> Duration {
        boottime().saturating_sub(self.last_heard())
    }

    fn last_heard(&self) -> Duration {
        Duration::from_nanos(self.heard_ns.load(Ordering::SeqCst))
    }

    pub fn report(&self) -> LeaseReport {
        lock(&self.report).clone()
    }

    /// How much longer this zone's promise (as a grantor) binds.
    pub fn promised_for(&self) -> Duration {
        lock(&self.promise).binds_for(boottime())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Clears the promotion flag however the promotion ends.
struct Promoting<'a>(&'a AtomicBool);

impl Drop for Promoting<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The keeper: renews the lease while this zone is primary, at once after a change (a
/// promotion must not wait a period for its first lease).
pub fn spawn(
    zone: Arc<ZoneService>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let pause = zone.lease_round().await;
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = zone.store.zone.changed() => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// Automatic failover, on a secondary with a witness: after T without a lease request or
/// journal progress from the primary, and lacking at most `max_lag` entries, it asks to be
/// promoted. The promotion goes through the witness like a manual one: agreed only once the
/// old primary's lease ran out, so it is never premature, only sometimes refused.
pub fn spawn_auto_failover(
    zone: Arc<ZoneService>,
    max_lag: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut contact = None;
        let mut too_far = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => return,
            }
            let state = zone.store.zone.snapshot();
            let following = matches!(
                state.state,
                RoleState::Secondary {
                    phase: Phase::Following
                }
            );
            if !following {
                zone.lease.heard();
                continue;
            }
            let seen = zone.status.get().last_contact_ms;
            if seen != contact {
                contact = seen;
                zone.lease.heard();
            }
            let silent = zone.lease.silent_for();
            if silent < zone.lease.terms.term {
                too_far = false;
                continue;
            }
            match zone.entries_at_risk() {
                Some(lag) if lag <= max_lag => {}
                lag => {
                    if !too_far {
                        tracing::error!(
                            ?lag,
                            max_lag,
                            "the primary is silent, but this zone lacks too much (or never heard from it) to be promoted automatically"
                        );
                    }
                    too_far = true;
                    continue;
                }
            }
            tracing::warn!(
                silent_ms = silent.as_millis() as u64,
                "automatic failover: no lease request nor journal progress from the primary; asking the witness"
            );
            match zone.promote(Promotion::Automatic).await {
                Ok(p) => tracing::warn!(
                    epoch = p.epoch,
                    after_seq = p.after_seq,
                    "automatic failover: this zone is primary"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "automatic failover not done");
                    // Try again after another period of silence.
                    zone.lease.heard();
                }
            }
        }
    })
}

impl ZoneService {
    fn grantors(&self) -> Vec<(&'static str, &PeerClient)> {
        let peer = self.peer.iter().map(|p| ("peer", p));
        let witness = self.lease.witness.iter().map(|w| ("witness", w));
        peer.chain(witness).collect()
    }

    /// One round of the keeper; returns how long to wait before the next.
    async fn lease_round(&self) -> Duration {
        let terms = self.lease.terms;
        let state = self.store.zone.snapshot();
        let handing_over = matches!(
            state.fence(),
            Some(Fence::HandingOver | Fence::HandoverUnresolved)
        );
        if state.role() != Role::Primary || handing_over {
            return terms.renew_every();
        }
        let req = LeaseRequest {
            holder: state.id.clone(),
            epoch: state.epoch,
        };
        // The lease counts from before the request left, on this machine's boot clock.
        let sent_at = boottime();
        let timeout = terms.renew_every().min(Duration::from_secs(2));
        let mut asks: FuturesUnordered<_> = self
            .grantors()
            .into_iter()
            .map(|(name, client)| {
                let req = &req;
                async move { (name, client, client.lease(req, timeout).await) }
            })
            .collect();
        let mut granted = false;
        let mut grantors = Vec::new();
        let mut denial = None;
        while let Some((name, client, answer)) = asks.next().await {
            let mut report = GrantorReport {
                name,
                url: client.base().to_string(),
                reachable: true,
                granted: false,
                error: None,
            };
            match answer {
                Ok(LeaseAnswer::Granted { epoch }) if epoch == state.epoch => {
                    // Applied as each grant arrives: a slow grantor delays nobody.
                    self.store.zone.lease_granted(sent_at, &terms);
                    report.granted = true;
                    granted = true;
                }
                Ok(LeaseAnswer::Granted { epoch }) => {
                    report.error = Some(format!("granted for epoch {epoch}, not this zone's"));
                }
                Ok(LeaseAnswer::Denied { epoch, reason }) => {
                    report.error = Some(reason.clone());
                    denial = Some(format!("{name}: {reason}"));
                    if epoch > state.epoch {
                        self.lease_lost_to(epoch, name, &reason).await;
                    }
                }
                Err(e) => {
                    report.reachable = !matches!(e, PeerError::Unreachable(_));
                    report.error = Some(e.to_string());
                }
            }
            grantors.push(report);
        }
        grantors.sort_by_key(|g| g.name);
        let mut report = lock(&self.lease.report);
        report.grantors = grantors;
        if let Some(d) = denial {
            report.last_denial = Some(d);
            report.last_denial_at_ms = Some(now_ms());
        }
        // The next round is due a period after this one *started*: waiting out a slow or
        // cut grantor must not stretch the gap between renewals with the others.
        if granted {
            terms
                .renew_every()
                .saturating_sub(boottime().saturating_sub(sent_at))
        } else {
            RETRY
        }
    }

    /// A grantor knows a higher epoch: another zone was promoted. Stop acknowledging at
    /// once; the replication loop demotes this zone (and sets its late writes aside) when
    /// it reaches the new primary.
    async fn lease_lost_to(&self, epoch: u64, grantor: &str, reason: &str) {
        self.store.zone.lease().drop_lease();
        tracing::error!(
            my_epoch = self.store.zone.epoch(),
            epoch,
            grantor,
            reason,
            "lease denied with a higher epoch: another zone was promoted; this zone stops taking writes"
        );
        if let Err(e) = self.change(|s| s.fence_for_caller(epoch)).await {
            tracing::warn!(error = %e, "cannot fence this zone after a lease denial");
        }
    }

    /// This zone's answer when its peer asks for the lease.
    pub fn grant_lease(&self, req: &LeaseRequest) -> LeaseAnswer {
        let state = self.store.zone.snapshot();
        let deny = |reason: String| LeaseAnswer::Denied {
            epoch: state.epoch,
            reason,
        };
        self.lease.heard();
        if req.holder == state.id {
            return deny("a zone cannot grant itself the lease".into());
        }
        if self.lease.promoting.load(Ordering::SeqCst) {
            return deny("this zone is being promoted".into());
        }
        let mut promise = lock(&self.lease.promise);
        match state.role() {
            Role::Secondary => promise.consider(req, state.epoch, boottime(), &self.lease.terms),
            // A primary that takes no writes (handing over, or fenced because the caller's
            // epoch is higher) gives way to a promoted peer, dropping its own lease first.
            Role::Primary if req.epoch > state.epoch && !state.accepts_writes() => {
                self.store.zone.lease().drop_lease();
                promise.consider(req, state.epoch, boottime(), &self.lease.terms)
            }
            Role::Primary => deny(format!("this zone is primary at epoch {}", state.epoch)),
        }
    }

    /// Before an unplanned promotion to `epoch`: waits until no lease this zone granted
    /// the old primary can still run, then has the witness (if any) agree. Returns the
    /// lease rule the new primary starts with. `force` skips both, loudly.
    pub(super) async fn promotion_gate(
        &self,
        epoch: u64,
        kind: Promotion,
    ) -> Result<LeaseRule, ZoneError> {
        let has_peer = self.peer.is_some();
        if !has_peer {
            return Ok(LeaseRule::NotNeeded);
        }
        if kind == Promotion::Forced {
            tracing::error!(
                at_risk = ?self.entries_at_risk(),
                "promotion FORCED: not waiting for the old primary's lease to run out{}. \
                 If the old primary is still running, both zones may acknowledge writes until it \
                 learns of this promotion; its writes from now on will be set aside (quarantined) \
                 when it rejoins",
                if self.lease.witness.is_some() { " and not asking the witness" } else { "" }
            );
            return Ok(LeaseRule::UntilFirstGrant);
        }
        self.lease.promoting.store(true, Ordering::SeqCst);
        let _clear = Promoting(&self.lease.promoting);
        let started = boottime();
        let own = self.lease.promised_for();
        if !own.is_zero() {
            tracing::warn!(
                wait_ms = own.as_millis() as u64,
                "promotion: waiting for the lease this zone granted the primary to run out"
            );
            self.promotion_wait(own, kind, started).await?;
        }
        let Some(witness) = &self.lease.witness else {
            // Nobody else could have granted the old primary a lease: it has none now.
            return Ok(LeaseRule::UntilFirstGrant);
        };
        let vote = PromoteVote {
            candidate: self.store.zone.snapshot().id,
            epoch,
        };
        let deadline = Instant::now() + self.lease.terms.grantor_wait() * 2;
        loop {
            let refused = |reason: String| ZoneError::Witness(reason);
            match witness.vote(&vote).await {
                Ok(VoteAnswer::Agreed { .. }) => return Ok(LeaseRule::Required),
                Ok(VoteAnswer::Wait {
                    wait_ms, reason, ..
                }) if Instant::now() < deadline => {
                    tracing::warn!(wait_ms, reason, "promotion: the witness asks to wait");
                    let wait =
                        Duration::from_millis(wait_ms.max(10)).min(self.lease.terms.grantor_wait());
                    self.promotion_wait(wait, kind, started).await?;
                }
                Ok(VoteAnswer::Wait { reason, .. }) => {
                    return Err(refused(format!("the witness still refuses: {reason}")))
                }
                Ok(VoteAnswer::Refused { reason, .. }) => {
                    return Err(refused(format!("the witness refused: {reason}")))
                }
                Err(e) => {
                    return Err(refused(format!(
                        "the witness cannot be asked ({e}): promoting now could leave two zones \
                         taking writes; `zone promote --force` promotes anyway"
                    )))
                }
            }
        }
    }

    /// Waits `d` during a promotion; an automatic one gives up as soon as the old primary
    /// asks for its lease again (heard after `started`): it is alive and reachable.
    async fn promotion_wait(
        &self,
        d: Duration,
        kind: Promotion,
        started: Duration,
    ) -> Result<(), ZoneError> {
        let until = Instant::now() + d;
        loop {
            if kind == Promotion::Automatic && self.lease.last_heard() > started {
                return Err(ZoneError::Witness(
                    "automatic failover given up: the primary is reachable again".into(),
                ));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        }
    }
}
