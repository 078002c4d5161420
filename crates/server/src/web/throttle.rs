//! Sign-in throttling per client address. The account lock-out in the
//! store stops guessing against one name; this stops one address from
//! trying a few passwords against many names. The counts live in memory
//! and a restart clears them; an attacker cannot restart the service from
//! outside.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; beyond this, addresses without a failure
/// inside the window are dropped first.
const MAX_ADDRESSES: usize = 100_000;

/// Failed sign-ins per client address within a sliding window.
#[derive(Debug)]
pub(crate) struct AddressThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl AddressThrottle {
    /// Creates a throttle that holds an address back after `limit`
    /// failures within `window`. A `limit` of 0 holds nobody back.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        AddressThrottle { limit, window, failures: Mutex::new(HashMap::new()) }
    }

    /// Returns how long `address` must still wait, when it may not sign in
    /// now.
    pub(crate) fn wait(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let times = failures.get_mut(&address)?;
        while times.front().is_some_and(|at| now.duration_since(*at) >= self.window) {
            times.pop_front();
        }
        if times.len() < self.limit as usize {
            return None;
        }
        times.front().map(|oldest| self.window.saturating_sub(now.duration_since(*oldest)))
    }

    /// Counts a failed sign-in from `address`.
    pub(crate) fn record_failure(&self, address: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&address) {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|at| now.duration_since(*at) < window));
        }
        let times = failures.entry(address).or_default();
        times.push_back(now);
        while times.len() > self.limit as usize {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_reached_then_window_passes() {
        let throttle = AddressThrottle::new(3, Duration::from_secs(60));
        let address: IpAddr = "192.0.2.7".parse().expect("address");
        let other: IpAddr = "192.0.2.8".parse().expect("address");
        let start = Instant::now();

        for second in 0..3 {
            assert_eq!(throttle.wait(address, start), None, "before failure {second}");
            throttle.record_failure(address, start + Duration::from_secs(second));
        }

        assert_eq!(throttle.wait(address, start + Duration::from_secs(10)), Some(Duration::from_secs(50)));
        assert_eq!(throttle.wait(other, start + Duration::from_secs(10)), None, "other addresses are not held");
        assert_eq!(throttle.wait(address, start + Duration::from_secs(60)), None, "the oldest failure expired");
    }

    #[test]
    fn zero_limit_holds_nobody() {
        let throttle = AddressThrottle::new(0, Duration::from_secs(60));
        let address: IpAddr = "192.0.2.7".parse().expect("address");
        let now = Instant::now();

        throttle.record_failure(address, now);

        assert_eq!(throttle.wait(address, now), None);
    }
}
