// SPDX-License-Identifier: GPL-2.0

//! The mailbox transport in the shared memory: finding requests, copying
//! them out, and writing responses, with the ordering the layout in
//! `vmbus_proto::ivshmem` prescribes.

use std::sync::atomic::{fence, Ordering};

use vmbus_proto::ivshmem::{self, mailbox, HvStatus, IvshmemError, Request};

use crate::guest_mem::{MemError, MemRegion};

/// A request found in a mailbox: its index, the copied bytes, and the
/// decoded request (or why it could not be decoded).
pub struct Incoming {
    /// Mailbox index.
    pub index: u32,
    /// The mailbox bytes as copied (`mailbox::USED` of them).
    pub raw: Vec<u8>,
    /// The decoded request.
    pub request: Result<Request, IvshmemError>,
}

/// Offset of a field of mailbox `index`.
fn field(index: u32, off: usize) -> Result<u64, MemError> {
    ivshmem::mailbox_offset(index)
        .and_then(|b| b.checked_add(off))
        .map(|a| a as u64)
        .ok_or(MemError::OutOfRange {
            addr: u64::MAX,
            len: 0,
            size: 0,
        })
}

/// Copies out mailbox `index` if it holds a new request
/// (`req_seq != resp_seq`).
pub fn take(shm: &MemRegion, index: u32) -> Result<Option<Incoming>, MemError> {
    let req_seq = shm.read_u32(field(index, mailbox::REQ_SEQ)?)?;
    let resp_seq = shm.read_u32(field(index, mailbox::RESP_SEQ)?)?;
    if req_seq == resp_seq {
        return Ok(None);
    }
    // Pairs with the guest's write barrier before req_seq: everything the
    // guest wrote before req_seq is visible now.
    fence(Ordering::Acquire);
    let mut raw = vec![0u8; mailbox::USED];
    shm.read(field(index, 0)?, &mut raw)?;
    // Decode the sequence number we compared, not a newer one the guest
    // may have written since.
    raw[mailbox::REQ_SEQ..mailbox::REQ_SEQ + 4].copy_from_slice(&req_seq.to_le_bytes());
    let request = Request::decode(&raw);
    Ok(Some(Incoming {
        index,
        raw,
        request,
    }))
}

/// Writes the response to mailbox `index`: status and result, a barrier,
/// then `resp_seq = seq`.
pub fn respond(
    shm: &MemRegion,
    index: u32,
    seq: u32,
    status: HvStatus,
    result: u64,
) -> Result<(), MemError> {
    shm.write_u32(field(index, mailbox::STATUS)?, status.0)?;
    shm.write_u64(field(index, mailbox::RESULT)?, result)?;
    fence(Ordering::Release);
    shm.write_u32(field(index, mailbox::RESP_SEQ)?, seq)?;
    fence(Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbus_proto::ivshmem::Command;

    #[test]
    fn take_and_respond() {
        let shm = MemRegion::anonymous(0x10000).unwrap();
        assert!(take(&shm, 1).unwrap().is_none());
        let req = Request {
            seq: 5,
            cmd: Command::PING,
            vcpu: 0,
            args: [1, 2, 3, 4],
            data: [0; ivshmem::MAILBOX_DATA_SIZE],
        };
        let mut b = vec![0u8; mailbox::USED];
        req.encode(&mut b).unwrap();
        let base = ivshmem::mailbox_offset(1).unwrap() as u64;
        shm.write(base + 4, &b[4..]).unwrap();
        shm.write_u32(base, 5).unwrap();
        let inc = take(&shm, 1).unwrap().unwrap();
        assert_eq!(inc.index, 1);
        assert_eq!(inc.request, Ok(req));
        respond(&shm, 1, 5, HvStatus::INVALID_PARAMETER, 0x1234).unwrap();
        assert!(take(&shm, 1).unwrap().is_none());
        assert_eq!(shm.read_u32(base + 0x34).unwrap(), 5);
        assert_eq!(shm.read_u64(base + 0x38).unwrap(), 0x1234);
        // A mailbox past the end of the memory is an error, not a crash.
        assert!(take(&shm, 200).is_err());
    }
}
