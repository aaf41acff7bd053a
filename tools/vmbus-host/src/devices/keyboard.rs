// SPDX-License-Identifier: GPL-2.0

//! The synthetic keyboard (class `f912ad6d-2b17-48ea-bd65-f927a61c7684`),
//! the host side of Linux's `hyperv-keyboard`
//! (`drivers/input/serio/hyperv-keyboard.c`):
//!
//! - The guest's protocol request (version 1.0, an in-band packet that
//!   asks for a completion) is answered with a protocol response as an
//!   in-band packet of the same transaction id, as Hyper-V answers it:
//!   Linux's driver reads the response from a `DATA_INBAND` packet and
//!   ignores completions. Version 1.0 is accepted, any other refused.
//!   The trace gets `h2g RELID KBD-PROTOCOL-ACCEPTED -` (or
//!   `KBD-PROTOCOL-REFUSED`) after the answer.
//! - LED indicator messages are counted.
//! - On the control socket, `keyboard-type TEXT` types TEXT: for each
//!   character a keystroke message with the make of its PC set-1 scan
//!   code, then one with its break, as Hyper-V's keyboard sends them.
//!   Lowercase letters, digits and space; the two characters `\n` stand
//!   for Enter (a control line cannot hold a newline). Only once the
//!   guest's protocol request was accepted.
//!
//! Anything else from the guest (a short message, an unknown type, a
//! packet that is not in-band) is counted in `bad` and dropped.

use vmbus_proto::keyboard::{encode_keystroke, encode_response, parse_guest, scan_code, GuestMsg};
use vmbus_proto::packet::{Packet, PacketKind};
use vmbus_proto::wire::keyboard::{KbdKeystroke, SYNTH_KBD_VERSION};
use vmbus_proto::wire::packet::PacketType;
use vmbus_proto::wire::Wire;

use super::{ChannelIo, Device};
use crate::log::Level;
use crate::log_limited;
use crate::server::ControlResult;
use crate::trace::Dir;

/// Most characters one `keyboard-type` may type.
pub const MAX_TYPE: usize = 4096;

/// The transaction id of the keystroke messages (the guest reads none).
const KEY_TRANS_ID: u64 = 0;

/// The keyboard of one channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keyboard {
    /// Whether the guest's protocol request on this open was accepted.
    accepted: bool,
    protocol_ok: u64,
    protocol_refused: u64,
    keys_sent: u64,
    leds: u64,
    bad: u64,
}

/// The scan codes of `text`, with `\n` read as Enter; the first character
/// that has none is the error.
pub fn scan_codes(text: &str) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let c = if c == '\\' && chars.peek() == Some(&'n') {
            chars.next();
            '\n'
        } else {
            c
        };
        let code = scan_code(c).ok_or_else(|| {
            format!("cannot type {c:?} (lowercase letters, digits, space and \\n only)")
        })?;
        codes.push(code);
    }
    Ok(codes)
}

impl Keyboard {
    fn protocol_request(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>, version: u32) {
        let accepted = version == SYNTH_KBD_VERSION;
        let mut buf = [0u8; 8];
        let n = match encode_response(&mut buf, accepted) {
            Ok(n) => n,
            Err(e) => {
                self.bad += 1;
                log_limited!(Level::Warn, "keyboard: response: {e:?}");
                return;
            }
        };
        if let Err(e) = io.send(PacketType::DATA_INBAND, 0, pkt.desc.trans_id, &[&buf[..n]]) {
            self.bad += 1;
            log_limited!(Level::Warn, "keyboard: response: {e:?}");
            return;
        }
        self.accepted = accepted;
        if accepted {
            self.protocol_ok += 1;
            io.trace_note(Dir::H2g, "KBD-PROTOCOL-ACCEPTED");
        } else {
            self.protocol_refused += 1;
            io.trace_note(Dir::H2g, "KBD-PROTOCOL-REFUSED");
            log_limited!(
                Level::Warn,
                "keyboard: relid {}: refused protocol version {version:#x}",
                io.relid.get()
            );
        }
    }

    /// `keyboard-type TEXT`: a make and a break per character.
    fn type_text(
        &mut self,
        io: &mut ChannelIo<'_>,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> ControlResult {
        if args.is_empty() {
            return Err("usage: keyboard-type TEXT".into());
        }
        if !self.accepted {
            return Err("the guest has not negotiated the keyboard protocol".into());
        }
        // The control line's words, joined by one space each.
        let text = args.join(" ");
        let codes = scan_codes(&text)?;
        if codes.len() > MAX_TYPE {
            return Err(format!("at most {MAX_TYPE} characters"));
        }
        let mut buf = [0u8; KbdKeystroke::SIZE];
        for &code in &codes {
            for brk in [false, true] {
                let n = encode_keystroke(&mut buf, code, brk).map_err(|e| format!("{e:?}"))?;
                io.send(PacketType::DATA_INBAND, 0, KEY_TRANS_ID, &[&buf[..n]])
                    .map_err(|e| format!("keystroke: {e:?}"))?;
            }
            self.keys_sent += 1;
        }
        out.push(format!(
            "relid {}: {} keys typed",
            io.relid.get(),
            codes.len()
        ));
        Ok(())
    }
}

impl Device for Keyboard {
    fn on_open(&mut self, _io: &mut ChannelIo<'_>) {
        // A new open (after a close, or on resume) negotiates again.
        self.accepted = false;
    }

    fn on_packet(&mut self, io: &mut ChannelIo<'_>, pkt: &Packet<'_>) {
        if !matches!(pkt.kind, PacketKind::Inband) {
            self.bad += 1;
            log_limited!(
                Level::Warn,
                "keyboard: relid {}: unexpected packet {:?}",
                io.relid.get(),
                pkt.desc.ptype
            );
            return;
        }
        match parse_guest(pkt.payload) {
            Ok(GuestMsg::ProtocolRequest(v)) => self.protocol_request(io, pkt, v),
            Ok(GuestMsg::LedIndicators(_)) => self.leds += 1,
            Err(e) => {
                self.bad += 1;
                log_limited!(
                    Level::Warn,
                    "keyboard: relid {}: bad message of {} bytes: {e:?}",
                    io.relid.get(),
                    pkt.payload.len()
                );
            }
        }
    }

    fn on_close(&mut self) {
        self.accepted = false;
    }

    fn control(
        &mut self,
        io: &mut ChannelIo<'_>,
        cmd: &str,
        args: &[&str],
        out: &mut Vec<String>,
    ) -> Option<ControlResult> {
        (cmd == "keyboard-type").then(|| self.type_text(io, args, out))
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("protocol_ok", self.protocol_ok),
            ("protocol_refused", self.protocol_refused),
            ("keys_sent", self.keys_sent),
            ("leds", self.leds),
            ("bad", self.bad),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_to_scan_codes() {
        assert_eq!(scan_codes("hello"), Ok(vec![0x23, 0x12, 0x26, 0x26, 0x18]));
        assert_eq!(scan_codes("a 1\\n"), Ok(vec![0x1e, 0x39, 0x02, 0x1c]));
        assert!(scan_codes("Hi").is_err());
        assert!(scan_codes("a\\b").is_err());
    }
}
