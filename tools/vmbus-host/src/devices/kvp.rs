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
        .ok_or_else(|| format!("bad pool {s:?} (external, guest, auto, auto-external, auto-internal)"))
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

    fn queue(&mut self, io: &mut ChannelIo<'_>, req: Request, out: &mut Vec<String>) -> ControlResult {
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
