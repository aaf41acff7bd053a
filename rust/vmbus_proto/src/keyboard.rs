// SPDX-License-Identifier: GPL-2.0

//! The synthetic keyboard as the host speaks it: [`parse_guest`] checks a
//! message from the guest, [`encode_response`] answers its protocol
//! request, and [`encode_keystroke`] makes a key's make or break from the
//! PC set-1 scan code that [`scan_code`] gives for a character.
//!
//! ```
//! use vmbus_proto::keyboard::{encode_keystroke, parse_guest, scan_code, GuestMsg};
//! use vmbus_proto::wire::keyboard::SYNTH_KBD_VERSION;
//!
//! let req = [1, 0, 0, 0, 0, 0, 1, 0];
//! assert_eq!(parse_guest(&req), Ok(GuestMsg::ProtocolRequest(SYNTH_KBD_VERSION)));
//! let mut buf = [0u8; 12];
//! assert_eq!(scan_code('h'), Some(0x23));
//! assert_eq!(encode_keystroke(&mut buf, 0x23, true), Ok(12));
//! assert_eq!(buf, [3, 0, 0, 0, 0x23, 0, 0, 0, 2, 0, 0, 0]);
//! ```

use super::wire::keyboard::{
    KbdKeystroke, KbdLedIndicators, KbdMsgType, KbdProtocolRequest, KbdProtocolResponse, IS_BREAK,
    PROTOCOL_ACCEPTED,
};
use super::wire::Wire;

/// Why a keyboard message could not be encoded or was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KbdError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// A message shorter than its type needs: its length and its type.
    Truncated(usize, KbdMsgType),
    /// A type the guest does not send (or no type at all: `None`).
    UnexpectedType(Option<KbdMsgType>),
}

/// A checked message from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMsg {
    /// A protocol request for this version.
    ProtocolRequest(u32),
    /// The guest's LED indicators.
    LedIndicators(u32),
}

/// Checks a message from the guest (the payload of its in-band packet).
pub fn parse_guest(msg: &[u8]) -> Result<GuestMsg, KbdError> {
    let t = KbdMsgType::read_from(msg).ok_or(KbdError::UnexpectedType(None))?;
    match t {
        KbdMsgType::PROTOCOL_REQUEST => KbdProtocolRequest::read_from(msg)
            .map(|r| GuestMsg::ProtocolRequest(r.version))
            .ok_or(KbdError::Truncated(msg.len(), t)),
        KbdMsgType::LED_INDICATORS => KbdLedIndicators::read_from(msg)
            .map(|m| GuestMsg::LedIndicators(m.leds))
            .ok_or(KbdError::Truncated(msg.len(), t)),
        _ => Err(KbdError::UnexpectedType(Some(t))),
    }
}

/// Encodes the answer to a protocol request, accepting the version or
/// not; returns its length.
pub fn encode_response(buf: &mut [u8], accepted: bool) -> Result<usize, KbdError> {
    let mut m = KbdProtocolResponse::zeroed();
    m.msg_type = KbdMsgType::PROTOCOL_RESPONSE;
    m.proto_status = if accepted { PROTOCOL_ACCEPTED } else { 0 };
    m.write_to(buf).ok_or(KbdError::BufferTooSmall)
}

/// Encodes the make (`brk` false) or break (`brk` true) of the set-1
/// scan code `code` (no prefix, no break bit); returns its length.
pub fn encode_keystroke(buf: &mut [u8], code: u16, brk: bool) -> Result<usize, KbdError> {
    let mut m = KbdKeystroke::zeroed();
    m.msg_type = KbdMsgType::EVENT;
    m.make_code = code;
    m.info = if brk { IS_BREAK } else { 0 };
    m.write_to(buf).ok_or(KbdError::BufferTooSmall)
}

/// The PC set-1 make code of the key that types `c` on a US keyboard
/// without shift: lowercase letters, digits, space and newline (Enter);
/// `None` for any other character.
pub fn scan_code(c: char) -> Option<u16> {
    // The letters by keyboard row, each row's codes consecutive.
    const ROWS: [(&str, u16); 3] = [("qwertyuiop", 0x10), ("asdfghjkl", 0x1e), ("zxcvbnm", 0x2c)];
    match c {
        '1'..='9' => Some(0x02 + (c as u16 - '1' as u16)),
        '0' => Some(0x0b),
        ' ' => Some(0x39),
        '\n' => Some(0x1c),
        _ => ROWS.iter().find_map(|(row, first)| {
            row.chars()
                .position(|k| k == c)
                // CAST: A row has at most ten keys.
                .map(|i| first + i as u16)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::keyboard::SYNTH_KBD_VERSION;

    #[test]
    fn sizes_and_offsets() {
        assert_eq!(KbdProtocolRequest::SIZE, 8);
        assert_eq!(KbdProtocolResponse::SIZE, 8);
        assert_eq!(KbdKeystroke::SIZE, 12);
        assert_eq!(
            KbdKeystroke::FIELDS,
            &[
                ("msg_type", 0),
                ("make_code", 4),
                ("reserved0", 6),
                ("info", 8)
            ]
        );
    }

    #[test]
    fn request_parsed_and_checked() {
        let mut req = [0u8; 8];
        req[0] = 1;
        req[4..].copy_from_slice(&SYNTH_KBD_VERSION.to_le_bytes());
        assert_eq!(
            parse_guest(&req),
            Ok(GuestMsg::ProtocolRequest(SYNTH_KBD_VERSION))
        );
        assert_eq!(
            parse_guest(&req[..6]),
            Err(KbdError::Truncated(6, KbdMsgType::PROTOCOL_REQUEST))
        );
        assert_eq!(parse_guest(&req[..3]), Err(KbdError::UnexpectedType(None)));
        assert_eq!(
            parse_guest(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(KbdError::UnexpectedType(Some(KbdMsgType::EVENT)))
        );
        assert_eq!(
            parse_guest(&[4, 0, 0, 0, 7, 0, 0, 0]),
            Ok(GuestMsg::LedIndicators(7))
        );
    }

    #[test]
    fn response_and_keystrokes_encoded() {
        let mut buf = [0u8; 12];
        assert_eq!(encode_response(&mut buf, true), Ok(8));
        assert_eq!(buf[..8], [2, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(
            encode_response(&mut buf[..7], true),
            Err(KbdError::BufferTooSmall)
        );
        assert_eq!(encode_keystroke(&mut buf, 0x26, false), Ok(12));
        assert_eq!(buf, [3, 0, 0, 0, 0x26, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            encode_keystroke(&mut buf[..11], 0x26, true),
            Err(KbdError::BufferTooSmall)
        );
    }

    #[test]
    fn scan_codes() {
        for (c, code) in [
            ('h', 0x23),
            ('e', 0x12),
            ('l', 0x26),
            ('o', 0x18),
            ('q', 0x10),
            ('p', 0x19),
            ('a', 0x1e),
            ('z', 0x2c),
            ('m', 0x32),
            ('1', 0x02),
            ('9', 0x0a),
            ('0', 0x0b),
            (' ', 0x39),
            ('\n', 0x1c),
        ] {
            assert_eq!(scan_code(c), Some(code), "{c:?}");
        }
        for c in ['H', '!', 'é', '\t'] {
            assert_eq!(scan_code(c), None, "{c:?}");
        }
    }
}
