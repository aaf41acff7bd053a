// SPDX-License-Identifier: GPL-2.0

//! The key-value pair (KVP) exchange IC, as Hyper-V drives it: after
//! negotiation the host sends one request at a time and waits for the
//! answer (Linux's hv_kvp passes each request to hv_kvp_daemon and answers
//! when the daemon has). Requests come from the control socket:
//!
//! - `kvp enumerate POOL INDEX`: the key and value at INDEX of POOL; in the
//!   `auto` pool index 0 is the guest's FullyQualifiedDomainName, 2 its
//!   NetworkAddressIPv4, 3 its NetworkAddressIPv6.
//! - `kvp get POOL KEY`, `kvp set POOL KEY VALUE`, `kvp delete POOL KEY`:
//!   one key of a pool; `set` on the `external` pool is how a host hands
//!   the guest data, which the daemon keeps in /var/lib/hyperv/.kvp_pool_0.
//! - `kvp ip-info ADAPTER`: the IP configuration of the adapter with that
//!   MAC address.
//! - `kvp results`: the answers so far, one word group each, oldest first.
//!
//! POOL is `external`, `guest`, `auto`, `auto-external`, `auto-internal` or
//! the pool's number. Requests made before negotiation wait for it; the
//! guest negotiates only once its daemon has registered.

use std::collections::VecDeque;

use vmbus_proto::ic::IcMessage;
use vmbus_proto::kvp::{self, KvpError, KvpRequest, KVP_MAX_BODY};
use vmbus_proto::packet::Packet;
use vmbus_proto::wire::ic::{IcMsgType, IcVersion};
use vmbus_proto::wire::kvp::KvpPool;

use super::guest_text::shown;
use super::ic_link::{IcEvent, IcLink};
use super::{ChannelIo, Device};
use crate::server::ControlResult;

/// Message versions offered (Windows Server 2008, 2008 R2, 2012 and later).
pub const VERSIONS: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(4, 0),
];
/// Most answers kept for `kvp results`.
pub const MAX_RESULTS: usize = 64;
/// Most requests waiting to be sent.
pub const MAX_QUEUED: usize = 32;

const POOLS: &[(&str, KvpPool)] = &[
    ("external", KvpPool::EXTERNAL),
    ("guest", KvpPool::GUEST),
    ("auto", KvpPool::AUTO),
    ("auto-external", KvpPool::AUTO_EXTERNAL),
    ("auto-internal", KvpPool::AUTO_INTERNAL),
];

const USAGE: &str = "usage: kvp enumerate POOL INDEX | get POOL KEY | set POOL KEY VALUE | \
                     delete POOL KEY | ip-info ADAPTER | results";

/// A request the host made, owning its strings.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Request {
    Enumerate(KvpPool, u32),
    Get(KvpPool, String),
    Set(KvpPool, String, String),
    Delete(KvpPool, String),
    IpInfo(String),
}

impl Request {
    fn wire(&self) -> KvpRequest<'_> {
        match self {
            Request::Enumerate(pool, index) => KvpRequest::Enumerate {
                pool: *pool,
                index: *index,
            },
            Request::Get(pool, key) => KvpRequest::Get { pool: *pool, key },
            Request::Set(pool, key, value) => KvpRequest::Set {
                pool: *pool,
                key,
                value,
            },
            Request::Delete(pool, key) => KvpRequest::Delete { pool: *pool, key },
            Request::IpInfo(adapter_id) => KvpRequest::GetIpInfo { adapter_id },
        }
    }

    /// The request's words in `kvp results`.
    fn describe(&self) -> String {
        match self {
            Request::Enumerate(p, i) => format!("enumerate pool={} index={i}", pool_name(*p)),
            Request::Get(p, k) => format!("get pool={} key={}", pool_name(*p), text(k)),
            Request::Set(p, k, _) => format!("set pool={} key={}", pool_name(*p), text(k)),
            Request::Delete(p, k) => format!("delete pool={} key={}", pool_name(*p), text(k)),
            Request::IpInfo(a) => format!("ip-info adapter={}", text(a)),
        }
    }
}

fn text(s: &str) -> String {
    shown(s.chars().map(Ok::<char, ()>))
}

fn pool_name(p: KvpPool) -> String {
    POOLS
        .iter()
        .find(|(_, v)| *v == p)
        .map_or_else(|| p.0.to_string(), |(n, _)| (*n).to_string())
}

fn parse_pool(s: &str) -> Result<KvpPool, String> {
    if let Some((_, p)) = POOLS.iter().find(|(n, _)| *n == s) {
        return Ok(*p);
    }
    s.parse::<u8>()
        .ok()
        .filter(|&n| usize::from(n) < POOLS.len())
        .map(KvpPool)
        .ok_or_else(|| {
            format!("bad pool {s:?} (external, guest, auto, auto-external, auto-internal)")
        })
}

/// The KVP backend.
pub struct Kvp {
    ic: IcLink,
    queue: VecDeque<(u64, Request)>,
    in_flight: Option<(u64, Request)>,
    results: VecDeque<String>,
    next_id: u64,
    requests: u64,
    answered: u64,
    failed: u64,
    bad: u64,
}

impl Default for Kvp {
    fn default() -> Self {
        Self {
            ic: IcLink::new(VERSIONS),
            queue: VecDeque::new(),
            in_flight: None,
            results: VecDeque::new(),
            next_id: 1,
            requests: 0,
            answered: 0,
            failed: 0,
            bad: 0,
        }
    }
}

impl Kvp {
    fn record(&mut self, line: String) {
        crate::log_info!("kvp: {line}");
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(line);
    }

    /// Sends the next queued request if none is in flight.
    fn pump(&mut self, io: &mut ChannelIo<'_>) {
        if self.in_flight.is_some() || self.ic.msg_version().is_none() {
            return;
        }
        let Some((id, req)) = self.queue.pop_front() else {
            return;
        };
        let mut body = vec![0u8; KVP_MAX_BODY];
        let sent = kvp::encode_request(&req.wire(), &mut body)
            .map_err(|e| format!("{e:?}"))
            .and_then(|n| {
                let b = body.get(..n).unwrap_or(&[]);
                if self.ic.request(io, IcMsgType::KVPEXCHANGE, b) {
                    Ok(())
                } else {
                    Err("the channel refused the packet".into())
                }
            });
        match sent {
            Ok(()) => {
                self.requests += 1;
                self.in_flight = Some((id, req));
            }
            Err(e) => {
                let line = format!("kvp.{id} {} not-sent={}", req.describe(), text(&e));
                self.record(line);
            }
        }
    }

    /// The words describing the guest's answer to `req`.
    fn answer_words(req: &Request, m: &IcMessage<'_>) -> Result<String, KvpError> {
        let str_of = |s: kvp::Utf16Str<'_>| shown(s.chars());
        Ok(match req {
            Request::Enumerate(..) => {
                let p = kvp::parse_enumerate_answer(m.body)?;
                format!("key={} value={}", str_of(p.key), str_of(p.value))
            }
            Request::Get(..) => format!("value={}", str_of(kvp::parse_get_answer(m.body)?)),
            Request::IpInfo(_) => {
                let ip = kvp::parse_ip_answer(m.body)?;
                format!(
                    "family={} dhcp={} adapter={} ip={} subnet={} gateway={} dns={}",
                    ip.addr_family,
                    u8::from(ip.dhcp_enabled),
                    str_of(ip.adapter_id),
                    str_of(ip.ip_addr),
                    str_of(ip.sub_net),
                    str_of(ip.gate_way),
                    str_of(ip.dns_addr)
                )
            }
            Request::Set(..) | Request::Delete(..) => String::new(),
        })
    }

    fn on_answer(&mut self, io: &mut ChannelIo<'_>, m: &IcMessage<'_>) {
        let Some((id, req)) = self.in_flight.take() else {
            self.bad += 1;
            crate::log_limited!(
                crate::log::Level::Warn,
                "kvp: relid {}: an answer to no request",
                io.relid.get()
            );
            return;
        };
        let status = m.hdr.status;
        let head = format!("kvp.{id} {} status={status:#x}", req.describe());
        let line = if m.hdr.icmsgtype != IcMsgType::KVPEXCHANGE {
            self.bad += 1;
            format!("{head} bad=message-type-{}", m.hdr.icmsgtype.0)
        } else if status != 0 {
            // A failed request comes back as it was sent: no answer to read.
            self.failed += 1;
            head
        } else {
            match Self::answer_words(&req, m) {
                Ok(w) if w.is_empty() => {
                    self.answered += 1;
                    head
                }
                Ok(w) => {
                    self.answered += 1;
                    format!("{head} {w}")
                }
                Err(e) => {
                    self.bad += 1;
                    format!("{head} bad={}", text(&format!("{e:?}")))
                }
            }
        };
        self.record(line);
        self.pump(io);
    }

    fn queue(
        &mut self,
        io: &mut ChannelIo<'_>,
        req: Request,
        out: &mut Vec<String>,
    ) -> ControlResult {
        if self.queue.len() >= MAX_QUEUED {
            return Err(format!("{MAX_QUEUED} requests are waiting already"));
        }
        // Refuse what cannot be encoded now rather than at sending time.
        let mut body = vec![0u8; KVP_MAX_BODY];
        kvp::encode_request(&req.wire(), &mut body).map_err(|e| format!("cannot encode: {e:?}"))?;
        let id = self.next_id;
        self.next_id += 1;
        out.push(format!(
            "kvp.{id} queued on relid {}: {}",
            io.relid.get(),
            req.describe()
        ));
        self.queue.push_back((id, req));
        self.pump(io);
        Ok(())
    }
}

impl Device for Kvp {
    fn on_open(&mut self, io: &mut ChannelIo<'_>) {
        self.ic.open(io);
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        match self.ic.on_packet(io.relid.get(), pkt) {
            IcEvent::Negotiated => self.pump(io),
            IcEvent::Answer(m) => self.on_answer(io, &m),
            IcEvent::Nothing => {}
        }
    }

    fn on_close(&mut self) {
        self.ic.close();
        if let Some((id, req)) = self.in_flight.take() {
            let line = format!("kvp.{id} {} lost=channel-closed", req.describe());
            self.record(line);
        }
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        if cmd != "kvp" {
            return None;
        }
        let req = match args {
            ["results"] => {
                out.extend(self.results.iter().cloned());
                return Some(Ok(()));
            }
            ["enumerate", p, i] => parse_pool(p).and_then(|p| {
                crate::commands::parse_num("index", i).and_then(|i| {
                    u32::try_from(i)
                        .map(|i| Request::Enumerate(p, i))
                        .map_err(|_| format!("index {i} out of range"))
                })
            }),
            ["get", p, k] => parse_pool(p).map(|p| Request::Get(p, (*k).into())),
            ["set", p, k, v] => parse_pool(p).map(|p| Request::Set(p, (*k).into(), (*v).into())),
            ["delete", p, k] => parse_pool(p).map(|p| Request::Delete(p, (*k).into())),
            ["ip-info", a] => Ok(Request::IpInfo((*a).into())),
            _ => Err(USAGE.into()),
        };
        Some(req.and_then(|r| self.queue(io, r, out)))
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("negotiated", u64::from(self.ic.msg_version().is_some())),
            ("requests", self.requests),
            ("answered", self.answered),
            ("failed", self.failed),
            ("queued", self.queue.len() as u64),
            ("bad", self.bad + self.ic.bad),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_mem::MemRegion;
    use vmbus_proto::ic;
    use vmbus_proto::packet::{encode_inband, parse};
    use vmbus_proto::types::Relid;
    use vmbus_proto::wire::packet::PacketType;

    /// A guest of the device: answers what the device sent with `edit`
    /// applied to each request's IC message, and returns the control
    /// output of `kvp results`.
    struct Guest {
        mem: MemRegion,
        dev: Kvp,
    }

    impl Guest {
        fn new() -> Self {
            Self {
                mem: MemRegion::anonymous(4096).unwrap(),
                dev: Kvp::default(),
            }
        }

        /// Opens the channel; returns what the device sent (NEGOTIATE).
        fn open(&mut self) -> Vec<Vec<u8>> {
            let mut io = ChannelIo::new(Relid::new(4).unwrap(), &self.mem, None);
            self.dev.on_open(&mut io);
            payloads(io.into_packets())
        }

        /// Feeds `msg` to the device as an in-band packet; returns what it
        /// sent in turn (IC messages).
        fn feed(&mut self, msg: &[u8]) -> Vec<Vec<u8>> {
            let mut buf = vec![0u8; msg.len() + 32];
            let n = encode_inband(&mut buf, PacketType::DATA_INBAND, 0, 1, msg).unwrap();
            let pkt = parse(&buf[..n]).unwrap();
            let mem = &self.mem;
            let mut io = ChannelIo::new(Relid::new(4).unwrap(), mem, None);
            self.dev.on_packet(&mut io, &pkt);
            payloads(io.into_packets())
        }

        /// Opens and negotiates; returns the packets sent after negotiation.
        fn negotiate(&mut self) -> Vec<Vec<u8>> {
            let sent = self.open();
            let mut resp = vec![0u8; 256];
            let v = [IcVersion::new(4, 0)];
            let (n, chosen) =
                ic::answer_negotiate(&sent[0], &mut resp, &[IcVersion::new(3, 0)], &v).unwrap();
            assert!(chosen.is_some());
            self.feed(&resp[..n])
        }

        /// Runs `kvp ARGS`: the result, the output lines and what the
        /// device sent.
        fn control(&mut self, args: &[&str]) -> (ControlResult, Vec<String>, Vec<Vec<u8>>) {
            let mut out = Vec::new();
            let mut io = ChannelIo::new(Relid::new(4).unwrap(), &self.mem, None);
            let r = self.dev.control(&mut io, "kvp", args, &mut out).unwrap();
            (r, out, payloads(io.into_packets()))
        }

        /// Runs a request command that must be taken; returns what was sent.
        fn ask(&mut self, args: &[&str]) -> Vec<Vec<u8>> {
            let (r, _, sent) = self.control(args);
            assert_eq!(r, Ok(()));
            sent
        }

        fn results(&mut self) -> Vec<String> {
            self.control(&["results"]).1
        }
    }

    fn payloads(pkts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        pkts.iter()
            .map(|p| parse(p).unwrap().payload.to_vec())
            .collect()
    }

    /// The guest's answer to `req` (an IC message): `fill` edits the KVP
    /// body, then the flags say response with `status`.
    fn answer(req: &[u8], status: u32, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut m = req.to_vec();
        fill(&mut m[ic::ICMSG_HDR_SIZE..]);
        ic::make_response(&mut m, status).unwrap();
        m
    }

    fn put16(b: &mut [u8], at: usize, s: &str) -> u32 {
        kvp::put_utf16(s, &mut b[at..]).unwrap() as u32
    }

    /// Fills an enumerate answer: key and value at their offsets.
    fn enum_answer(b: &mut [u8], key: &str, value: &str) {
        let k = put16(b, 20, key);
        let v = put16(b, 532, value);
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        b[12..16].copy_from_slice(&k.to_le_bytes());
        b[16..20].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn requests_wait_for_negotiation_and_go_one_at_a_time() {
        let mut g = Guest::new();
        g.open();
        let (r, out, sent) = g.control(&["enumerate", "auto", "0"]);
        assert_eq!(r, Ok(()));
        assert!(out[0].starts_with("kvp.1 queued on relid 4: enumerate pool=auto index=0"));
        assert!(sent.is_empty(), "nothing goes out before negotiation");
        assert!(g.ask(&["enumerate", "auto", "2"]).is_empty());
        let sent = g.negotiate();
        assert_eq!(sent.len(), 1, "one request in flight");
        let next = g.feed(&answer(&sent[0], 0, |b| {
            enum_answer(b, "FullyQualifiedDomainName", "g.example")
        }));
        assert_eq!(next.len(), 1, "the second request follows the first answer");
        g.feed(&answer(&next[0], 0, |b| {
            enum_answer(b, "NetworkAddressIPv4", "10.0.0.2")
        }));
        let res = g.results();
        assert_eq!(
            res,
            [
                "kvp.1 enumerate pool=auto index=0 status=0x0 key=FullyQualifiedDomainName value=g.example",
                "kvp.2 enumerate pool=auto index=2 status=0x0 key=NetworkAddressIPv4 value=10.0.0.2",
            ]
        );
    }

    #[test]
    fn hostile_answers_are_counted_not_trusted() {
        let mut g = Guest::new();
        g.negotiate();
        // A key size past the key field.
        let req = g.ask(&["enumerate", "auto", "0"]).remove(0);
        g.feed(&answer(&req, 0, |b| {
            enum_answer(b, "k", "v");
            b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        }));
        // An answer cut short.
        let req = g.ask(&["enumerate", "auto", "1"]).remove(0);
        let mut short = answer(&req, 0, |_| {});
        short.truncate(ic::ICMSG_HDR_SIZE + 100);
        g.feed(&short);
        // Text with a space, a new line and an unpaired surrogate.
        let req = g.ask(&["enumerate", "auto", "3"]).remove(0);
        g.feed(&answer(&req, 0, |b| {
            enum_answer(b, "a b\n", "x");
            b[532..534].copy_from_slice(&0xdc00u16.to_le_bytes());
        }));
        // An answer nobody asked for, and a failure status.
        g.feed(&answer(&req, 0, |_| {}));
        let req = g.ask(&["set", "external", "K", "V"]).remove(0);
        g.feed(&answer(&req, 0x8000_4005, |_| {}));
        let res = g.results();
        assert!(res[0].ends_with("bad=BadSize(4294967295)"), "{res:?}");
        assert!(res[1].contains("bad=Truncated"), "{res:?}");
        assert!(res[2].ends_with("key=a%20b%0A value=%uFFFD"), "{res:?}");
        assert_eq!(res[3], "kvp.4 set pool=external key=K status=0x80004005");
        let stats = g.dev.stats();
        assert!(stats.contains(&("bad", 3)), "{stats:?}");
        assert!(stats.contains(&("failed", 1)), "{stats:?}");
    }

    #[test]
    fn bad_commands_are_refused() {
        let mut g = Guest::new();
        assert!(g.control(&["enumerate", "nowhere", "0"]).0.is_err());
        assert!(g.control(&["enumerate", "auto", "x"]).0.is_err());
        assert!(g.control(&["enumerate", "auto", "4294967296"]).0.is_err());
        let long = "k".repeat(300);
        assert!(g
            .control(&["get", "guest", &long])
            .0
            .unwrap_err()
            .contains("TooLong"));
        assert!(g.control(&["frobnicate"]).0.is_err());
        for _ in 0..MAX_QUEUED {
            g.ask(&["enumerate", "auto", "0"]);
        }
        assert!(g.control(&["enumerate", "auto", "0"]).0.is_err());
    }

    #[test]
    fn pools_by_name_and_number() {
        assert_eq!(parse_pool("auto"), Ok(KvpPool::AUTO));
        assert_eq!(parse_pool("0"), Ok(KvpPool::EXTERNAL));
        assert!(parse_pool("5").is_err());
        assert!(parse_pool("nope").is_err());
        assert_eq!(pool_name(KvpPool::AUTO_INTERNAL), "auto-internal");
        assert_eq!(pool_name(KvpPool(9)), "9");
    }

    #[test]
    fn requests_describe_safely() {
        let r = Request::Set(KvpPool::EXTERNAL, "a key".into(), "v".into());
        assert_eq!(r.describe(), "set pool=external key=a%20key");
    }
}
