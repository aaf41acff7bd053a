// SPDX-License-Identifier: GPL-2.0

//! The ivshmem test transport: the layout of the shared-memory mailbox.
//!
//! On real Hyper-V the guest reaches the hypervisor through hypercalls and
//! synthetic MSRs. Under QEMU without Hyper-V, rvmbus reaches
//! `tools/vmbus-host` through an `ivshmem-doorbell` PCI device instead: BAR2
//! is shared memory that holds a [`Header`] and a set of mailboxes, BAR0 holds
//! the doorbell register, and MSI-X vectors carry the host's interrupts.
//!
//! A mailbox is one outstanding request at a time:
//!
//! 1. the guest writes the request words and data (everything but
//!    `req_seq`), then a write barrier, then `req_seq` with a new sequence
//!    number that differs from the current `resp_seq` (both are 0 in fresh
//!    shared memory, so the first request uses 1), then rings the host's
//!    doorbell on [`DOORBELL_VECTOR`];
//! 2. the host copies the whole mailbox, decodes it with
//!    [`Request::decode`], carries it out, writes `status` and `result`,
//!    then a write barrier, then `resp_seq = req_seq`;
//! 3. the guest polls `resp_seq` (with a timeout: the host may be gone) and
//!    then reads `status` and `result`.
//!
//! Signals (`HvSignalEvent`) do not use a mailbox: the guest must be able to
//! signal from any context without waiting for the host, as a Hyper-V
//! fast hypercall does. They go through the [`signal`] ring after the
//! mailboxes, one connection id per entry, and a doorbell on
//! [`DOORBELL_VECTOR`]; the host drains the ring before it serves the
//! mailboxes, so a signal is seen before any request made after it.
//!
//! Everything is little-endian. The layout is versioned by
//! [`VERSION_MAJOR`]/[`VERSION_MINOR`]; a guest refuses a host whose major
//! version differs. Documentation/transport-ivshmem.rst describes the same
//! layout for people.

/// `"RVMB"` read as a little-endian `u32`: identifies an rvmbus host in BAR2.
pub const MAGIC: u32 = u32::from_le_bytes(*b"RVMB");
/// Major version of this layout. Incompatible changes bump it (2: signals
/// go through the [`signal`] ring, not a mailbox).
pub const VERSION_MAJOR: u16 = 2;
/// Minor version of this layout. Compatible additions bump it.
pub const VERSION_MINOR: u16 = 0;

/// PCI vendor id of QEMU's ivshmem devices (Red Hat, Inc.).
pub const PCI_VENDOR_ID: u16 = 0x1af4;
/// PCI device id of QEMU's ivshmem devices.
pub const PCI_DEVICE_ID: u16 = 0x1110;

/// BAR0 register: interrupt mask (unused with MSI-X).
pub const BAR0_INTR_MASK: usize = 0;
/// BAR0 register: interrupt status (unused with MSI-X).
pub const BAR0_INTR_STATUS: usize = 4;
/// BAR0 register: this peer's id, as assigned by the server.
pub const BAR0_IV_POSITION: usize = 8;
/// BAR0 register: doorbell, written as `(peer_id << 16) | vector`.
pub const BAR0_DOORBELL: usize = 12;

/// The vector the guest rings on the host's peer for a mailbox request.
pub const DOORBELL_VECTOR: u16 = 0;

/// Encodes the value written to [`BAR0_DOORBELL`] to ring `vector` of `peer`.
pub const fn doorbell_value(peer: u16, vector: u16) -> u32 {
    ((peer as u32) << 16) | vector as u32
}

/// Offset of the [`Header`] in BAR2.
pub const HEADER_OFFSET: usize = 0;
/// Size of the header area (the header is padded to this size).
pub const HEADER_SIZE: usize = 0x100;
/// Offset of mailbox 0 in BAR2.
pub const MAILBOX_OFFSET: usize = HEADER_SIZE;
/// Size of one mailbox (the stride between mailboxes).
pub const MAILBOX_SIZE: usize = 0x200;
/// The most mailboxes a host may announce.
pub const MAX_MAILBOXES: u32 = 64;
/// The most MSI-X vectors a host may announce.
pub const MAX_VECTORS: u32 = 64;
/// Size of the data area of a mailbox: exactly a Hyper-V post-message input.
pub const MAILBOX_DATA_SIZE: usize = 256;

/// Field offsets inside the header.
pub mod header {
    /// `u32`: [`super::MAGIC`].
    pub const MAGIC: usize = 0x00;
    /// `u16`: major version.
    pub const VERSION_MAJOR: usize = 0x04;
    /// `u16`: minor version.
    pub const VERSION_MINOR: usize = 0x06;
    /// `u32`: size of the whole shared memory (BAR2) in bytes.
    pub const SHM_SIZE: usize = 0x08;
    /// `u32`: feature bits; none are defined in version 1.0.
    pub const FEATURES: usize = 0x0c;
    /// `u32`: [`super::HostState`].
    pub const HOST_STATE: usize = 0x10;
    /// `u32`: number of MSI-X vectors the host raises (one per vCPU).
    pub const NUM_VECTORS: usize = 0x14;
    /// `u32`: number of mailboxes.
    pub const NUM_MAILBOXES: usize = 0x18;
    /// `u32`: the host's ivshmem peer id (the doorbell target).
    pub const HOST_PEER_ID: usize = 0x1c;
    /// `u64`: bytes of guest RAM the host has mapped (guest physical
    /// addresses below this are reachable).
    pub const GUEST_RAM_SIZE: usize = 0x20;
    /// Bytes of the header that carry fields.
    pub const USED: usize = 0x28;
}

/// Field offsets inside a mailbox.
pub mod mailbox {
    /// `u32`: request sequence number, written last by the guest.
    pub const REQ_SEQ: usize = 0x00;
    /// `u32`: [`super::Command`].
    pub const CMD: usize = 0x04;
    /// `u32`: the vCPU the request is made on.
    pub const VCPU: usize = 0x08;
    /// `u32`: reserved, zero.
    pub const RESERVED: usize = 0x0c;
    /// `[u64; 4]`: command arguments.
    pub const ARGS: usize = 0x10;
    /// `u32`: response sequence number, written last by the host.
    pub const RESP_SEQ: usize = 0x30;
    /// `u32`: Hyper-V status code of the request.
    pub const STATUS: usize = 0x34;
    /// `u64`: command result.
    pub const RESULT: usize = 0x38;
    /// `[u8; 256]`: data (a post-message input for [`super::Command::POST_MESSAGE`]).
    pub const DATA: usize = 0x40;
    /// Bytes of the mailbox that carry fields.
    pub const USED: usize = DATA + super::MAILBOX_DATA_SIZE;
}

/// The signal ring: a single-producer (the guest, under its own lock),
/// single-consumer (the host) ring of connection ids, right after the last
/// mailbox ([`signal_offset`]).
///
/// Each side writes only its own words: the guest `HEAD`, `OVERFLOWS` and
/// the entries, the host `TAIL`. Both indices run freely (they wrap at
/// 2^32); entry `i` is at `ENTRIES + (i % SLOTS) * 4`.
///
/// 1. The guest reads `TAIL`; if `HEAD - TAIL < SLOTS` it writes the
///    connection id into entry `HEAD`, a write barrier, then `HEAD + 1`;
///    otherwise (the ring is full, or `TAIL` is nonsense) it increments
///    `OVERFLOWS` instead. Then it rings the doorbell on
///    [`super::DOORBELL_VECTOR`] and goes on: it never waits.
/// 2. The host reads `HEAD`; if `HEAD - TAIL > SLOTS` the guest is broken
///    and it treats it as an overflow. It signals the connection of each
///    entry from `TAIL` to `HEAD`, then writes `TAIL = HEAD`. When
///    `OVERFLOWS` changed since it last looked, it signals every open
///    channel (a spurious signal is harmless; a lost one is not).
pub mod signal {
    /// `u32`: entries written, by the guest.
    pub const HEAD: usize = 0x00;
    /// `u32`: entries consumed, by the host.
    pub const TAIL: usize = 0x04;
    /// `u32`: signals that found the ring full, by the guest.
    pub const OVERFLOWS: usize = 0x08;
    /// `u32`: reserved, zero.
    pub const RESERVED: usize = 0x0c;
    /// `[u32; SLOTS]`: connection ids.
    pub const ENTRIES: usize = 0x10;
    /// Entries in the ring.
    pub const SLOTS: u32 = 256;
    /// Size of the signal area.
    pub const SIZE: usize = ENTRIES + SLOTS as usize * 4;

    /// Offset of entry `index` (a free-running index) in the area.
    pub const fn entry(index: u32) -> usize {
        ENTRIES + (index % SLOTS) as usize * 4
    }

    /// Entries waiting between `tail` and `head`, or `None` when the
    /// distance is more than the ring holds (a side that broke the ring).
    pub const fn pending(head: u32, tail: u32) -> Option<u32> {
        let n = head.wrapping_sub(tail);
        if n > SLOTS {
            None
        } else {
            Some(n)
        }
    }
}

const _: () = assert!(header::USED <= HEADER_SIZE);
const _: () = assert!(mailbox::USED <= MAILBOX_SIZE);

/// Offset of the signal ring in BAR2 for `num_mailboxes` mailboxes, or
/// `None` if it would overflow.
pub const fn signal_offset(num_mailboxes: u32) -> Option<usize> {
    mailbox_offset(num_mailboxes)
}

/// Bytes of BAR2 the layout needs for `num_mailboxes` mailboxes: the
/// header, the mailboxes and the signal ring.
pub const fn layout_size(num_mailboxes: u32) -> Option<usize> {
    match signal_offset(num_mailboxes) {
        Some(off) => off.checked_add(signal::SIZE),
        None => None,
    }
}

/// Offset of mailbox `index` in BAR2, or `None` if it would overflow.
pub const fn mailbox_offset(index: u32) -> Option<usize> {
    match (index as usize).checked_mul(MAILBOX_SIZE) {
        Some(off) => off.checked_add(MAILBOX_OFFSET),
        None => None,
    }
}

/// The host's state as announced in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostState(pub u32);

impl HostState {
    /// The host has not finished setting up the shared memory.
    pub const STARTING: Self = Self(0);
    /// The host serves mailbox requests.
    pub const READY: Self = Self(1);
    /// The host has shut down; requests will not be answered.
    pub const GONE: Self = Self(2);
}

/// A mailbox command. An open newtype: unknown values stay representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command(pub u32);

impl Command {
    /// Hyper-V `HvPostMessage`; `data` holds the post-message input
    /// (connection id, reserved, message type, payload size, payload).
    pub const POST_MESSAGE: Self = Self(1);
    /// Hyper-V `HvSignalEvent`; `args[0]` is the connection id, `args[1]`
    /// the flag number.
    pub const SIGNAL_EVENT: Self = Self(2);
    /// The SynIC set-up that Hyper-V does with MSRs, for the calling vCPU:
    /// `args[0]` is the SIMP value (page GPA | enable bit 0), `args[1]` the
    /// SIEFP value (page GPA | enable bit 0), `args[2]` the SINT number,
    /// `args[3]` the MSI-X vector for that SINT on this vCPU, with bit 32
    /// set to mask the SINT.
    pub const SYNIC_SETUP: Self = Self(3);
    /// End of message on the calling vCPU: the host may deliver the next
    /// pending message into the SINT's slot.
    pub const EOM: Self = Self(4);
    /// Transport self-test: the host reads `args[1]` bytes at guest physical
    /// address `args[0]`, replaces each byte by its complement, returns the
    /// sum of the bytes it read in `result`, and raises MSI-X vector
    /// `args[2]`. `args[3]` is a cookie the host echoes into `result`'s
    /// upper 32 bits.
    pub const PING: Self = Self(5);
    /// The guest driver attaches: `args[0]` is the guest's layout version
    /// (`major << 16 | minor`), `args[1]` its number of possible vCPUs.
    /// `result` is the host's layout version. Resets host-side state of a
    /// previous guest driver instance.
    pub const HELLO: Self = Self(6);
    /// The guest driver detaches; the host forgets SynIC set-up and drops
    /// pending messages.
    pub const GOODBYE: Self = Self(7);
}

/// Hyper-V hypercall status codes used by the mailbox (TLFS values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvStatus(pub u32);

impl HvStatus {
    /// The call succeeded.
    pub const SUCCESS: Self = Self(0x0000);
    /// The hypercall code is not recognised.
    pub const INVALID_HYPERCALL_CODE: Self = Self(0x0002);
    /// An input parameter is invalid.
    pub const INVALID_PARAMETER: Self = Self(0x0005);
    /// The caller's partition may not do this.
    pub const ACCESS_DENIED: Self = Self(0x0006);
    /// The port id (of a post-message target) is not valid.
    pub const INVALID_PORT_ID: Self = Self(0x0011);
    /// The connection id is not known.
    pub const INVALID_CONNECTION_ID: Self = Self(0x0012);
    /// The hypervisor is short of memory for the call; the caller should
    /// retry.
    pub const INSUFFICIENT_MEMORY: Self = Self(0x000b);
    /// The message queue is full; the caller should retry.
    pub const INSUFFICIENT_BUFFERS: Self = Self(0x0013);
    /// A parameter is not aligned as the call requires.
    pub const INVALID_ALIGNMENT: Self = Self(0x0004);
}

/// A mailbox request, copied out of shared memory and decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request's sequence number.
    pub seq: u32,
    /// The command, possibly unknown.
    pub cmd: Command,
    /// The vCPU the guest made the request on.
    pub vcpu: u32,
    /// The arguments.
    pub args: [u64; 4],
    /// The data area.
    pub data: [u8; MAILBOX_DATA_SIZE],
}

/// Errors decoding shared-memory structures of this transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvshmemError {
    /// The buffer is shorter than the structure.
    Truncated,
    /// The header does not carry [`MAGIC`].
    BadMagic(u32),
    /// The host speaks an incompatible major version.
    Version(u16, u16),
    /// A count in the header is out of range.
    BadCount,
    /// The announced sizes do not fit the shared memory.
    BadSize,
}

fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

fn rd_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

fn wr(b: &mut [u8], off: usize, v: &[u8]) -> Option<()> {
    b.get_mut(off..off.checked_add(v.len())?)?
        .copy_from_slice(v);
    Some(())
}

impl Request {
    /// Decodes a request from a copy of a mailbox (at least
    /// [`mailbox::USED`] bytes).
    pub fn decode(b: &[u8]) -> Result<Self, IvshmemError> {
        let t = IvshmemError::Truncated;
        let mut args = [0u64; 4];
        for (i, a) in args.iter_mut().enumerate() {
            *a = rd_u64(b, mailbox::ARGS + i * 8).ok_or(t)?;
        }
        let mut data = [0u8; MAILBOX_DATA_SIZE];
        data.copy_from_slice(
            b.get(mailbox::DATA..mailbox::DATA + MAILBOX_DATA_SIZE)
                .ok_or(t)?,
        );
        Ok(Self {
            seq: rd_u32(b, mailbox::REQ_SEQ).ok_or(t)?,
            cmd: Command(rd_u32(b, mailbox::CMD).ok_or(t)?),
            vcpu: rd_u32(b, mailbox::VCPU).ok_or(t)?,
            args,
            data,
        })
    }

    /// Encodes the request into `b` (at least [`mailbox::USED`] bytes),
    /// sequence number included; the guest writes the bytes other than
    /// `req_seq` first.
    pub fn encode(&self, b: &mut [u8]) -> Result<(), IvshmemError> {
        let t = IvshmemError::Truncated;
        if b.len() < mailbox::USED {
            return Err(t);
        }
        wr(b, mailbox::REQ_SEQ, &self.seq.to_le_bytes()).ok_or(t)?;
        wr(b, mailbox::CMD, &self.cmd.0.to_le_bytes()).ok_or(t)?;
        wr(b, mailbox::VCPU, &self.vcpu.to_le_bytes()).ok_or(t)?;
        wr(b, mailbox::RESERVED, &0u32.to_le_bytes()).ok_or(t)?;
        for (i, a) in self.args.iter().enumerate() {
            wr(b, mailbox::ARGS + i * 8, &a.to_le_bytes()).ok_or(t)?;
        }
        wr(b, mailbox::DATA, &self.data).ok_or(t)?;
        Ok(())
    }
}

/// The header as the guest reads it, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Major version.
    pub version_major: u16,
    /// Minor version.
    pub version_minor: u16,
    /// Size of the shared memory in bytes.
    pub shm_size: u32,
    /// Feature bits.
    pub features: u32,
    /// Host state.
    pub host_state: HostState,
    /// Number of MSI-X vectors the host raises.
    pub num_vectors: u32,
    /// Number of mailboxes.
    pub num_mailboxes: u32,
    /// The host's peer id.
    pub host_peer_id: u16,
    /// Guest RAM the host has mapped.
    pub guest_ram_size: u64,
}

impl Header {
    /// Decodes and validates a copy of the header; `bar_size` is the size of
    /// the shared memory as the guest's PCI BAR says.
    pub fn decode(b: &[u8], bar_size: u64) -> Result<Self, IvshmemError> {
        let t = IvshmemError::Truncated;
        let magic = rd_u32(b, header::MAGIC).ok_or(t)?;
        if magic != MAGIC {
            return Err(IvshmemError::BadMagic(magic));
        }
        let major = rd_u16(b, header::VERSION_MAJOR).ok_or(t)?;
        let minor = rd_u16(b, header::VERSION_MINOR).ok_or(t)?;
        if major != VERSION_MAJOR {
            return Err(IvshmemError::Version(major, minor));
        }
        let num_vectors = rd_u32(b, header::NUM_VECTORS).ok_or(t)?;
        let num_mailboxes = rd_u32(b, header::NUM_MAILBOXES).ok_or(t)?;
        if num_vectors == 0
            || num_vectors > MAX_VECTORS
            || num_mailboxes == 0
            || num_mailboxes > MAX_MAILBOXES
        {
            return Err(IvshmemError::BadCount);
        }
        let peer = rd_u32(b, header::HOST_PEER_ID).ok_or(t)?;
        let host_peer_id = u16::try_from(peer).map_err(|_| IvshmemError::BadCount)?;
        let shm_size = rd_u32(b, header::SHM_SIZE).ok_or(t)?;
        let end = layout_size(num_mailboxes).ok_or(IvshmemError::BadSize)?;
        if end as u64 > u64::from(shm_size) || u64::from(shm_size) > bar_size {
            return Err(IvshmemError::BadSize);
        }
        Ok(Self {
            version_major: major,
            version_minor: minor,
            shm_size,
            features: rd_u32(b, header::FEATURES).ok_or(t)?,
            host_state: HostState(rd_u32(b, header::HOST_STATE).ok_or(t)?),
            num_vectors,
            num_mailboxes,
            host_peer_id,
            guest_ram_size: rd_u64(b, header::GUEST_RAM_SIZE).ok_or(t)?,
        })
    }

    /// Encodes the header into `b` (at least [`header::USED`] bytes); used by
    /// the host.
    pub fn encode(&self, b: &mut [u8]) -> Result<(), IvshmemError> {
        let t = IvshmemError::Truncated;
        if b.len() < header::USED {
            return Err(t);
        }
        wr(b, header::MAGIC, &MAGIC.to_le_bytes()).ok_or(t)?;
        wr(b, header::VERSION_MAJOR, &self.version_major.to_le_bytes()).ok_or(t)?;
        wr(b, header::VERSION_MINOR, &self.version_minor.to_le_bytes()).ok_or(t)?;
        wr(b, header::SHM_SIZE, &self.shm_size.to_le_bytes()).ok_or(t)?;
        wr(b, header::FEATURES, &self.features.to_le_bytes()).ok_or(t)?;
        wr(b, header::HOST_STATE, &self.host_state.0.to_le_bytes()).ok_or(t)?;
        wr(b, header::NUM_VECTORS, &self.num_vectors.to_le_bytes()).ok_or(t)?;
        wr(b, header::NUM_MAILBOXES, &self.num_mailboxes.to_le_bytes()).ok_or(t)?;
        wr(
            b,
            header::HOST_PEER_ID,
            &u32::from(self.host_peer_id).to_le_bytes(),
        )
        .ok_or(t)?;
        wr(
            b,
            header::GUEST_RAM_SIZE,
            &self.guest_ram_size.to_le_bytes(),
        )
        .ok_or(t)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> Header {
        Header {
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            shm_size: 0x1_0000,
            features: 0,
            host_state: HostState::READY,
            num_vectors: 2,
            num_mailboxes: 4,
            host_peer_id: 0,
            guest_ram_size: 512 << 20,
        }
    }

    #[test]
    fn header_round_trip() {
        let mut b = [0u8; HEADER_SIZE];
        hdr().encode(&mut b).unwrap();
        assert_eq!(&b[0..4], b"RVMB");
        assert_eq!(Header::decode(&b, 0x1_0000), Ok(hdr()));
    }

    #[test]
    fn header_rejects_bad_values() {
        let mut b = [0u8; HEADER_SIZE];
        assert_eq!(Header::decode(&b, 0x1_0000), Err(IvshmemError::BadMagic(0)));
        hdr().encode(&mut b).unwrap();
        assert_eq!(Header::decode(&b, 0x8000), Err(IvshmemError::BadSize));
        assert_eq!(
            Header::decode(&b[..8], 0x1_0000),
            Err(IvshmemError::Truncated)
        );
        let mut h = hdr();
        h.num_mailboxes = MAX_MAILBOXES + 1;
        h.encode(&mut b).unwrap();
        assert_eq!(Header::decode(&b, 0x1_0000), Err(IvshmemError::BadCount));
        let mut h = hdr();
        h.num_mailboxes = 1000;
        h.shm_size = 0x1000;
        h.encode(&mut b).unwrap();
        assert_eq!(Header::decode(&b, 0x1_0000), Err(IvshmemError::BadCount));
        let mut h = hdr();
        h.version_major = 3;
        h.encode(&mut b).unwrap();
        assert_eq!(
            Header::decode(&b, 0x1_0000),
            Err(IvshmemError::Version(3, 0))
        );
    }

    #[test]
    fn request_round_trip() {
        let mut data = [0u8; MAILBOX_DATA_SIZE];
        data[5] = 7;
        let r = Request {
            seq: 9,
            cmd: Command::PING,
            vcpu: 1,
            args: [0x1000, 64, 1, 0xdead],
            data,
        };
        let mut b = [0u8; MAILBOX_SIZE];
        r.encode(&mut b).unwrap();
        assert_eq!(Request::decode(&b), Ok(r));
        assert_eq!(Request::decode(&b[..100]), Err(IvshmemError::Truncated));
        assert_eq!(r.encode(&mut [0u8; 10]), Err(IvshmemError::Truncated));
    }

    #[test]
    fn signal_ring_arithmetic() {
        assert_eq!(signal::entry(0), signal::ENTRIES);
        assert_eq!(signal::entry(signal::SLOTS + 1), signal::ENTRIES + 4);
        assert_eq!(signal::pending(5, 5), Some(0));
        assert_eq!(signal::pending(2, u32::MAX), Some(3));
        assert_eq!(signal::pending(signal::SLOTS, 0), Some(signal::SLOTS));
        assert_eq!(signal::pending(signal::SLOTS + 1, 0), None);
        assert_eq!(signal::pending(0, 1), None);
        assert_eq!(signal_offset(4), mailbox_offset(4));
        assert_eq!(layout_size(4), Some(0x900 + signal::SIZE));
        // A header whose shared memory ends inside the signal ring is refused.
        let mut b = [0u8; HEADER_SIZE];
        let mut h = hdr();
        h.shm_size = 0x900 + 8;
        h.encode(&mut b).unwrap();
        assert_eq!(Header::decode(&b, 0x1_0000), Err(IvshmemError::BadSize));
    }

    #[test]
    fn offsets() {
        assert_eq!(mailbox_offset(0), Some(0x100));
        assert_eq!(mailbox_offset(2), Some(0x500));
        assert_eq!(doorbell_value(1, 3), 0x1_0003);
    }
}
