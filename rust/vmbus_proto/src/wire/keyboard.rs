// SPDX-License-Identifier: GPL-2.0

//! The synthetic keyboard's messages (Linux's
//! `drivers/input/serio/hyperv-keyboard.c`): the guest asks for protocol
//! version 1.0, the host accepts, then sends a keystroke message per make
//! and per break of a PC set-1 scan code. The guest may also tell the host
//! its LED indicators. Every message starts with a 32-bit type.

use super::Wire;

/// Protocol version 1.0: the minor version in the low 16 bits, the major
/// in the high 16 (`SYNTH_KBD_VERSION`).
pub const SYNTH_KBD_VERSION: u32 = 1 << 16;

/// The response's `proto_status` bit that accepts the version
/// (`PROTOCOL_ACCEPTED`).
pub const PROTOCOL_ACCEPTED: u32 = 1;

/// Keystroke `info` bit: `make_code` is a UTF-16 unit, not a scan code.
pub const IS_UNICODE: u32 = 1 << 0;
/// Keystroke `info` bit: the key goes up (a break).
pub const IS_BREAK: u32 = 1 << 1;
/// Keystroke `info` bit: the scan code has the 0xe0 prefix.
pub const IS_E0: u32 = 1 << 2;
/// Keystroke `info` bit: the scan code has the 0xe1 prefix.
pub const IS_E1: u32 = 1 << 3;

open_enum! {
    /// `enum synth_kbd_msg_type`.
    pub struct KbdMsgType(u32);
    {
        /// The guest asks for a protocol version.
        PROTOCOL_REQUEST = 1,
        /// The host's answer to it.
        PROTOCOL_RESPONSE = 2,
        /// A keystroke, host to guest.
        EVENT = 3,
        /// The guest's LED indicators.
        LED_INDICATORS = 4,
    }
}

wire_struct! {
    /// `struct synth_kbd_protocol_request`.
    pub struct KbdProtocolRequest, size 8;
    {
        /// `PROTOCOL_REQUEST`.
        pub msg_type: KbdMsgType,
        /// The version asked for ([`SYNTH_KBD_VERSION`]).
        pub version: u32,
    }
}

wire_struct! {
    /// `struct synth_kbd_protocol_response`.
    pub struct KbdProtocolResponse, size 8;
    {
        /// `PROTOCOL_RESPONSE`.
        pub msg_type: KbdMsgType,
        /// [`PROTOCOL_ACCEPTED`] if the version is served.
        pub proto_status: u32,
    }
}

wire_struct! {
    /// `struct synth_kbd_keystroke`.
    pub struct KbdKeystroke, size 12;
    {
        /// `EVENT`.
        pub msg_type: KbdMsgType,
        /// The scan code without its prefix and without the break bit.
        pub make_code: u16,
        /// Reserved, zero.
        pub reserved0: u16,
        /// [`IS_UNICODE`], [`IS_BREAK`], [`IS_E0`], [`IS_E1`].
        pub info: u32,
    }
}

wire_struct! {
    /// The guest's LED indicator message as this crate reads it: its type
    /// and 32 bits of indicators (Linux's driver defines the type but
    /// never sends it).
    pub struct KbdLedIndicators, size 8;
    {
        /// `LED_INDICATORS`.
        pub msg_type: KbdMsgType,
        /// The LED bits.
        pub leds: u32,
    }
}
