// SPDX-License-Identifier: GPL-2.0

//! The byte format the scripted targets read (`host-*`, `gpadl`): a fuzz
//! input is a sequence of operations, each an opcode byte and its operands
//! (little-endian words, length-prefixed byte strings). [`Script`] reads
//! it, yielding zeros once the input is used up, so that every input is a
//! valid script; [`ScriptWriter`] writes it, for the seed generator.

/// A cursor over a fuzz input.
pub struct Script<'a> {
    data: &'a [u8],
}

impl<'a> Script<'a> {
    /// A script of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next `n` bytes, fewer at the end of the input.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    fn word<const N: usize>(&mut self) -> [u8; N] {
        let mut w = [0u8; N];
        for (d, s) in w.iter_mut().zip(self.bytes(N)) {
            *d = *s;
        }
        w
    }

    /// A byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.word::<1>()[0]
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.word())
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.word())
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.word())
    }

    /// A byte string with a one-byte length.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = self.u8();
        self.bytes(usize::from(n))
    }

    /// A byte string with a two-byte length.
    pub fn chunk16(&mut self) -> &'a [u8] {
        let n = self.u16();
        self.bytes(usize::from(n))
    }
}

/// Writes scripts for [`Script`] to read.
#[derive(Default)]
pub struct ScriptWriter {
    out: Vec<u8>,
}

impl ScriptWriter {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// A byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.out.push(v);
        self
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Bytes as they are.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }

    /// A byte string with a one-byte length (at most 255 bytes).
    pub fn chunk(&mut self, b: &[u8]) -> &mut Self {
        let n = u8::try_from(b.len()).expect("chunk of at most 255 bytes");
        self.u8(n).bytes(b)
    }

    /// A byte string with a two-byte length.
    pub fn chunk16(&mut self, b: &[u8]) -> &mut Self {
        let n = u16::try_from(b.len()).expect("chunk of at most 65535 bytes");
        self.u16(n).bytes(b)
    }

    /// The script.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_zeros_past_the_end() {
        let b = ScriptWriter::new()
            .u8(1)
            .u16(0x203)
            .u32(0x4050607)
            .u64(9)
            .chunk(b"ab")
            .chunk16(b"cde")
            .finish();
        let mut s = Script::new(&b);
        assert_eq!(
            (s.u8(), s.u16(), s.u32(), s.u64()),
            (1, 0x203, 0x4050607, 9)
        );
        assert_eq!(s.chunk(), b"ab");
        assert_eq!(s.chunk16(), b"cde");
        assert!(s.is_empty());
        assert_eq!((s.u8(), s.u32()), (0, 0));
        assert_eq!(s.chunk(), b"");
        let mut s = Script::new(&[3, 0xaa]);
        assert_eq!(s.chunk(), [0xaa]);
    }
}
