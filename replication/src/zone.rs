//! A zone's role and epoch. Each zone persists its `ZoneState`; at run time a `Zone` holds it
//! behind a lock, plus the two facts the write path checks on every commit without locking:
//! the epoch stamped on new journal entries and whether client writes are accepted.

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
    /// Entries the old primary had shown beyond `after_seq` (known at risk), if known.
    pub entries_at_risk: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneState {
    pub role: Role,
    pub epoch: u64,
    /// The peer zone's replication endpoint (its admin listener), if any.
    pub peer: Option<String>,
    /// Promotions of this zone and of the zones it followed, newest last.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
    /// Entries at or below this sequence number may be missing from this zone's journal
    /// (they arrived through a full resync); a follower behind it must resync too.
    #[serde(default)]
    pub journal_floor: u64,
    /// Set while a primary must not take writes until its peer confirms it is still
    /// primary: after a restart, or after a caller with a higher epoch was seen.
    #[serde(default)]
    pub fenced: bool,
    /// Set while a primary hands over in a planned switchover (writes stop meanwhile).
    #[serde(default)]
    pub handing_over: bool,
    /// Set on a zone that must find and set aside its divergent writes before following.
    #[serde(default)]
    pub rejoin_after: Option<u64>,
    /// A full resync is in progress (resumable): the listing position reached.
    #[serde(default)]
    pub resync: Option<ResyncState>,
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

impl ZoneState {
    pub fn new(role: Role, peer: Option<String>) -> ZoneState {
        ZoneState {
            role,
            epoch: 1,
            peer,
            promotions: Vec::new(),
            journal_floor: 0,
            fenced: false,
            handing_over: false,
            rejoin_after: None,
            resync: None,
        }
    }

    pub fn accepts_writes(&self) -> bool {
        self.role == Role::Primary && !self.fenced && !self.handing_over
    }
}

/// The live zone state shared by the write path, the S3 front end and replication.
pub struct Zone {
    state: RwLock<ZoneState>,
    epoch: AtomicU64,
    writable: AtomicBool,
    secondary: AtomicBool,
}

impl Zone {
    pub fn new(state: ZoneState) -> Zone {
        Zone {
            epoch: AtomicU64::new(state.epoch),
            writable: AtomicBool::new(state.accepts_writes()),
            secondary: AtomicBool::new(state.role == Role::Secondary),
            state: RwLock::new(state),
        }
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
        self.snapshot().role
    }

    /// Changes the state in memory; the caller persists the returned value. The writable
    /// flag drops *before* the change is visible and rises only after it, so a demotion
    /// never lets a write slip through.
    pub fn update<T>(&self, change: impl FnOnce(&mut ZoneState) -> T) -> (ZoneState, T) {
        let mut guard = match self.state.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        self.writable.store(false, Ordering::SeqCst);
        self.secondary.store(false, Ordering::SeqCst);
        let out = change(&mut guard);
        self.epoch.store(guard.epoch, Ordering::SeqCst);
        self.secondary
            .store(guard.role == Role::Secondary, Ordering::SeqCst);
        self.writable
            .store(guard.accepts_writes(), Ordering::SeqCst);
        (guard.clone(), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demotion_closes_writes_and_state_round_trips() {
        let z = Zone::new(ZoneState::new(Role::Primary, None));
        assert!(z.writable());
        let (s, _) = z.update(|s| {
            s.role = Role::Secondary;
            s.epoch = 3;
        });
        assert!(!z.writable());
        assert!(z.is_secondary());
        assert_eq!(z.epoch(), 3);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ZoneState>(&json).unwrap(), s);
        z.update(|s| {
            s.role = Role::Primary;
            s.fenced = true;
        });
        assert!(!z.writable());
    }
}
