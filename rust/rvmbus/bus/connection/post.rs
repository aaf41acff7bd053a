// SPDX-License-Identifier: GPL-2.0

//! Posting messages to the host (`vmbus_post_msg`): each message goes out
//! through the transport's `HvPostMessage`, tried again while the
//! hypervisor is short of room as `proto::post` decides; a message that
//! cannot go out is a typed [`PostError`] the callers feed to the state
//! machines, since no answer will come.
//!
//! Context: process context, with or without `inner` held; sleeps between
//! tries.

use super::*;

/// Why a message did not reach the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PostError {
    /// The call was not made: the message did not encode, or the
    /// transport failed (the host is gone).
    NotMade(Error),
    /// The hypervisor refused it, after the retries of `proto::post`.
    Refused(PostFailure),
}

impl From<PostError> for Error {
    fn from(e: PostError) -> Self {
        match e {
            PostError::NotMade(e) => e,
            PostError::Refused(PostFailure::InvalidConnectionId) => ENXIO,
            PostError::Refused(PostFailure::Exhausted(_)) => ENOBUFS,
            PostError::Refused(PostFailure::Refused(_)) => EIO,
        }
    }
}

impl Connection {
    /// Posts `msg` to `connection_id`, trying again while the hypervisor
    /// is short of room, as `proto::post` decides (Linux's
    /// `vmbus_post_msg`): up to about 2.8 minutes, sleeping between tries.
    /// Fires the message's trace events with the result.
    pub(super) fn post_raw(&self, connection_id: u32, msg: &GuestMessage) -> Result<(), PostError> {
        let enc = msg.encode();
        let r = self.post_payload(connection_id, msg, enc.as_bytes());
        super::trace::posted(msg, enc.as_bytes().len(), &r);
        r
    }

    /// Posts `payload`, the encoding of `msg`, as [`Connection::post_raw`]
    /// describes.
    fn post_payload(
        &self,
        connection_id: u32,
        msg: &GuestMessage,
        payload: &[u8],
    ) -> Result<(), PostError> {
        let input = HvInputPostMessage::channel(connection_id, payload)
            .map_err(|_| PostError::NotMade(EINVAL))?;
        let mut bytes = [0u8; 256];
        input
            .write_to(&mut bytes)
            .ok_or(PostError::NotMade(EINVAL))?;
        let mut retry = PostRetry::new(matches!(msg, GuestMessage::InitiateContact(_)));
        loop {
            let st = self
                .transport
                .post_message(&bytes)
                .map_err(PostError::NotMade)?;
            match retry.on_status(st) {
                PostStep::Posted => {
                    if retry.tries() > 1 {
                        self.stats
                            .post_retries
                            .add(u64::from(retry.tries() - 1), Relaxed);
                    }
                    return Ok(());
                }
                PostStep::Retry { after_us } => {
                    kernel::time::delay::fsleep(Delta::from_micros(i64::from(after_us)))
                }
                PostStep::Failed(f) => return Err(PostError::Refused(f)),
            }
        }
    }

    /// Posts `msg` on the message connection id. A failure is logged
    /// (rate-limited) and returned; the caller tells the state machine,
    /// since no answer will come.
    pub(super) fn post(&self, inner: &Inner, msg: &GuestMessage) -> Result {
        let id = inner.state.message_connection_id().ok_or(ENOTCONN)?;
        self.post_raw(id, msg).map_err(|e| {
            if self.warn.allow() {
                pr_err!("posting message type {} failed: {:?}\n", msg_name(msg), e);
            }
            Error::from(e)
        })
    }
}
