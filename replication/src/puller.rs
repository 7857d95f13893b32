//! The replication loop of a zone. As a secondary it long-polls the primary's journal after
//! its durable cursor, fetches each entry's object data, and applies entries in order (the
//! store writes the new cursor in the same batch as the change). As a primary it keeps in
//! touch with its peer so that it learns at once when the peer was promoted over it.

use crate::fetch::Fetcher;
use crate::peer::{PeerClient, PeerError};
use crate::port::{LocalData, PortError, Replica};
use crate::protocol::ZoneInfo;
use crate::status::{now_ms, StatusCell};
use crate::zone::{Observed, PeerView, Role, ZoneState};
use crate::{Entry, Op};
use futures::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

/// Entries whose object data is fetched ahead of the one being applied.
const FETCH_AHEAD: usize = 16;
/// Most entries committed together.
const MAX_BATCH: usize = 256;

pub struct PullConfig {
    pub long_poll: Duration,
    pub page: usize,
    /// Bytes per second for object data (0: unlimited).
    pub rate_limit: u64,
    /// How often a primary checks on its peer.
    pub heartbeat: Duration,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            long_poll: Duration::from_secs(10),
            page: 512,
            rate_limit: 0,
            heartbeat: Duration::from_millis(500),
        }
    }
}

/// Backoff between retries of a failing step: 100 ms doubling to a ceiling (10 s for
/// entries, which are retried until they succeed).
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff::up_to(Duration::from_secs(10))
    }

    fn up_to(max: Duration) -> Backoff {
        Backoff {
            next: Duration::from_millis(100),
            max,
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.max);
    }
}

pub struct Replicator<R: Replica> {
    pub replica: Arc<R>,
    pub fetcher: Fetcher,
    pub config: PullConfig,
}

impl<R: Replica> Replicator<R> {
    pub fn new(
        replica: Arc<R>,
        peer: PeerClient,
        status: Arc<StatusCell>,
        config: PullConfig,
    ) -> Self {
        Replicator {
            fetcher: Fetcher {
                peer,
                status,
                throttle: crate::fetch::Throttle::new(config.rate_limit),
            },
            replica,
            config,
        }
    }

    fn peer(&self) -> &PeerClient {
        &self.fetcher.peer
    }

    fn status(&self) -> &StatusCell {
        &self.fetcher.status
    }

    /// Runs forever, following the zone's role as it changes.
    pub async fn run(self) {
        // Failed rounds (peer down, say) back off up to 2 s: quiet logs, quick recovery.
        let mut backoff = Backoff::up_to(Duration::from_secs(2));
        loop {
            let state = self.replica.zone().snapshot();
            match state.role() {
                Role::Primary => self.primary_tick(&state).await,
                Role::Secondary => match self.secondary_round(&state).await {
                    Ok(()) => {
                        self.status().succeeded(None);
                        backoff = Backoff::up_to(Duration::from_secs(2));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "replication step failed");
                        self.status().error(None, e);
                        backoff.wait().await;
                    }
                },
            }
        }
    }

    /// A primary asks its peer who it is. A peer that is primary with a higher epoch was
    /// promoted over us: demote at once. A fenced primary (restarted after a possible
    /// promotion) lifts its fence once the peer confirms it is not ahead.
    async fn primary_tick(&self, state: &ZoneState) {
        match self.peer().hello().await {
            Ok(info) => {
                self.contact(&info);
                let two_primaries = info.role == Role::Primary && info.epoch == state.epoch;
                if two_primaries {
                    // Two primaries of one epoch: a configuration error, not a failover.
                    tracing::error!(
                        epoch = state.epoch,
                        "the peer is also primary at the same epoch"
                    );
                    self.status().error(
                        None,
                        format!(
                            "the peer is also primary at epoch {}: both zones take writes; check their configuration",
                            state.epoch
                        ),
                    );
                }
                let observed = self.observe_peer(&info).await;
                if observed.is_ok() && !two_primaries {
                    // The peer answered and nothing is wrong: an earlier failure is over.
                    self.status().succeeded(None);
                }
                match observed {
                    Err(e) => self.status().error(None, e),
                    Ok(Observed::Nothing) if state.fenced() => {
                        let view = PeerView {
                            role: info.role,
                            epoch: info.epoch,
                            promotions: &info.promotions,
                        };
                        match self.replica.change_zone(|s| s.peer_confirms(view)).await {
                            Ok(()) => tracing::info!(
                                "peer confirmed this zone is still primary; accepting writes"
                            ),
                            // Handing over: the switchover itself decides.
                            Err(PortError::Refused(_)) => {}
                            Err(e) => self.status().error(None, e.to_string()),
                        }
                    }
                    Ok(_) => {}
                }
            }
            Err(e) => {
                self.unreachable(&e);
                if let Some(info) = e.zone() {
                    let _ = self.observe_peer(&info.clone()).await;
                }
            }
        }
        tokio::time::sleep(self.config.heartbeat).await;
    }

    fn contact(&self, info: &ZoneInfo) {
        self.status().update(|s| {
            s.peer_reachable = true;
            s.last_contact_ms = Some(now_ms());
            s.peer = Some(info.clone());
            if info.role == Role::Primary {
                s.primary_last_seq = info.last_seq;
            }
        });
    }

    fn unreachable(&self, e: &PeerError) {
        if matches!(e, PeerError::Unreachable(_)) {
            self.status().update(|s| s.peer_reachable = false);
        }
    }

    /// Fencing: applies the epoch rule (`ZoneState::observe_peer`) to what the peer said.
    async fn observe_peer(&self, info: &ZoneInfo) -> Result<Observed, String> {
        if info.epoch <= self.replica.zone().epoch() {
            return Ok(Observed::Nothing);
        }
        let last_seq = self.replica.cursor();
        let promotions = info.promotions.clone();
        let (role, epoch) = (info.role, info.epoch);
        let mine = self.replica.zone().epoch();
        let observed = self
            .replica
            .change_zone(move |s| {
                let view = PeerView {
                    role,
                    epoch,
                    promotions: &promotions,
                };
                Ok(s.observe_peer(view, last_seq))
            })
            .await
            .map_err(|e| e.to_string())?;
        match &observed {
            Observed::Demoted { after_seq } => tracing::error!(
                my_epoch = mine,
                peer_epoch = epoch,
                promotion_point = after_seq,
                "the peer was promoted with a higher epoch: demoting this zone to secondary"
            ),
            Observed::Followed => tracing::warn!(
                peer_epoch = epoch,
                "the peer is primary with a higher epoch and holds all of this zone's writes: following it"
            ),
            _ => {}
        }
        Ok(observed)
    }

    /// One round as a secondary: settle a rejoin or resync if one is due, then pull a page.
    async fn secondary_round(&self, state: &ZoneState) -> Result<(), String> {
        if let Some(after) = state.rejoin_after() {
            let n = self
                .replica
                .quarantine_divergent(after)
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(entries = n, after_seq = after, "divergent writes set aside");
            // Our data may now differ from the new primary's in ways the journal cannot
            // express: converge with a full resync.
            self.replica
                .change_zone(|s| s.finish_rejoin())
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        if state.resync().is_some() {
            return self.run_resync().await;
        }
        let cursor = self.replica.cursor();
        let page = match self
            .peer()
            .journal(cursor, self.config.long_poll, self.config.page)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                self.unreachable(&e);
                if let Some(info) = e.zone() {
                    self.contact(info);
                    self.observe_peer(info).await?;
                }
                if e.code() == Some("resync_required") {
                    tracing::warn!(
                        cursor,
                        "behind the primary's journal: starting a full resync"
                    );
                    return self.start_resync().await;
                }
                return Err(e.to_string());
            }
        };
        self.contact(&page.zone);
        self.observe_peer(&page.zone).await?;
        if cursor == 0 && page.zone.last_seq > 0 {
            // An empty zone next to a primary with data: copying the current state is
            // cheaper than replaying its whole history.
            tracing::info!(
                primary_last_seq = page.zone.last_seq,
                "empty secondary: starting a full resync"
            );
            return self.start_resync().await;
        }
        self.note_pending(cursor, &page.entries, page.zone.last_seq);
        self.follow(page.entries).await;
        let cursor = self.replica.cursor();
        self.status().update(|s| {
            if cursor >= s.primary_last_seq {
                s.oldest_pending_at_ms = None;
                s.bytes_pending = 0;
            }
        });
        Ok(())
    }

    async fn start_resync(&self) -> Result<(), String> {
        self.replica
            .change_zone(|s| s.begin_resync())
            .await
            .map_err(|e| e.to_string())
    }

    fn note_pending(&self, cursor: u64, entries: &[Entry], primary_last: u64) {
        let bytes: u64 = entries.iter().map(|e| e.op.data_bytes()).sum();
        self.status().update(|s| {
            s.primary_last_seq = primary_last;
            s.entries_pending = primary_last.saturating_sub(cursor);
            s.bytes_pending = bytes;
            s.oldest_pending_at_ms = entries.first().map(|e| e.at_ms);
        });
    }

    /// Applies a page of entries in order. Object data is fetched several entries ahead,
    /// and entries whose data is ready are committed together (one fsync for many).
    async fn follow(&self, entries: Vec<Entry>) {
        let cursor = self.replica.cursor();
        let pending = entries.into_iter().filter(|e| e.seq > cursor);
        let mut fetched = futures::stream::iter(pending.map(|e| async move {
            let data = self.fetch_with_retry(&e).await;
            (e, data)
        }))
        .buffered(FETCH_AHEAD);
        let mut batch = Vec::new();
        while let Some((entry, data)) = fetched.next().await {
            let Some(data) = data else { return };
            batch.push((entry, data));
            while batch.len() < MAX_BATCH {
                match fetched.next().now_or_never() {
                    Some(Some((e, Some(d)))) => batch.push((e, d)),
                    Some(Some((_, None))) => {
                        self.apply_with_retry(std::mem::take(&mut batch)).await;
                        return;
                    }
                    _ => break,
                }
            }
            if let Some((first, _)) = batch.first() {
                let at = first.at_ms;
                self.status().update(|s| s.oldest_pending_at_ms = Some(at));
            }
            if !self.apply_with_retry(std::mem::take(&mut batch)).await {
                return;
            }
        }
    }

    /// Fetches an entry's object data, retrying with backoff; None once this zone is no
    /// longer a secondary.
    async fn fetch_with_retry(&self, entry: &Entry) -> Option<Vec<LocalData>> {
        let mut backoff = Backoff::new();
        loop {
            match self.fetch_data(entry).await {
                Ok(d) => return Some(d),
                Err(e) => {
                    tracing::warn!(seq = entry.seq, error = %e, "cannot fetch object data; will retry");
                    self.status().error(Some(entry.seq), e);
                }
            }
            if self.replica.zone().role() != Role::Secondary {
                return None;
            }
            backoff.wait().await;
        }
    }

    /// Applies entries in order, retrying the rest of the batch with backoff after a
    /// failure (recorded with its cause). False once this zone is no longer a secondary.
    async fn apply_with_retry(&self, mut batch: Vec<(Entry, Vec<LocalData>)>) -> bool {
        let mut backoff = Backoff::new();
        while !batch.is_empty() {
            let result = self.replica.apply_batch(batch.clone()).await;
            let applied = match &result {
                Ok(()) => batch.len(),
                Err(e) => e.applied,
            };
            let now = now_ms();
            for (entry, _) in batch.drain(..applied) {
                self.status().update(|s| {
                    s.entries_applied += 1;
                    s.entries_pending = s.primary_last_seq.saturating_sub(entry.seq);
                    s.bytes_pending = s.bytes_pending.saturating_sub(entry.op.data_bytes());
                    s.record_lag(now.saturating_sub(entry.at_ms));
                });
                self.status().succeeded(Some(entry.seq));
            }
            if let Err(e) = result {
                let seq = Some(e.seq);
                tracing::warn!(?seq, error = %e, "cannot apply journal entry; will retry");
                self.status().error(seq, e.to_string());
                if self.replica.zone().role() != Role::Secondary {
                    return false;
                }
                backoff.wait().await;
            }
        }
        true
    }

    async fn fetch_data(&self, entry: &Entry) -> Result<Vec<LocalData>, String> {
        let Op::PutObject {
            bucket,
            key,
            record,
        } = &entry.op
        else {
            return Ok(Vec::new());
        };
        let data = self
            .fetcher
            .fetch_object(self.replica.as_ref(), bucket, key, record)
            .await?;
        if matches!(data.as_slice(), [LocalData::Superseded]) {
            self.status().update(|s| s.superseded.push(entry.seq));
            tracing::info!(
                seq = entry.seq,
                bucket,
                key,
                "object data superseded on the primary"
            );
        }
        Ok(data)
    }

    async fn run_resync(&self) -> Result<(), String> {
        let status = self.status();
        status.update(|s| s.resync = Some("running".into()));
        let from = crate::resync::run(self.replica.as_ref(), self.peer(), &self.fetcher, status)
            .await
            .map_err(|e| e.to_string())?;
        self.replica
            .change_zone(move |s| s.finish_resync(from))
            .await
            .map_err(|e| e.to_string())?;
        status.update(|s| {
            s.resync = None;
            s.resyncs_completed += 1;
        });
        tracing::info!(from_seq = from, "full resync done; following the journal");
        Ok(())
    }
}
