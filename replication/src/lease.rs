//! The write lease: a primary with a peer acknowledges a client write only while a
//! majority of three (itself, plus its peer or the witness) has granted it a lease, so a
//! primary cut off from both stops acknowledging before anybody may promote the other
//! zone. Leases are measured on each machine's own monotonic clock that keeps counting
//! through suspend (`CLOCK_BOOTTIME`); no timestamp ever crosses the network.
//!
//! Holder and grantor allow for clock rate error ρ and message delay δ: the holder counts
//! its lease from the moment it *sent* the request and trusts it for T·(1−ρ)−δ; a grantor
//! counts from the moment it *answered* and promises nobody else a lease (and agrees to no
//! promotion) for T·(1+ρ)+δ. The holder's lease therefore always ends before the grantor's
//! promise does.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long leases last and the error margins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseTerms {
    /// T: a lease's nominal length.
    pub term: Duration,
    /// ρ: the clock rate error allowed between two machines.
    pub drift: f64,
    /// δ: the extra margin for scheduling and message delays.
    pub margin: Duration,
}

impl Default for LeaseTerms {
    fn default() -> Self {
        LeaseTerms {
            term: Duration::from_secs(10),
            drift: 0.01,
            margin: Duration::from_secs(1),
        }
    }
}

impl LeaseTerms {
    /// Terms for a lease of `seconds`, with the default error margins.
    pub fn of_seconds(seconds: u64) -> LeaseTerms {
        LeaseTerms {
            term: Duration::from_secs(seconds.max(2)),
            ..LeaseTerms::default()
        }
    }

    /// How long the holder trusts a grant, counted from when it sent the request.
    pub fn holder_expiry(&self) -> Duration {
        self.term
            .mul_f64(1.0 - self.drift)
            .saturating_sub(self.margin)
    }

    /// How long a grantor keeps its promise, counted from when it answered.
    pub fn grantor_wait(&self) -> Duration {
        self.term.mul_f64(1.0 + self.drift) + self.margin
    }

    /// How often the holder renews.
    pub fn renew_every(&self) -> Duration {
        self.term / 3
    }
}

/// The machine's monotonic clock, counting through suspend (`CLOCK_BOOTTIME`): a
/// suspended primary wakes up with its lease expired instead of believing no time passed.
pub fn boottime() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on every Linux
    // this runs on. On failure the clock reads 0, which only makes leases expire.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// `POST /replication/v1/lease`: a primary asks for (or renews) its lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// Who asks: the zone's S3 endpoint names it.
    pub holder: String,
    pub epoch: u64,
}

/// A grantor's answer. A denial names the epoch the grantor knows: a higher one than the
/// holder's means another zone was promoted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "answer")]
pub enum LeaseAnswer {
    Granted { epoch: u64 },
    Denied { epoch: u64, reason: String },
}

/// `POST /replication/v1/witness/promote`: a secondary asks the witness to agree to its
/// promotion to `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromoteVote {
    pub candidate: String,
    pub epoch: u64,
}

/// The witness's answer to a promotion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "answer")]
pub enum VoteAnswer {
    Agreed {
        epoch: u64,
    },
    /// Not now: the current holder's lease may still run for `wait_ms`.
    Wait {
        epoch: u64,
        wait_ms: u64,
        reason: String,
    },
    Refused {
        epoch: u64,
        reason: String,
    },
}

/// What a grantor has promised: to whom, at which epoch, and until when on its own clock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Promise {
    pub epoch: u64,
    pub holder: Option<String>,
    /// Boot-clock time until which nobody else gets a lease (not persisted: a restarted
    /// grantor waits a whole `grantor_wait` instead).
    #[serde(skip)]
    pub until: Duration,
}

impl Promise {
    /// Grants or denies `req` at boot-clock time `now`, for a grantor whose own epoch is
    /// `own_epoch` (a zone's, or the witness's stored one). `quiet_until` is when a
    /// restarted grantor may grant to a new holder again.
    pub fn consider(
        &mut self,
        req: &LeaseRequest,
        own_epoch: u64,
        now: Duration,
        terms: &LeaseTerms,
    ) -> LeaseAnswer {
        let known = own_epoch.max(self.epoch);
        if req.epoch < known {
            return LeaseAnswer::Denied {
                epoch: known,
                reason: format!(
                    "epoch {} is behind epoch {known}: another zone was promoted",
                    req.epoch
                ),
            };
        }
        let same_holder = self.holder.as_deref() == Some(req.holder.as_str());
        if !same_holder && now < self.until {
            return LeaseAnswer::Denied {
                epoch: known,
                reason: format!(
                    "the lease is promised to {} for {} ms more",
                    self.holder.as_deref().unwrap_or("another zone"),
                    (self.until - now).as_millis()
                ),
            };
        }
        self.epoch = req.epoch;
        self.holder = Some(req.holder.clone());
        self.until = now + terms.grantor_wait();
        LeaseAnswer::Granted { epoch: req.epoch }
    }

    /// How much longer the promise binds, at boot-clock time `now`.
    pub fn binds_for(&self, now: Duration) -> Duration {
        self.until.saturating_sub(now)
    }
}

/// The holder's side: when its lease ends (boot-clock nanoseconds; 0: none), readable on
/// the write path with one atomic load.
#[derive(Debug, Default)]
pub struct Held {
    until_ns: std::sync::atomic::AtomicU64,
}

impl Held {
    /// Extends the lease to `sent_at + holder_expiry` (never shortens it).
    pub fn granted(&self, sent_at: Duration, terms: &LeaseTerms) {
        let until = (sent_at + terms.holder_expiry()).as_nanos() as u64;
        self.until_ns
            .fetch_max(until, std::sync::atomic::Ordering::SeqCst);
    }

    /// Drops the lease at once (a denial with a higher epoch, a handover).
    pub fn drop_lease(&self) {
        self.until_ns.store(0, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn valid_at(&self, now: Duration) -> bool {
        (now.as_nanos() as u64) < self.until_ns.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn left_at(&self, now: Duration) -> Duration {
        let until = self.until_ns.load(std::sync::atomic::Ordering::SeqCst);
        Duration::from_nanos(until.saturating_sub(now.as_nanos() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(holder: &str, epoch: u64) -> LeaseRequest {
        LeaseRequest {
            holder: holder.into(),
            epoch,
        }
    }

    #[test]
    fn the_holders_lease_ends_before_the_grantors_promise() {
        let t = LeaseTerms::default();
        assert_eq!(t.holder_expiry(), Duration::from_millis(8_900));
        assert_eq!(t.grantor_wait(), Duration::from_millis(11_100));
        // Sent at 100 s on the holder's clock, answered a little later on the grantor's:
        // even if the holder's clock ran ρ slow, its lease ends first.
        let held = Held::default();
        held.granted(Duration::from_secs(100), &t);
        assert!(held.valid_at(Duration::from_millis(108_899)));
        assert!(!held.valid_at(Duration::from_millis(108_900)));
        assert!(t.holder_expiry().mul_f64(1.0 + t.drift) < t.grantor_wait());
    }

    #[test]
    fn one_holder_at_a_time_and_epochs_only_rise() {
        let t = LeaseTerms::default();
        let mut p = Promise::default();
        let now = Duration::from_secs(1000);
        assert!(matches!(
            p.consider(&req("a", 1), 1, now, &t),
            LeaseAnswer::Granted { .. }
        ));
        // Renewals by the holder are granted; another zone waits for the promise to end.
        assert!(matches!(
            p.consider(&req("a", 1), 1, now + Duration::from_secs(3), &t),
            LeaseAnswer::Granted { .. }
        ));
        let later = now + Duration::from_secs(5);
        assert!(matches!(
            p.consider(&req("b", 2), 1, later, &t),
            LeaseAnswer::Denied { .. }
        ));
        let after = now + Duration::from_secs(3) + t.grantor_wait();
        assert!(matches!(
            p.consider(&req("b", 2), 1, after, &t),
            LeaseAnswer::Granted { epoch: 2 }
        ));
        // The old holder's epoch is behind now: denied with the epoch that demotes it.
        assert_eq!(
            p.consider(&req("a", 1), 1, after + Duration::from_secs(60), &t),
            LeaseAnswer::Denied {
                epoch: 2,
                reason: "epoch 1 is behind epoch 2: another zone was promoted".into()
            }
        );
    }

    #[test]
    fn the_boot_clock_moves() {
        let a = boottime();
        std::thread::sleep(Duration::from_millis(5));
        assert!(boottime() > a);
    }
}
