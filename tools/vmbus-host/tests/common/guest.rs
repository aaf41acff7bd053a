// SPDX-License-Identifier: GPL-2.0

//! A scripted guest built on `vmbus_proto`: it posts channel messages
//! through the mailbox, reads the host's answers from its SynIC message
//! slot (EOM as Linux does), and drives channel rings in the fake guest
//! RAM as a guest driver does.

use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use vmbus_host::vmbus::ring_mem::RingPages;
use vmbus_proto::gpadl::GpadlMessages;
use vmbus_proto::ivshmem::{Command, HvStatus};
use vmbus_proto::message::{ContactRequest, GuestMessage, HostMessage, Offer, OpenRequest};
use vmbus_proto::packet::{encode_gpa_direct, encode_inband};
use vmbus_proto::ring::{init_control, RingConsumer, RingError, RingProducer};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::version::Version;
use vmbus_proto::wire::channel_msg::{GpaRange, TargetInfo};
use vmbus_proto::wire::packet::{PacketType, RING_FEATURE_PENDING_SEND_SIZE};

use super::{FakeQemu, HostProc, SIEFP, SIMP, SINT, TIMEOUT};

/// The guest → host monitor page (`monitor_page2`).
pub const MONITOR_PAGE2: u64 = 0x21000;
/// Where ring pages are allocated from.
pub const FIRST_RING_PAGE: u64 = 0x100;
/// Scratch pages for GPA-direct data.
pub const SCRATCH: u64 = 0x80000;

/// One open channel as the guest sees it.
pub struct GuestChannel {
    pub relid: Relid,
    pub gpadl: GpadlId,
    pub offer: Offer,
    pub g2h: RingPages,
    pub h2g: RingPages,
    pub tx: RingProducer,
    pub rx: RingConsumer,
}

pub struct Guest {
    pub q: FakeQemu,
    next_page: u64,
    next_gpadl: u32,
}

impl Guest {
    pub fn new(h: &HostProc) -> Self {
        Self {
            q: FakeQemu::with_synic(h),
            next_page: FIRST_RING_PAGE,
            next_gpadl: 0x100,
        }
    }

    pub fn post(&mut self, conn: u32, m: &GuestMessage) -> HvStatus {
        let enc = m.encode();
        let b = enc.as_bytes();
        let mut d = Vec::new();
        for w in [conn, 0, 1, b.len() as u32] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        d.extend_from_slice(b);
        self.q.call(Command::POST_MESSAGE, 0, [0; 4], &d).0
    }

    /// Takes the next message from SINT 2's slot: copy, free the slot,
    /// then EOM if the host flagged a pending message (Linux's order).
    pub fn recv(&mut self) -> HostMessage {
        let p = self.recv_raw();
        HostMessage::decode(&p).expect("host message decodes")
    }

    /// The next message's payload bytes, undecoded.
    pub fn recv_raw(&mut self) -> Vec<u8> {
        self.try_recv_raw(TIMEOUT)
            .expect("no message from the host")
    }

    /// The next message's payload, or `None` after `wait`.
    pub fn try_recv_raw(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let base = SIMP + SINT * 256;
        let deadline = Instant::now() + wait;
        while self.q.ram.read_u32(base).unwrap() == 0 {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        fence(Ordering::Acquire);
        let mut hdr = [0u8; 16];
        self.q.ram.read(base, &mut hdr).unwrap();
        assert_eq!(u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]), 1);
        let mut p = vec![0u8; usize::from(hdr[4])];
        self.q.ram.read(base + 16, &mut p).unwrap();
        self.q.ram.write_u32(base, 0).unwrap();
        fence(Ordering::SeqCst);
        let mut flags = [0u8; 1];
        self.q.ram.read(base + 5, &mut flags).unwrap();
        if flags[0] & 1 != 0 {
            assert_eq!(
                self.q.call(Command::EOM, 0, [0; 4], &[]).0,
                HvStatus::SUCCESS
            );
        }
        Some(p)
    }

    pub fn contact(&mut self, v: Version, conn: u32) -> HvStatus {
        let info = if v.uses_target_info() {
            TargetInfo {
                msg_sint: 2,
                msg_vtl: 0,
                feature_flags: 0,
            }
            .to_u64()
        } else {
            0
        };
        self.post(
            conn,
            &GuestMessage::InitiateContact(ContactRequest {
                version: v,
                target_vcpu: 0,
                interrupt_page_or_target_info: info,
                monitor_page1: 0x20000,
                monitor_page2: 0x21000,
            }),
        )
    }

    pub fn version_reply(&mut self) -> (bool, u32) {
        match self.recv() {
            HostMessage::VersionResponse(r) => (r.supported, r.msg_conn_id),
            m => panic!("expected VERSION_RESPONSE, got {m:?}"),
        }
    }

    /// Contacts at `v` (connection id as Linux picks it), asks for offers
    /// and returns them.
    pub fn connect(&mut self, v: Version) -> Vec<Offer> {
        assert_eq!(
            self.contact(v, v.contact_connection_id()),
            HvStatus::SUCCESS
        );
        assert!(self.version_reply().0);
        assert_eq!(
            self.post(v.contact_connection_id(), &GuestMessage::RequestOffers),
            HvStatus::SUCCESS
        );
        let mut offers = Vec::new();
        loop {
            match self.recv() {
                HostMessage::Offer(o) => offers.push(o),
                HostMessage::AllOffersDelivered => return offers,
                m => panic!("unexpected {m:?}"),
            }
        }
    }

    /// Creates a ring GPADL (`pages` per ring, each plus a control page),
    /// opens the channel and sets up both ring ends.
    pub fn open(&mut self, offer: Offer, pages: u64) -> GuestChannel {
        self.try_open(offer, pages, 4)
            .unwrap_or_else(|m| panic!("open failed: {m:?}"))
    }

    /// Like [`Guest::open`], on connection id `conn`; the unexpected
    /// message on failure.
    pub fn try_open(
        &mut self,
        offer: Offer,
        pages: u64,
        conn: u32,
    ) -> Result<GuestChannel, Box<HostMessage>> {
        self.try_open_sized(offer, pages, pages, conn)
    }

    /// Like [`Guest::try_open`] with rings of different sizes, as hv_sock
    /// opens them: `out_pages` data pages guest → host, `in_pages` host →
    /// guest, each plus its control page; the open's downstream offset is
    /// `out_pages + 1`.
    pub fn try_open_sized(
        &mut self,
        offer: Offer,
        out_pages: u64,
        in_pages: u64,
        conn: u32,
    ) -> Result<GuestChannel, Box<HostMessage>> {
        let relid = offer.relid;
        let n = out_pages + 1;
        let m = in_pages + 1;
        let first = self.next_page;
        self.next_page += n + m;
        let pfns: Vec<u64> = (first..first + n + m).collect();
        let g2h = RingPages {
            control: first,
            data: (first + 1..first + n).collect(),
        };
        let h2g = RingPages {
            control: first + n,
            data: (first + n + 1..first + n + m).collect(),
        };
        for p in &pfns {
            self.q.ram.fill(p * 4096, 4096, 0).unwrap();
        }
        init_control(&g2h.mem(&self.q.ram), RING_FEATURE_PENDING_SEND_SIZE);
        init_control(&h2g.mem(&self.q.ram), RING_FEATURE_PENDING_SEND_SIZE);
        let gpadl = GpadlId::new(self.next_gpadl).unwrap();
        self.next_gpadl += 1;
        for m in GpadlMessages::new(relid, gpadl, &pfns).unwrap() {
            assert_eq!(self.post(conn, &m), HvStatus::SUCCESS);
        }
        match self.recv() {
            HostMessage::GpadlCreated { status: 0, .. } => {}
            m => return Err(Box::new(m)),
        }
        let open = OpenRequest {
            relid,
            open_id: relid.get(),
            ring_gpadl: gpadl,
            target_vp: 0,
            downstream_page_offset: n as u32,
            user_data: [0; 120],
        };
        assert_eq!(
            self.post(conn, &GuestMessage::OpenChannel(open)),
            HvStatus::SUCCESS
        );
        match self.recv() {
            HostMessage::OpenResult { status: 0, .. } => {}
            m => return Err(Box::new(m)),
        }
        let tx = RingProducer::new(&g2h.mem(&self.q.ram)).unwrap();
        let rx = RingConsumer::new(&h2g.mem(&self.q.ram)).unwrap();
        Ok(GuestChannel {
            relid,
            gpadl,
            offer,
            g2h,
            h2g,
            tx,
            rx,
        })
    }

    /// Writes a packet to the channel and signals as Linux does: the
    /// monitor bit for monitored channels, HvSignalEvent otherwise.
    pub fn send_packet(&mut self, ch: &mut GuestChannel, pkt: &[u8]) -> Result<(), RingError> {
        let o = ch.tx.write(&ch.g2h.mem(&self.q.ram), &[pkt])?;
        if o.signal {
            self.kick(ch);
        }
        Ok(())
    }

    /// Signals the host for `ch`.
    pub fn kick(&mut self, ch: &GuestChannel) {
        match ch.offer.monitor_id {
            Some(m) => {
                let id = u64::from(m.get());
                let at = MONITOR_PAGE2 + 8 + (id / 32) * 8 + (id % 32) / 8;
                self.q.ram.fetch_or_u8(at, 1 << (id % 8)).unwrap();
            }
            None => self.signal(ch.offer.connection_id),
        }
    }

    /// HvSignalEvent.
    pub fn signal(&mut self, conn: u32) {
        let (st, _) = self
            .q
            .call(Command::SIGNAL_EVENT, 0, [u64::from(conn), 0, 0, 0], &[]);
        assert_eq!(st, HvStatus::SUCCESS);
    }

    /// Sends an in-band packet.
    pub fn send_inband(&mut self, ch: &mut GuestChannel, flags: u16, tid: u64, payload: &[u8]) {
        let mut b = vec![0u8; payload.len() + 32];
        let n = encode_inband(&mut b, PacketType::DATA_INBAND, flags, tid, payload).unwrap();
        self.send_packet(ch, &b[..n]).unwrap();
    }

    /// Sends a GPA-direct packet over `ranges`.
    pub fn send_gpa(
        &mut self,
        ch: &mut GuestChannel,
        flags: u16,
        tid: u64,
        ranges: &[(GpaRange, &[u64])],
        payload: &[u8],
    ) {
        let mut b = vec![0u8; 4096];
        let n = encode_gpa_direct(&mut b, flags, tid, ranges, payload).unwrap();
        self.send_packet(ch, &b[..n]).unwrap();
    }

    /// Waits for the next host packet on `ch`.
    pub fn recv_packet(&mut self, ch: &mut GuestChannel) -> Result<Vec<u8>, RingError> {
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let m = ch.h2g.mem(&self.q.ram);
            if let Some(info) = ch.rx.read_packet(&m, &mut buf)? {
                if ch.rx.commit(&m)? {
                    // The host waits for this space (pending_send_sz).
                    self.kick(ch);
                }
                return Ok(buf[..info.len].to_vec());
            }
            assert!(
                Instant::now() < deadline,
                "no packet on relid {}",
                ch.relid.get()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether the host set `relid`'s bit in SINT 2's event flags; clears it.
    pub fn take_event(&mut self, relid: Relid) -> bool {
        let at = SIEFP + SINT * 256 + u64::from(relid.get() / 8);
        let mask = 1u8 << (relid.get() % 8);
        self.q.ram.fetch_and_u8(at, !mask).unwrap() & mask != 0
    }
}
