//! Journal retention. A primary drops entries its follower has acknowledged, and never
//! keeps more than `retention` entries: a follower further behind than that does a full
//! resync instead. The floor is raised (and persisted) before entries are deleted, so no
//! follower is ever served a journal with a hole in it.
//!
//! A standalone zone (no peer) keeps only a short tail (`STANDALONE_TAIL` entries), for
//! `bascule admin journal` and for a look at recent changes: nobody will pull the rest,
//! and a secondary added later starts with a full resync anyway.

use super::ZoneService;
use bascule_replication::zone::Role;
use std::sync::Arc;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(5);
/// Entries a zone without a peer keeps.
pub const STANDALONE_TAIL: u64 = 1000;

/// The sequence number up to which entries may go (inclusive).
pub fn trim_point(role: Role, has_peer: bool, last: u64, ack: u64, retention: u64) -> u64 {
    let by_size = last.saturating_sub(retention);
    match role {
        Role::Primary if has_peer => ack.min(last).max(by_size),
        Role::Primary => last.saturating_sub(retention.min(STANDALONE_TAIL)),
        Role::Secondary => by_size,
    }
}

pub fn spawn(
    zone: Arc<ZoneService>,
    retention: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = trim_once(&zone, retention).await {
                tracing::warn!(error = %e, "journal trim failed");
            }
        }
    })
}

async fn trim_once(zone: &ZoneService, retention: u64) -> Result<(), String> {
    let state = zone.store.zone.snapshot();
    if state.rejoin_after().is_some() || state.resync().is_some() {
        // The entries after the promotion point are evidence still to be set aside.
        return Ok(());
    }
    let last = *zone.store.last_seq().borrow();
    let upto = trim_point(
        state.role(),
        zone.peer.is_some(),
        last,
        zone.peer_ack(),
        retention,
    );
    if upto <= state.journal_floor {
        return Ok(());
    }
    zone.store
        .change_zone::<_, super::ZoneError>(move |s| {
            s.raise_journal_floor(upto);
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    zone.store.trim_journal(upto).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unacknowledged_entries_up_to_the_retention() {
        // Follower at 90 of 100: entries 91..100 stay.
        assert_eq!(trim_point(Role::Primary, true, 100, 90, 1000), 90);
        // Follower far behind: only `retention` entries are kept.
        assert_eq!(trim_point(Role::Primary, true, 5000, 10, 1000), 4000);
        // No follower: a short tail only.
        assert_eq!(trim_point(Role::Primary, false, 500, 0, 100_000), 0);
        assert_eq!(trim_point(Role::Primary, false, 5000, 0, 100_000), 4000);
        assert_eq!(trim_point(Role::Secondary, true, 5000, 0, 1000), 4000);
    }
}
