// SPDX-License-Identifier: GPL-2.0

//! Hostile writes into the host → guest ring: a well-formed packet is
//! written in a broken way, bypassing the checks of `vmbus_proto`'s
//! producer (see [`super::hostile::Mode`]).

use vmbus_proto::ring::{ControlWord, RingMem};

use super::hostile::Mode;

/// Writes `pkt` (a whole packet, a multiple of 8 bytes) at the ring's
/// current write index, broken as `mode` says, and publishes a write index.
pub fn write<M: RingMem>(mem: &M, mode: Mode, pkt: &[u8]) {
    let size = mem.data_len();
    let start = mem.load(ControlWord::WriteIndex) as usize % size.max(1);
    let mut bytes = pkt.to_vec();
    match mode {
        Mode::OversizedPacket => {
            // len8 far beyond what was written (and the ring).
            let claim = u16::try_from(size / 8 + 16).unwrap_or(u16::MAX);
            if let Some(b) = bytes.get_mut(4..6) {
                b.copy_from_slice(&claim.to_le_bytes());
            }
        }
        Mode::MisalignedPacket => {
            if let Some(b) = bytes.get_mut(2..4) {
                b.copy_from_slice(&1u16.to_le_bytes());
            }
        }
        _ => {}
    }
    bytes.extend_from_slice(&((start as u64) << 32).to_le_bytes());
    let mut off = start;
    for chunk in bytes.chunks(8) {
        mem.write(off, chunk);
        off = (off + chunk.len()) % size.max(1);
    }
    let end = match mode {
        Mode::CorruptRingIndices => size as u64 + 12,
        Mode::TruncatedPacket => ((start + 16) % size.max(1)) as u64,
        _ => off as u64,
    };
    mem.fence();
    mem.store(
        ControlWord::WriteIndex,
        u32::try_from(end).unwrap_or(u32::MAX),
    );
}
