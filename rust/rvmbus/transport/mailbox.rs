// SPDX-License-Identifier: GPL-2.0

//! The guest side of the ivshmem mailbox (layout: `proto::ivshmem`).
//!
//! A mailbox call writes a request into BAR2, rings the host's doorbell in
//! BAR0 and polls for the answer with a timeout: the host is another process
//! that may be slow, hung or gone, and the guest must never wait for it
//! forever. Submitting and polling never sleep, so they can run under the
//! RCU guard of a device-managed BAR; [`wait`] sleeps between polls.

use kernel::{
    io::Io,
    pci,
    prelude::*,
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

use crate::{
    proto::ivshmem::{self, mailbox, HvStatus, Request},
    support::shim,
};

/// The answer to a mailbox call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reply {
    /// The Hyper-V status the host returned.
    pub(crate) status: HvStatus,
    /// The command's result word.
    pub(crate) result: u64,
}

/// Writes `req` into mailbox `index` and rings the host's doorbell.
/// `req.seq` must differ from the mailbox's current `resp_seq`; the caller
/// serialises calls on one mailbox.
pub(crate) fn submit(
    regs: &pci::Bar<'_, 16>,
    shm: &pci::Bar<'_>,
    host_peer: u16,
    index: u32,
    req: &Request,
) -> Result {
    let base = ivshmem::mailbox_offset(index).ok_or(EINVAL)?;
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
        shm.try_write32(v, base + off)?;
        off += 4;
    }
    shim::wmb();
    shm.try_write32(req.seq, base + mailbox::REQ_SEQ)?;
    shim::wmb();
    regs.write32(
        ivshmem::doorbell_value(host_peer, ivshmem::DOORBELL_VECTOR),
        ivshmem::BAR0_DOORBELL,
    );
    Ok(())
}

/// The number of the last request the host answered in mailbox `index`
/// (left by an earlier load of the module, or 0): the next request must
/// be numbered differently, or the host would take it as answered.
pub(crate) fn last_answered(shm: &pci::Bar<'_>, index: u32) -> Result<u32> {
    let base = ivshmem::mailbox_offset(index).ok_or(EINVAL)?;
    shm.try_read32(base + mailbox::RESP_SEQ)
}

/// The answer in mailbox `index` to the request numbered `seq`, if the
/// host has written it.
pub(crate) fn poll(shm: &pci::Bar<'_>, index: u32, seq: u32) -> Result<Option<Reply>> {
    let base = ivshmem::mailbox_offset(index).ok_or(EINVAL)?;
    if shm.try_read32(base + mailbox::RESP_SEQ)? != seq {
        return Ok(None);
    }
    shim::rmb();
    let status = HvStatus(shm.try_read32(base + mailbox::STATUS)?);
    let lo = shm.try_read32(base + mailbox::RESULT)?;
    let hi = shm.try_read32(base + mailbox::RESULT + 4)?;
    Ok(Some(Reply {
        status,
        result: (u64::from(hi) << 32) | u64::from(lo),
    }))
}

/// Calls `poll` until it yields an answer, sleeping in between, at most
/// `timeout_ms` milliseconds.
pub(crate) fn wait(
    mut poll: impl FnMut() -> Result<Option<Reply>>,
    timeout_ms: u32,
) -> Result<Reply> {
    let start = Instant::<Monotonic>::now();
    let limit = Delta::from_millis(i64::from(timeout_ms));
    loop {
        if let Some(r) = poll()? {
            return Ok(r);
        }
        if start.elapsed() > limit {
            return Err(ETIMEDOUT);
        }
        crate::support::pathtime::MAILBOX_SLEEPS.count(1);
        fsleep(Delta::from_micros(50));
    }
}
