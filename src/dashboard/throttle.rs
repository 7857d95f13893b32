//! Sign-in throttling per client address: every attempt counts as a failure until it
//! succeeds, and an address must wait out an exponentially growing back-off before its next
//! attempt. Because the wait is taken when an attempt starts (not when it fails),
//! attempts sent in parallel are refused too, not just those sent one after another.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The wait after the first attempt; it doubles with each further one.
const FIRST_WAIT: Duration = Duration::from_millis(250);
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (the quietest are forgotten first): memory stays bounded
/// however many addresses try.
const MAX_ADDRESSES: usize = 10_000;

struct Record {
    attempts: u32,
    next_allowed: Instant,
}

#[derive(Default)]
pub struct SignInThrottle {
    by_address: Mutex<HashMap<IpAddr, Record>>,
}

/// How long to wait after `attempts` unsuccessful attempts.
fn wait_after(attempts: u32) -> Duration {
    FIRST_WAIT
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(MAX_WAIT)
}

impl SignInThrottle {
    /// Starts an attempt from `addr`: refused with the time left while the address must
    /// wait; otherwise counted (as a failure until `succeeded`).
    pub fn begin(&self, addr: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut map) = self.by_address.lock() else {
            return Err(MAX_WAIT);
        };
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&addr) {
            map.retain(|_, r| r.next_allowed > now);
            if map.len() >= MAX_ADDRESSES {
                if let Some(quietest) = map
                    .iter()
                    .min_by_key(|(_, r)| r.next_allowed)
                    .map(|(a, _)| *a)
                {
                    map.remove(&quietest);
                }
            }
        }
        let r = map.entry(addr).or_insert(Record {
            attempts: 0,
            next_allowed: now,
        });
        if now < r.next_allowed {
            return Err(r.next_allowed - now);
        }
        r.attempts = r.attempts.saturating_add(1);
        r.next_allowed = now + wait_after(r.attempts);
        Ok(())
    }

    /// The attempt from `addr` signed in: its count starts again.
    pub fn succeeded(&self, addr: IpAddr) {
        if let Ok(mut map) = self.by_address.lock() {
            map.remove(&addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_wait_longer_and_longer() {
        assert_eq!(wait_after(1), Duration::from_millis(250));
        assert_eq!(wait_after(2), Duration::from_millis(500));
        assert_eq!(wait_after(5), Duration::from_secs(4));
        assert_eq!(wait_after(40), MAX_WAIT);
        assert_eq!(wait_after(u32::MAX), MAX_WAIT);
    }

    #[test]
    fn parallel_attempts_are_refused() {
        let t = SignInThrottle::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(t.begin(a).is_ok());
        // A second attempt before the first one's wait is over, as a parallel one would be.
        assert!(t.begin(a).is_err());
        // Another address is not held up.
        assert!(t.begin(b).is_ok());
        t.succeeded(a);
        assert!(t.begin(a).is_ok());
    }
}
