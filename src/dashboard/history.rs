//! What the dashboard's charts draw: samples taken in the background at a fixed period
//! and kept for a fixed stretch of time, in memory (a restart starts the charts afresh).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// The last `KEEP` samples.
pub struct History<T, const KEEP: usize> {
    samples: Mutex<VecDeque<T>>,
}

impl<T, const KEEP: usize> Default for History<T, KEEP> {
    fn default() -> Self {
        History {
            samples: Mutex::new(VecDeque::with_capacity(KEEP)),
        }
    }
}

impl<T: Clone, const KEEP: usize> History<T, KEEP> {
    pub fn record(&self, sample: T) {
        let mut q = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= KEEP {
            q.pop_front();
        }
        q.push_back(sample);
    }

    pub fn samples(&self) -> Vec<T> {
        let q = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().cloned().collect()
    }
}

/// Runs `sample` now and then every `period` until `stop` turns true.
pub fn every(
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut sample: impl FnMut() + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => sample(),
                _ = stop.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let h = History::<u64, 3>::default();
        for i in 0..5 {
            h.record(i);
        }
        assert_eq!(h.samples(), vec![2, 3, 4]);
    }
}
