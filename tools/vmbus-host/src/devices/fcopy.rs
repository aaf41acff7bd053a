// SPDX-License-Identifier: GPL-2.0

//! The file copy (fcopy) IC, as Hyper-V's Copy-VMFile drives it: after
//! negotiation (framework 3.0, message version 1.1), `fcopy send HOSTFILE
//! GUESTDIR [NAME]` copies a file of the host's into the guest: a
//! `START_FILE_COPY` (create the directory, replace an existing file), one
//! `WRITE_TO_FILE` per fragment of at most 6 KiB, then `COMPLETE_FCOPY`,
//! one message at a time. A failure status stops the copy with a
//! `CANCEL_FCOPY`. `fcopy results` lists each copy's outcome.
//!
//! On Linux 7.3 the guest side is `uio_hv_generic` with
//! `hv_fcopy_uio_daemon`, which answers NEGOTIATE itself.

use std::collections::VecDeque;

use vmbus_proto::fcopy::{self, FcopyError};
use vmbus_proto::ic::IcMessage;
use vmbus_proto::packet::Packet;
use vmbus_proto::wire::fcopy::{DoFcopy, FcopyOp, CREATE_PATH, DATA_FRAGMENT, OVER_WRITE};
use vmbus_proto::wire::ic::{IcMsgType, IcVersion};
use vmbus_proto::wire::Wire;

use super::guest_text::shown;
use super::ic_link::{IcEvent, IcLink};
use super::{ChannelIo, Device};
use crate::server::ControlResult;

/// Message versions offered.
pub const VERSIONS: &[IcVersion] = &[IcVersion::new(1, 1)];
/// The largest file `fcopy send` takes.
pub const MAX_FILE: u64 = 64 << 20;
/// Most copies waiting to start.
pub const MAX_QUEUED: usize = 4;
/// Most outcomes kept for `fcopy results`.
pub const MAX_RESULTS: usize = 32;

/// One copy: the file's bytes and how far it got.
struct Copy {
    id: u64,
    name: String,
    dir: String,
    data: Vec<u8>,
    /// Bytes written (acknowledged or in flight).
    sent: usize,
    /// The message in flight.
    step: FcopyOp,
}

impl Copy {
    fn describe(&self) -> String {
        let t = |s: &str| shown(s.chars().map(Ok::<char, ()>));
        format!(
            "fcopy.{} name={} dir={} bytes={}",
            self.id,
            t(&self.name),
            t(&self.dir),
            self.data.len()
        )
    }
}

/// The file copy backend.
pub struct Fcopy {
    ic: IcLink,
    queue: VecDeque<Copy>,
    current: Option<Copy>,
    results: VecDeque<String>,
    next_id: u64,
    messages: u64,
    copied: u64,
    failed: u64,
    bad: u64,
}

impl Default for Fcopy {
    fn default() -> Self {
        Self {
            ic: IcLink::new(VERSIONS),
            queue: VecDeque::new(),
            current: None,
            results: VecDeque::new(),
            next_id: 1,
            messages: 0,
            copied: 0,
            failed: 0,
            bad: 0,
        }
    }
}

impl Fcopy {
    fn record(&mut self, line: String) {
        crate::log_info!("fcopy: {line}");
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(line);
    }

    /// Sends the message of `c.step`; false if it could not go out.
    fn send_step(&mut self, io: &mut ChannelIo<'_>, c: &mut Copy) -> bool {
        let mut buf = vec![0u8; DoFcopy::SIZE];
        let encoded: Result<usize, FcopyError> = match c.step {
            FcopyOp::START_FILE_COPY => fcopy::encode_start(
                &mut buf,
                &c.name,
                &c.dir,
                OVER_WRITE | CREATE_PATH,
                c.data.len() as u64,
            ),
            FcopyOp::WRITE_TO_FILE => {
                let end = (c.sent + DATA_FRAGMENT).min(c.data.len());
                let chunk = c.data.get(c.sent..end).unwrap_or(&[]);
                let r = fcopy::encode_write(&mut buf, c.sent as u64, chunk);
                c.sent = end;
                r
            }
            op => fcopy::encode_op(&mut buf, op),
        };
        let Ok(n) = encoded else {
            return false;
        };
        let ok = self
            .ic
            .request(io, IcMsgType::FCOPY, buf.get(..n).unwrap_or(&[]));
        if ok {
            self.messages += 1;
        }
        ok
    }

    /// Starts the next queued copy if none is under way.
    fn pump(&mut self, io: &mut ChannelIo<'_>) {
        if self.current.is_some() || self.ic.msg_version().is_none() {
            return;
        }
        let Some(mut c) = self.queue.pop_front() else {
            return;
        };
        c.step = FcopyOp::START_FILE_COPY;
        if self.send_step(io, &mut c) {
            self.current = Some(c);
        } else {
            let line = format!("{} failed=not-sent", c.describe());
            self.failed += 1;
            self.record(line);
        }
    }

    /// The step after `c.step` succeeded.
    fn next_step(c: &Copy) -> Option<FcopyOp> {
        match c.step {
            FcopyOp::START_FILE_COPY | FcopyOp::WRITE_TO_FILE if c.sent < c.data.len() => {
                Some(FcopyOp::WRITE_TO_FILE)
            }
            FcopyOp::START_FILE_COPY | FcopyOp::WRITE_TO_FILE => Some(FcopyOp::COMPLETE_FCOPY),
            _ => None,
        }
    }

    fn on_answer(&mut self, io: &mut ChannelIo<'_>, m: &IcMessage<'_>) {
        let Some(mut c) = self.current.take() else {
            self.bad += 1;
            return;
        };
        let asked = c.step;
        if asked == FcopyOp::CANCEL_FCOPY {
            // The copy's failure is recorded already; whatever the guest
            // says to the cancel, the next copy may start.
            self.pump(io);
            return;
        }
        let valid =
            m.hdr.icmsgtype == IcMsgType::FCOPY && fcopy::parse_answer(m.body, asked).is_ok();
        if !valid {
            self.bad += 1;
        }
        let outcome = if !valid {
            Err(format!("bad-answer-to-{}", asked.0))
        } else if m.hdr.status != 0 {
            Err(format!("status-{:#x}-at-{}", m.hdr.status, asked.0))
        } else {
            Ok(())
        };
        match (outcome, Self::next_step(&c)) {
            (Ok(()), Some(step)) => {
                c.step = step;
                if self.send_step(io, &mut c) {
                    self.current = Some(c);
                    return;
                }
                self.failed += 1;
                let line = format!("{} failed=not-sent", c.describe());
                self.record(line);
            }
            (Ok(()), None) => {
                self.copied += 1;
                let line = format!("{} status=ok", c.describe());
                self.record(line);
            }
            (Err(why), _) => {
                self.failed += 1;
                let line = format!("{} failed={why}", c.describe());
                self.record(line);
                c.step = FcopyOp::CANCEL_FCOPY;
                if self.send_step(io, &mut c) {
                    self.current = Some(c);
                    return;
                }
            }
        }
        self.pump(io);
    }

    fn queue_copy(
        &mut self,
        io: &mut ChannelIo<'_>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        let (path, dir, name) = match args {
            [path, dir] => (*path, *dir, None),
            [path, dir, name] => (*path, *dir, Some(*name)),
            _ => return Err("usage: fcopy send HOSTFILE GUESTDIR [NAME] | fcopy results".into()),
        };
        if self.queue.len() >= MAX_QUEUED {
            return Err(format!("{MAX_QUEUED} copies are waiting already"));
        }
        let name = match name {
            Some(n) => n.to_string(),
            None => std::path::Path::new(path)
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("no file name in {path:?}"))?
                .to_string(),
        };
        let len = std::fs::metadata(path)
            .map_err(|e| format!("{path}: {e}"))?
            .len();
        if len > MAX_FILE {
            return Err(format!("{path}: {len} bytes, more than {MAX_FILE}"));
        }
        let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        // Refuse names that cannot be encoded now rather than mid-copy.
        let mut probe = vec![0u8; 1088];
        fcopy::encode_start(&mut probe, &name, dir, 0, 0)
            .map_err(|e| format!("cannot encode the names: {e:?}"))?;
        let id = self.next_id;
        self.next_id += 1;
        let c = Copy {
            id,
            name,
            dir: dir.to_string(),
            data,
            sent: 0,
            step: FcopyOp::START_FILE_COPY,
        };
        out.push(format!(
            "{} queued on relid {}",
            c.describe(),
            io.relid.get()
        ));
        self.queue.push_back(c);
        self.pump(io);
        Ok(())
    }
}

impl Device for Fcopy {
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
        if let Some(c) = self.current.take() {
            self.failed += 1;
            let line = format!("{} failed=channel-closed", c.describe());
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
        if cmd != "fcopy" {
            return None;
        }
        Some(match args {
            ["results"] => {
                out.extend(self.results.iter().cloned());
                Ok(())
            }
            ["send", rest @ ..] => self.queue_copy(io, rest, out),
            _ => Err("usage: fcopy send HOSTFILE GUESTDIR [NAME] | fcopy results".into()),
        })
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("negotiated", u64::from(self.ic.msg_version().is_some())),
            ("messages", self.messages),
            ("copied", self.copied),
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

    fn payloads(pkts: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        pkts.iter()
            .map(|p| parse(p).unwrap().payload.to_vec())
            .collect()
    }

    fn io(mem: &MemRegion) -> ChannelIo<'_> {
        ChannelIo::new(Relid::new(7).unwrap(), mem, None)
    }

    fn feed(dev: &mut Fcopy, mem: &MemRegion, msg: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; msg.len() + 32];
        let n = encode_inband(&mut buf, PacketType::DATA_INBAND, 0, 1, msg).unwrap();
        let pkt = parse(&buf[..n]).unwrap();
        let mut io = io(mem);
        dev.on_packet(&mut io, &pkt);
        payloads(io.into_packets())
    }

    fn control(
        dev: &mut Fcopy,
        mem: &MemRegion,
        args: &[&str],
    ) -> (ControlResult, Vec<String>, Vec<Vec<u8>>) {
        let mut out = Vec::new();
        let mut io = io(mem);
        let r = dev.control(&mut io, "fcopy", args, &mut out).unwrap();
        (r, out, payloads(io.into_packets()))
    }

    fn negotiated(mem: &MemRegion) -> Fcopy {
        let mut dev = Fcopy::default();
        let mut io = io(mem);
        dev.on_open(&mut io);
        let sent = payloads(io.into_packets());
        let mut resp = vec![0u8; 256];
        let (n, _) =
            ic::answer_negotiate(&sent[0], &mut resp, &[IcVersion::new(3, 0)], VERSIONS).unwrap();
        assert!(feed(&mut dev, mem, &resp[..n]).is_empty());
        dev
    }

    /// A file of `len` bytes in a fresh temporary directory.
    fn host_file(tag: &str, len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("fcopy-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let path = dir.join("payload.bin");
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }

    /// Plays a guest that writes the file: answers every message with
    /// status 0 (or `fail_at`'s status on that operation) until the device
    /// sends nothing more; returns the bytes it got and the operations.
    fn guest(
        dev: &mut Fcopy,
        mem: &MemRegion,
        first: Vec<Vec<u8>>,
        fail_at: Option<u32>,
    ) -> (Vec<u8>, Vec<u32>) {
        let mut file = Vec::new();
        let mut ops = Vec::new();
        let mut pending = first;
        while let Some(msg) = pending.pop() {
            let body = &msg[ic::ICMSG_HDR_SIZE..];
            let op = u32::from_le_bytes(body[..4].try_into().unwrap());
            ops.push(op);
            if op == FcopyOp::WRITE_TO_FILE.0 {
                let off = u64::from_le_bytes(body[40..48].try_into().unwrap()) as usize;
                let size = u32::from_le_bytes(body[48..52].try_into().unwrap()) as usize;
                assert_eq!(off, file.len(), "fragments arrive in order");
                file.extend_from_slice(&body[52..52 + size]);
            }
            let status = if fail_at == Some(op) {
                ic::HV_E_FAIL
            } else {
                0
            };
            let mut answer = msg.clone();
            ic::make_response(&mut answer, status).unwrap();
            pending = feed(dev, mem, &answer);
        }
        (file, ops)
    }

    #[test]
    fn a_file_arrives_byte_identical() {
        let mem = MemRegion::anonymous(4096).unwrap();
        let mut dev = negotiated(&mem);
        let (path, data) = host_file("ok", 2 * DATA_FRAGMENT + 100);
        let (r, out, sent) = control(&mut dev, &mem, &["send", path.to_str().unwrap(), "/tmp/in"]);
        assert_eq!(r, Ok(()));
        assert!(
            out[0].starts_with("fcopy.1 name=payload.bin dir=/tmp/in bytes=12388 queued"),
            "{out:?}"
        );
        let (file, ops) = guest(&mut dev, &mem, sent, None);
        assert_eq!(file, data);
        assert_eq!(ops, [0, 1, 1, 1, 2]);
        let (_, res, _) = control(&mut dev, &mem, &["results"]);
        assert_eq!(
            res,
            ["fcopy.1 name=payload.bin dir=/tmp/in bytes=12388 status=ok"]
        );
        assert!(dev.stats().contains(&("copied", 1)));
        // An empty file: start, then complete.
        let (path, _) = host_file("empty", 0);
        let (_, _, sent) = control(&mut dev, &mem, &["send", path.to_str().unwrap(), "/x", "e"]);
        assert_eq!(guest(&mut dev, &mem, sent, None).1, [0, 2]);
    }

    #[test]
    fn a_failed_write_cancels_the_copy() {
        let mem = MemRegion::anonymous(4096).unwrap();
        let mut dev = negotiated(&mem);
        let (path, _) = host_file("fail", 10);
        let (_, _, sent) = control(&mut dev, &mem, &["send", path.to_str().unwrap(), "/d", "f"]);
        let (_, ops) = guest(&mut dev, &mem, sent, Some(FcopyOp::WRITE_TO_FILE.0));
        assert_eq!(ops, [0, 1, 3]);
        let (_, res, _) = control(&mut dev, &mem, &["results"]);
        assert_eq!(
            res,
            ["fcopy.1 name=f dir=/d bytes=10 failed=status-0x80004005-at-1"]
        );
    }

    #[test]
    fn hostile_answers_and_bad_commands() {
        let mem = MemRegion::anonymous(4096).unwrap();
        let mut dev = negotiated(&mem);
        let (path, _) = host_file("hostile", 10);
        let (_, _, sent) = control(&mut dev, &mem, &["send", path.to_str().unwrap(), "/d", "f"]);
        // The guest answers the start as if it were a write.
        let mut answer = sent[0].clone();
        answer[ic::ICMSG_HDR_SIZE] = 1;
        ic::make_response(&mut answer, 0).unwrap();
        let next = feed(&mut dev, &mem, &answer);
        assert_eq!(next[0][ic::ICMSG_HDR_SIZE], 3, "the copy is cancelled");
        // A cut answer to the cancel, then a stray one.
        let mut cut = next[0].clone();
        ic::make_response(&mut cut, 0).unwrap();
        cut.truncate(ic::ICMSG_HDR_SIZE + 2);
        assert!(feed(&mut dev, &mem, &cut).is_empty());
        assert!(feed(&mut dev, &mem, &cut).is_empty());
        let (_, res, _) = control(&mut dev, &mem, &["results"]);
        assert_eq!(
            res,
            ["fcopy.1 name=f dir=/d bytes=10 failed=bad-answer-to-0"]
        );
        assert!(dev.stats().contains(&("bad", 2)), "{:?}", dev.stats());
        let long = "n".repeat(300);
        assert!(control(
            &mut dev,
            &mem,
            &["send", path.to_str().unwrap(), "/d", &long]
        )
        .0
        .is_err());
        assert!(
            control(&mut dev, &mem, &["send", "/nonexistent/file", "/d"])
                .0
                .is_err()
        );
        assert!(control(&mut dev, &mem, &["send"]).0.is_err());
        assert!(control(&mut dev, &mem, &["bogus"]).0.is_err());
    }
}
