// SPDX-License-Identifier: GPL-2.0

//! SynIC message slots and the post-message hypercall input.
//!
//! A SynIC message page holds one 256-byte [`HvMessage`] per SINT. VMBus
//! channel messages arrive in the slot of [`VMBUS_MESSAGE_SINT`] with
//! [`HvMessageType::CHANNEL`]; the guest sends them with `HvPostMessage`,
//! whose input is [`HvInputPostMessage`].

use super::Wire;

/// Size of a SynIC message slot.
pub const HV_MESSAGE_SIZE: usize = 256;
/// Size of the payload of a SynIC message.
pub const HV_MESSAGE_PAYLOAD_SIZE: usize = 240;
/// Number of SINTs, and so of slots in a message page.
pub const HV_SYNIC_SINT_COUNT: usize = 16;
/// Size of one SINT's event flags in an event flags page.
pub const HV_EVENT_FLAGS_BYTE_COUNT: usize = 256;
/// Number of event flags per SINT.
pub const HV_EVENT_FLAGS_COUNT: usize = HV_EVENT_FLAGS_BYTE_COUNT * 8;

/// The SINT that carries VMBus messages and channel events.
pub const VMBUS_MESSAGE_SINT: u8 = 2;
/// Connection id for channel messages before version 5.0.
pub const VMBUS_MESSAGE_CONNECTION_ID: u32 = 1;
/// Connection id for `INITIATE_CONTACT` from version 5.0 on.
pub const VMBUS_MESSAGE_CONNECTION_ID_4: u32 = 4;
/// Connection id a VTL2 guest tries first for `INITIATE_CONTACT`.
pub const VMBUS_MESSAGE_CONNECTION_ID_REDIRECT: u32 = 0x80_0074;
/// Port id of the VMBus message port.
pub const VMBUS_MESSAGE_PORT_ID: u32 = 1;
/// Connection id of the VMBus event (interrupt page) connection.
pub const VMBUS_EVENT_CONNECTION_ID: u32 = 2;
/// Port id of the VMBus event port.
pub const VMBUS_EVENT_PORT_ID: u32 = 2;
/// Connection id of the monitor connection.
pub const VMBUS_MONITOR_CONNECTION_ID: u32 = 3;
/// Port id of the monitor port.
pub const VMBUS_MONITOR_PORT_ID: u32 = 3;

/// Bit 0 of [`HvMessageHeader::message_flags`]: another message is pending
/// behind this one, so the guest must write the EOM register after freeing
/// the slot.
pub const HV_MESSAGE_FLAG_PENDING: u8 = 1;

open_enum! {
    /// The type of a SynIC message (`enum hv_message_type`).
    pub struct HvMessageType(u32);
    {
        /// The slot is empty.
        NONE = 0,
        /// A VMBus channel message (the value Linux posts and receives).
        CHANNEL = 1,
        /// A synthetic timer expired.
        TIMER_EXPIRED = 0x8000_0010,
    }
}

wire_struct! {
    /// `struct hv_message_header`.
    pub struct HvMessageHeader, size 16;
    {
        /// The message type; [`HvMessageType::NONE`] marks a free slot.
        pub message_type: HvMessageType,
        /// Bytes of payload that are valid.
        pub payload_size: u8,
        /// [`HV_MESSAGE_FLAG_PENDING`].
        pub message_flags: u8,
        /// Reserved, zero.
        pub reserved: [u8; 2],
        /// Sender partition or port id.
        pub sender: u64,
    }
}

wire_struct! {
    /// `struct hv_message`: one SynIC message slot.
    pub struct HvMessage, size 256;
    {
        /// The header.
        pub header: HvMessageHeader,
        /// The payload; only `header.payload_size` bytes are meaningful.
        pub payload: [u8; HV_MESSAGE_PAYLOAD_SIZE],
    }
}

wire_struct! {
    /// `struct hv_input_post_message`: the input page of `HvPostMessage`.
    pub struct HvInputPostMessage, size 256;
    {
        /// The connection id to post to (low 24 bits).
        pub connection_id: u32,
        /// Reserved, zero.
        pub reserved: u32,
        /// The message type, [`HvMessageType::CHANNEL`] for VMBus.
        pub message_type: HvMessageType,
        /// Bytes of payload.
        pub payload_size: u32,
        /// The payload.
        pub payload: [u8; HV_MESSAGE_PAYLOAD_SIZE],
    }
}

/// Errors in a SynIC message slot or post-message input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynicError {
    /// The buffer is shorter than the structure.
    Truncated,
    /// The payload size exceeds [`HV_MESSAGE_PAYLOAD_SIZE`].
    PayloadTooLarge(u32),
    /// The message type is not the one expected.
    UnexpectedType(HvMessageType),
}

impl HvMessage {
    /// Builds a channel message slot from `payload`.
    pub fn channel(payload: &[u8]) -> Result<Self, SynicError> {
        let mut m = Self::zeroed();
        let len = payload.len();
        let dst = m.payload.get_mut(..len).ok_or(SynicError::PayloadTooLarge(
            u32::try_from(len).unwrap_or(u32::MAX),
        ))?;
        dst.copy_from_slice(payload);
        m.header.message_type = HvMessageType::CHANNEL;
        // NO-OVERFLOW: `len` is at most 240 here.
        m.header.payload_size = len as u8;
        Ok(m)
    }

    /// Decodes a copy of a slot and checks that it holds a VMBus channel
    /// message with a valid payload size.
    pub fn decode_channel(b: &[u8]) -> Result<Self, SynicError> {
        let m = Self::read_from(b).ok_or(SynicError::Truncated)?;
        if m.header.message_type != HvMessageType::CHANNEL {
            return Err(SynicError::UnexpectedType(m.header.message_type));
        }
        if usize::from(m.header.payload_size) > HV_MESSAGE_PAYLOAD_SIZE {
            return Err(SynicError::PayloadTooLarge(m.header.payload_size.into()));
        }
        Ok(m)
    }

    /// The valid part of the payload (empty if the size is out of range).
    pub fn valid_payload(&self) -> &[u8] {
        self.payload
            .get(..usize::from(self.header.payload_size))
            .unwrap_or(&[])
    }

    /// Whether another message is pending behind this one.
    pub fn pending(&self) -> bool {
        self.header.message_flags & HV_MESSAGE_FLAG_PENDING != 0
    }
}

impl HvInputPostMessage {
    /// Builds a post-message input for a VMBus channel message.
    pub fn channel(connection_id: u32, payload: &[u8]) -> Result<Self, SynicError> {
        let mut m = Self::zeroed();
        let len = payload.len();
        let dst = m.payload.get_mut(..len).ok_or(SynicError::PayloadTooLarge(
            u32::try_from(len).unwrap_or(u32::MAX),
        ))?;
        dst.copy_from_slice(payload);
        m.connection_id = connection_id;
        m.message_type = HvMessageType::CHANNEL;
        m.payload_size = u32::try_from(len).unwrap_or(u32::MAX);
        Ok(m)
    }

    /// Decodes a copy of a post-message input (as the host receives it) and
    /// checks the payload size.
    pub fn decode(b: &[u8]) -> Result<Self, SynicError> {
        let m = Self::read_from(b).ok_or(SynicError::Truncated)?;
        if m.payload_size as usize > HV_MESSAGE_PAYLOAD_SIZE {
            return Err(SynicError::PayloadTooLarge(m.payload_size));
        }
        Ok(m)
    }

    /// The valid part of the payload (empty if the size is out of range).
    pub fn valid_payload(&self) -> &[u8] {
        self.payload
            .get(..self.payload_size as usize)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trip() {
        let m = HvMessage::channel(&[1, 2, 3]).unwrap();
        let mut b = [0u8; 256];
        assert_eq!(m.write_to(&mut b), Some(256));
        assert_eq!(b[0], 1);
        assert_eq!(b[4], 3);
        assert_eq!(b[16..19], [1, 2, 3]);
        let d = HvMessage::decode_channel(&b).unwrap();
        assert_eq!(d.valid_payload(), &[1, 2, 3]);
        assert!(!d.pending());
        b[4] = 241;
        assert_eq!(
            HvMessage::decode_channel(&b),
            Err(SynicError::PayloadTooLarge(241))
        );
        b[0] = 0;
        assert_eq!(
            HvMessage::decode_channel(&b),
            Err(SynicError::UnexpectedType(HvMessageType::NONE))
        );
        assert_eq!(
            HvMessage::decode_channel(&b[..255]),
            Err(SynicError::Truncated)
        );
        assert!(HvMessage::channel(&[0; 241]).is_err());
    }

    #[test]
    fn post_input() {
        let p = HvInputPostMessage::channel(4, &[9; 240]).unwrap();
        let mut b = [0u8; 256];
        p.write_to(&mut b).unwrap();
        assert_eq!(b[0..16], [4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 240, 0, 0, 0]);
        assert_eq!(HvInputPostMessage::decode(&b).unwrap(), p);
        b[12] = 241;
        assert!(HvInputPostMessage::decode(&b).is_err());
    }
}
