//! A per-message time budget.
//!
//! Each extraction step is linear in its input and bounded by a size limit,
//! but their sum over a hostile message could still be slow. Steps that can
//! be skipped (QR decoding, archive inspection, attachment scanning) check
//! the deadline first; when it has passed they are skipped and the message
//! gets one `time_limit_exceeded` defect.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Deadline {
    end: Instant,
    expired: bool,
}

impl Deadline {
    pub fn after(milliseconds: u64) -> Self {
        let now = Instant::now();
        let end = now.checked_add(Duration::from_millis(milliseconds)).unwrap_or(now);
        Deadline { end, expired: false }
    }

    /// True once the budget is spent. Remembers the first expiry so that the
    /// caller can record it once.
    pub fn expired(&mut self) -> bool {
        if !self.expired && Instant::now() >= self.end {
            self.expired = true;
        }
        self.expired
    }

    /// True when [`Deadline::expired`] has returned true at least once.
    pub fn was_hit(&self) -> bool {
        self.expired
    }
}
