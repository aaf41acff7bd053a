// SPDX-License-Identifier: GPL-2.0

//! Posting a message to the host (`HvPostMessage`): which statuses are worth
//! another try, how long to wait before it, and when to give up, as Linux's
//! `vmbus_post_msg` decides.
//!
//! - `HV_STATUS_SUCCESS`: posted.
//! - `HV_STATUS_INSUFFICIENT_MEMORY`, `HV_STATUS_INSUFFICIENT_BUFFERS`: the
//!   hypervisor is short of room for now; try again.
//! - `HV_STATUS_INVALID_CONNECTION_ID`: for `INITIATE_CONTACT` this is the
//!   answer (the host does not know that connection id, and the connection
//!   state machine goes on with the next one); for any other message the
//!   hypervisor also says it when messages come too fast: try again.
//! - Anything else: refused, no retry.
//!
//! At most [`MAX_TRIES`] tries. The wait before the second is 1 µs and
//! doubles before each of the next 21 (to 2^21 µs, about 2.1 s), then
//! stays there: about 2.8 minutes in all before a post that never gets
//! through fails.
//!
//! ```
//! use vmbus_proto::ivshmem::HvStatus;
//! use vmbus_proto::post::{PostFailure, PostRetry, PostStep};
//!
//! let mut p = PostRetry::new(false);
//! assert_eq!(p.on_status(HvStatus::INSUFFICIENT_BUFFERS), PostStep::Retry { after_us: 1 });
//! assert_eq!(p.on_status(HvStatus::INSUFFICIENT_MEMORY), PostStep::Retry { after_us: 2 });
//! assert_eq!(p.on_status(HvStatus::SUCCESS), PostStep::Posted);
//!
//! let mut contact = PostRetry::new(true);
//! assert_eq!(
//!     contact.on_status(HvStatus::INVALID_CONNECTION_ID),
//!     PostStep::Failed(PostFailure::InvalidConnectionId)
//! );
//! ```

use super::ivshmem::HvStatus;

/// The most tries of one post.
pub const MAX_TRIES: u32 = 100;

/// The wait before the second try, in microseconds.
const FIRST_DELAY_US: u32 = 1;

/// The wait doubles before each of the tries up to this one.
const LAST_DOUBLING: u32 = 22;

/// What to do after one try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostStep {
    /// The host has the message.
    Posted,
    /// Wait this long, then try again.
    Retry {
        /// Microseconds to wait.
        after_us: u32,
    },
    /// Give up.
    Failed(PostFailure),
}

/// Why a post failed for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostFailure {
    /// `INITIATE_CONTACT` to a connection id the host does not know.
    InvalidConnectionId,
    /// A status that is not worth another try.
    Refused(HvStatus),
    /// Still this transient status after [`MAX_TRIES`] tries.
    Exhausted(HvStatus),
}

/// The retry state of one post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostRetry {
    /// Tries so far.
    tries: u32,
    /// The next wait, in microseconds.
    delay_us: u32,
    /// The message is `INITIATE_CONTACT`.
    contact: bool,
}

impl PostRetry {
    /// The state before the first try of a message; `contact` if it is
    /// `INITIATE_CONTACT`.
    pub const fn new(contact: bool) -> Self {
        Self {
            tries: 0,
            delay_us: FIRST_DELAY_US,
            contact,
        }
    }

    /// Tries made so far.
    pub const fn tries(&self) -> u32 {
        self.tries
    }

    /// The hypervisor answered a try with `status`.
    pub fn on_status(&mut self, status: HvStatus) -> PostStep {
        self.tries = self.tries.saturating_add(1);
        let transient = match status {
            HvStatus::SUCCESS => return PostStep::Posted,
            HvStatus::INVALID_CONNECTION_ID if self.contact => {
                return PostStep::Failed(PostFailure::InvalidConnectionId)
            }
            HvStatus::INVALID_CONNECTION_ID
            | HvStatus::INSUFFICIENT_MEMORY
            | HvStatus::INSUFFICIENT_BUFFERS => status,
            _ => return PostStep::Failed(PostFailure::Refused(status)),
        };
        if self.tries >= MAX_TRIES {
            return PostStep::Failed(PostFailure::Exhausted(transient));
        }
        let after_us = self.delay_us;
        if self.tries < LAST_DOUBLING {
            self.delay_us = self.delay_us.saturating_mul(2);
        }
        PostStep::Retry { after_us }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_as_linux() {
        let mut p = PostRetry::new(false);
        let mut waits = [0u32; MAX_TRIES as usize];
        let mut n = 0;
        let end = loop {
            match p.on_status(HvStatus::INSUFFICIENT_BUFFERS) {
                PostStep::Retry { after_us } => {
                    waits[n] = after_us;
                    n += 1;
                }
                other => break other,
            }
        };
        assert_eq!(
            end,
            PostStep::Failed(PostFailure::Exhausted(HvStatus::INSUFFICIENT_BUFFERS))
        );
        assert_eq!(n, 99);
        assert_eq!(p.tries(), 100);
        assert_eq!(waits[0], 1);
        assert_eq!(waits[1], 2);
        assert_eq!(waits[20], 1 << 20);
        assert_eq!(waits[21], 1 << 21);
        assert_eq!(waits[98], 1 << 21);
        let total: u64 = waits[..n].iter().map(|&w| u64::from(w)).sum();
        // About 2.8 minutes.
        assert!((160_000_000..175_000_000).contains(&total), "{total}");
    }

    #[test]
    fn which_statuses_are_retried() {
        for st in [
            HvStatus::INSUFFICIENT_MEMORY,
            HvStatus::INSUFFICIENT_BUFFERS,
            HvStatus::INVALID_CONNECTION_ID,
        ] {
            let mut p = PostRetry::new(false);
            assert_eq!(p.on_status(st), PostStep::Retry { after_us: 1 });
            assert_eq!(p.on_status(HvStatus::SUCCESS), PostStep::Posted);
        }
        let mut p = PostRetry::new(false);
        assert_eq!(
            p.on_status(HvStatus::ACCESS_DENIED),
            PostStep::Failed(PostFailure::Refused(HvStatus::ACCESS_DENIED))
        );
        // INITIATE_CONTACT: busy is retried, an unknown id is the answer.
        let mut c = PostRetry::new(true);
        assert_eq!(
            c.on_status(HvStatus::INSUFFICIENT_MEMORY),
            PostStep::Retry { after_us: 1 }
        );
        assert_eq!(
            c.on_status(HvStatus::INVALID_CONNECTION_ID),
            PostStep::Failed(PostFailure::InvalidConnectionId)
        );
    }
}
