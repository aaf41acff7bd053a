// SPDX-License-Identifier: GPL-2.0

//! The receive path: the host writes each RNDIS message it sends to the
//! guest (frames, control answers, indications) into free sections of the
//! guest's receive buffer and sends a transfer-page packet naming them;
//! the guest copies the message out and completes the packet, which frees
//! the sections again.
//!
//! The sections are the host's to hand out: the guest only sees their
//! offsets. Linux's netvsc copies each message into a buffer of one
//! section and drops a larger one, so a message larger than a section is
//! refused here ([`RxError::TooLarge`]). Completions come back with the
//! transaction id the host chose; one that names no packet in flight is an
//! error for that completion only.

use std::collections::BTreeMap;

use vmbus_proto::nvsp::encode;
use vmbus_proto::packet::encode_transfer_pages;
use vmbus_proto::wire::nvsp::{
    NvspMsgType, NvspRecvBufComplete, NvspRecvSection, NvspRndisPacket, NvspStatus,
    INVALID_SECTION_INDEX, NVSP_MESSAGE_SIZE, RECEIVE_BUFFER_ID,
};
use vmbus_proto::wire::packet::{
    TransferPageHeader, TransferPageRange, PACKET_FLAG_COMPLETION_REQUESTED,
};
use vmbus_proto::wire::Wire;

use super::buffers::{BufferError, GuestBuffer};
use crate::guest_mem::MemRegion;

/// Bytes per receive section (Linux's default, `NETVSC_RECV_SECTION_SIZE`:
/// an Ethernet frame of 1514 bytes, its RNDIS header and per-packet
/// information).
pub const RECV_SECTION_SIZE: u32 = 1728;
/// Most transfer-page packets in flight per channel.
pub const MAX_IN_FLIGHT: usize = 4096;

/// Why a message could not be sent to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RxError {
    /// There is no receive buffer yet.
    NoBuffer,
    /// No free section.
    Full,
    /// A message of this many bytes does not fit one section.
    TooLarge(usize),
    /// Too many packets wait for their completions.
    TooManyInFlight,
    /// Writing into the buffer failed.
    Buffer(BufferError),
}

/// The receive buffer and its section allocator.
#[derive(Debug)]
pub struct RecvBuffer {
    /// Tells this buffer from earlier ones of the same adapter (the
    /// guest may revoke a buffer and give another while packets of the
    /// old one are still in flight on some channel).
    pub generation: u64,
    buf: GuestBuffer,
    section_size: u32,
    /// Free sections, taken from the end.
    free: Vec<u32>,
    /// Whether each section is in use.
    used: Vec<bool>,
}

/// The section given to one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section(pub u32);

impl RecvBuffer {
    /// Cuts `buf` into sections of `section_size` bytes.
    pub fn new(buf: GuestBuffer, section_size: u32) -> Result<Self, BufferError> {
        let count = buf.len() / u64::from(section_size.max(1));
        let count = usize::try_from(count).map_err(|_| BufferError::BadSize(buf.len()))?;
        let count32 = u32::try_from(count).map_err(|_| BufferError::BadSize(buf.len()))?;
        if count == 0 {
            return Err(BufferError::BadSize(buf.len()));
        }
        Ok(Self {
            generation: 0,
            buf,
            section_size,
            // Section 0 is handed out first.
            free: (0..count32).rev().collect(),
            used: vec![false; count],
        })
    }

    /// The GPADL of the buffer.
    pub fn gpadl(&self) -> u32 {
        self.buf.gpadl
    }

    /// Free sections.
    pub fn free_sections(&self) -> usize {
        self.free.len()
    }

    /// Bytes per section.
    pub fn section_size(&self) -> u32 {
        self.section_size
    }

    /// The `SEND_RECV_BUF_COMPLETE` that describes the sections.
    pub fn complete(&self) -> NvspRecvBufComplete {
        // CAST: `new` checked that the count fits a u32.
        let count = self.used.len() as u32;
        NvspRecvBufComplete {
            status: NvspStatus::SUCCESS,
            num_sections: 1,
            section: NvspRecvSection {
                offset: 0,
                sub_alloc_size: self.section_size,
                num_sub_allocs: count,
                end_offset: count.saturating_mul(self.section_size),
            },
        }
    }

    /// Takes a free section.
    pub fn alloc(&mut self) -> Option<Section> {
        let i = self.free.pop()?;
        if let Some(u) = self.used.get_mut(i as usize) {
            *u = true;
        }
        Some(Section(i))
    }

    /// Gives a section back; one not in use is ignored.
    pub fn release(&mut self, s: Section) {
        if let Some(u) = self.used.get_mut(s.0 as usize) {
            if *u {
                *u = false;
                self.free.push(s.0);
            }
        }
    }
}

/// The transfer-page packets of one channel that wait for their
/// completions.
#[derive(Debug, Default)]
pub struct InFlight {
    next_id: u64,
    /// The buffer generation and the sections of each packet.
    packets: BTreeMap<u64, (u64, Section)>,
}

impl InFlight {
    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Takes the packet `trans_id` out of flight: false if it was not in
    /// flight. Its sections go back to `recv` if they are of that buffer.
    pub fn complete(&mut self, trans_id: u64, recv: Option<&mut RecvBuffer>) -> bool {
        let Some((generation, s)) = self.packets.remove(&trans_id) else {
            return false;
        };
        if let Some(r) = recv.filter(|r| r.generation == generation) {
            r.release(s);
        }
        true
    }

    /// Forgets every packet (the channel closed); their sections go back
    /// to `recv` if they are of that buffer.
    pub fn clear(&mut self, mut recv: Option<&mut RecvBuffer>) {
        for (generation, s) in std::mem::take(&mut self.packets).into_values() {
            if let Some(r) = recv.as_deref_mut().filter(|r| r.generation == generation) {
                r.release(s);
            }
        }
    }
}

/// Writes the RNDIS message `msg` into a free section of `recv` and
/// returns the transfer-page packet that hands it to the guest;
/// `channel_type` is 0 for data and 1 for control.
pub fn build(
    recv: &mut RecvBuffer,
    flight: &mut InFlight,
    mem: &MemRegion,
    channel_type: u32,
    msg: &[u8],
) -> Result<Vec<u8>, RxError> {
    if flight.len() >= MAX_IN_FLIGHT {
        return Err(RxError::TooManyInFlight);
    }
    if msg.len() > recv.section_size as usize {
        return Err(RxError::TooLarge(msg.len()));
    }
    let s = recv.alloc().ok_or(RxError::Full)?;
    let off = u64::from(s.0) * u64::from(recv.section_size);
    if let Err(e) = recv.buf.write(mem, off, msg) {
        recv.release(s);
        return Err(RxError::Buffer(e));
    }
    let nvsp = encode(
        NvspMsgType::SEND_RNDIS_PKT,
        &NvspRndisPacket {
            channel_type,
            send_buf_section_index: INVALID_SECTION_INDEX,
            send_buf_section_size: 0,
        },
    )
    .unwrap_or([0; NVSP_MESSAGE_SIZE]);
    // CAST: the message fits a section and the section lies in a buffer
    // of at most MAX_BUFFER bytes.
    let range = TransferPageRange {
        byte_count: msg.len() as u32,
        byte_offset: off as u32,
    };
    let trans_id = flight.next_id;
    flight.next_id = flight.next_id.wrapping_add(1);
    let mut pkt =
        vec![0u8; TransferPageHeader::SIZE + TransferPageRange::SIZE + 8 + NVSP_MESSAGE_SIZE];
    match encode_transfer_pages(
        &mut pkt,
        PACKET_FLAG_COMPLETION_REQUESTED,
        trans_id,
        RECEIVE_BUFFER_ID,
        &[range],
        &nvsp,
    ) {
        Ok(n) => pkt.truncate(n),
        Err(_) => {
            recv.release(s);
            return Err(RxError::TooLarge(msg.len()));
        }
    }
    flight.packets.insert(trans_id, (recv.generation, s));
    Ok(pkt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmbus_proto::packet::{parse, PacketKind};

    const PAGE: u64 = 4096;

    #[test]
    fn sections_are_handed_out_once() {
        let mut r = RecvBuffer::new(GuestBuffer::from_pfns(1, vec![1, 2]), 1000).unwrap();
        assert_eq!(r.free_sections(), 8);
        let a = r.alloc().unwrap();
        let b = r.alloc().unwrap();
        assert_eq!((a, b), (Section(0), Section(1)));
        r.release(a);
        r.release(a);
        assert_eq!(r.free_sections(), 7);
        // Releasing a section that does not exist changes nothing.
        r.release(Section(100));
        assert_eq!(r.free_sections(), 7);
        while r.alloc().is_some() {}
        assert_eq!(r.free_sections(), 0);
        assert_eq!(r.complete().section.num_sub_allocs, 8);
    }

    #[test]
    fn build_writes_the_message_and_completion_frees_it() {
        let mem = MemRegion::anonymous(8 * PAGE).unwrap();
        let mut r = RecvBuffer::new(GuestBuffer::from_pfns(1, vec![3, 4]), 1728).unwrap();
        let mut f = InFlight::default();
        let pkt = build(&mut r, &mut f, &mem, 0, b"rndis-message").unwrap();
        let p = parse(&pkt).unwrap();
        let PacketKind::TransferPages {
            pageset_id, ranges, ..
        } = p.kind
        else {
            panic!("{:?}", p.kind)
        };
        assert_eq!(pageset_id, RECEIVE_BUFFER_ID);
        let range = ranges.iter().next().unwrap();
        assert_eq!(range.byte_count, 13);
        let mut got = [0u8; 13];
        mem.read(3 * PAGE + u64::from(range.byte_offset), &mut got)
            .unwrap();
        assert_eq!(&got, b"rndis-message");
        assert_eq!(r.free_sections(), 3);
        assert!(f.complete(p.desc.trans_id, Some(&mut r)));
        assert_eq!(r.free_sections(), 4);
        assert!(!f.complete(p.desc.trans_id, Some(&mut r)));
    }

    #[test]
    fn completions_of_an_old_buffer_do_not_free_the_new_one() {
        let mem = MemRegion::anonymous(8 * PAGE).unwrap();
        let mut old = RecvBuffer::new(GuestBuffer::from_pfns(1, vec![3]), 1024).unwrap();
        let mut f = InFlight::default();
        let a = parse_id(&build(&mut old, &mut f, &mem, 0, b"a").unwrap());
        let b = parse_id(&build(&mut old, &mut f, &mem, 0, b"b").unwrap());
        let mut new = RecvBuffer::new(GuestBuffer::from_pfns(2, vec![4]), 1024).unwrap();
        new.generation = 1;
        build(&mut new, &mut f, &mem, 0, b"c").unwrap();
        assert_eq!(new.free_sections(), 3);
        assert!(f.complete(a, Some(&mut new)));
        assert_eq!(new.free_sections(), 3);
        f.clear(Some(&mut new));
        assert_eq!(new.free_sections(), 4);
        assert!(!f.complete(b, Some(&mut new)));
    }

    fn parse_id(p: &[u8]) -> u64 {
        parse(p).unwrap().desc.trans_id
    }

    #[test]
    fn a_full_buffer_refuses() {
        let mem = MemRegion::anonymous(8 * PAGE).unwrap();
        let mut r = RecvBuffer::new(GuestBuffer::from_pfns(1, vec![3]), 2048).unwrap();
        let mut f = InFlight::default();
        assert_eq!(
            build(&mut r, &mut f, &mem, 0, &[1; 2049]),
            Err(RxError::TooLarge(2049))
        );
        build(&mut r, &mut f, &mem, 0, &[1; 2048]).unwrap();
        build(&mut r, &mut f, &mem, 0, &[1; 10]).unwrap();
        assert_eq!(build(&mut r, &mut f, &mem, 0, &[1; 10]), Err(RxError::Full));
        // A buffer whose page is outside guest RAM fails the write and
        // keeps its sections.
        let mut far = RecvBuffer::new(GuestBuffer::from_pfns(1, vec![1 << 30]), 2048).unwrap();
        assert!(matches!(
            build(&mut far, &mut f, &mem, 0, &[1; 10]),
            Err(RxError::Buffer(_))
        ));
        assert_eq!(far.free_sections(), 2);
    }
}
