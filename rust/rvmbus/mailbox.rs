// SPDX-License-Identifier: GPL-2.0

//! The guest side of the ivshmem mailbox (layout: `proto::ivshmem`).
//!
//! A mailbox call writes a request into BAR2, rings the host's doorbell in
//! BAR0 and polls for the answer with a timeout: the host is another process
//! that may be slow, hung or gone, and the guest must never wait for it
//! forever. Calls are made in process context and may sleep.

use kernel::{
    io::Io,
    pci,
    prelude::*,
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

use crate::{
    proto::ivshmem::{self, mailbox, HvStatus, Request},
    shim,
};

/// The answer to a mailbox call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reply {
    /// The Hyper-V status the host returned.
    pub(crate) status: HvStatus,
    /// The command's result word.
    pub(crate) result: u64,
}

/// The registers and shared memory a mailbox call needs.
pub(crate) struct Doorbell<'a> {
    /// BAR0: the ivshmem registers.
    pub(crate) regs: &'a pci::Bar<'a, 16>,
    /// BAR2: the shared memory with header and mailboxes.
    pub(crate) shm: &'a pci::Bar<'a>,
    /// The host's peer id, the target of the doorbell.
    pub(crate) host_peer: u16,
}

impl Doorbell<'_> {
    /// Makes one mailbox call on mailbox `index` and waits for the answer
    /// at most `timeout_ms` milliseconds. `req.seq` must differ from the
    /// mailbox's current `resp_seq`.
    ///
    /// The caller serialises calls on one mailbox.
    pub(crate) fn call(&self, index: u32, req: &Request, timeout_ms: u32) -> Result<Reply> {
        let base = ivshmem::mailbox_offset(index).ok_or(EINVAL)?;
        let seq = req.seq;
        let mut buf = [0u8; mailbox::USED];
        req.encode(&mut buf).map_err(|_| EINVAL)?;

        // Write everything except the sequence number, word by word.
        let mut off = mailbox::CMD;
        while off < mailbox::USED {
            if off == mailbox::RESP_SEQ {
                // The host's words are not ours to write.
                off = mailbox::DATA;
                continue;
            }
            let w = buf.get(off..off + 4).ok_or(EINVAL)?;
            let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            self.shm.try_write32(v, base + off)?;
            off += 4;
        }
        shim::wmb();
        self.shm.try_write32(seq, base + mailbox::REQ_SEQ)?;
        shim::wmb();
        self.regs.write32(
            ivshmem::doorbell_value(self.host_peer, ivshmem::DOORBELL_VECTOR),
            ivshmem::BAR0_DOORBELL,
        );

        let start = Instant::<Monotonic>::now();
        let limit = Delta::from_millis(i64::from(timeout_ms));
        loop {
            if self.shm.try_read32(base + mailbox::RESP_SEQ)? == seq {
                shim::rmb();
                let status = HvStatus(self.shm.try_read32(base + mailbox::STATUS)?);
                let lo = self.shm.try_read32(base + mailbox::RESULT)?;
                let hi = self.shm.try_read32(base + mailbox::RESULT + 4)?;
                return Ok(Reply {
                    status,
                    result: (u64::from(hi) << 32) | u64::from(lo),
                });
            }
            if start.elapsed() > limit {
                return Err(ETIMEDOUT);
            }
            fsleep(Delta::from_micros(50));
        }
    }
}
