// SPDX-License-Identifier: GPL-2.0

//! UTF-16LE strings in fixed fields, as the IC messages carry them (KVP
//! keys and values, file copy names): writing one with its NUL terminator
//! ([`put_utf16`]) and reading one out of a field that came from the other
//! side ([`Utf16Str`]), which ends at its first NUL unit or at the end of
//! the field, and whose unpaired surrogates are errors, not panics.

/// Why a string could not be written or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf16Error {
    /// The string and its terminator do not fit the field.
    TooLong,
    /// Not valid UTF-16 (an unpaired surrogate).
    BadUtf16,
    /// The output buffer is too small for the decoded text.
    BufferTooSmall,
}

/// Writes `s` as UTF-16LE with a NUL terminator at the start of `out`;
/// returns the bytes written, terminator included.
pub fn put_utf16(s: &str, out: &mut [u8]) -> Result<usize, Utf16Error> {
    let mut off = 0;
    for unit in s.encode_utf16().chain(core::iter::once(0)) {
        let dst = out.get_mut(off..off + 2).ok_or(Utf16Error::TooLong)?;
        dst.copy_from_slice(&unit.to_le_bytes());
        off += 2;
    }
    Ok(off)
}

/// A UTF-16LE string read from a field: the bytes before its first NUL unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf16Str<'a>(&'a [u8]);

impl<'a> Utf16Str<'a> {
    /// The empty string.
    pub const fn empty() -> Self {
        Self(&[])
    }

    /// The string in `field` (bytes), which ends at the first NUL unit or
    /// at the end of the field; an odd last byte is left out.
    pub fn from_field(field: &'a [u8]) -> Self {
        let mut end = 0;
        for unit in field.chunks_exact(2) {
            if unit == [0, 0] {
                break;
            }
            end += 2;
        }
        Self(field.get(..end).unwrap_or(&[]))
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The characters; an unpaired surrogate is an error.
    pub fn chars(&self) -> impl Iterator<Item = Result<char, Utf16Error>> + 'a {
        let units = self.0.chunks_exact(2).map(|u| {
            u16::from_le_bytes([
                u.first().copied().unwrap_or(0),
                u.get(1).copied().unwrap_or(0),
            ])
        });
        core::char::decode_utf16(units).map(|c| c.map_err(|_| Utf16Error::BadUtf16))
    }

    /// Decodes the string as UTF-8 into `out`.
    pub fn decode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Utf16Error> {
        let mut n = 0;
        for c in self.chars() {
            let c = c?;
            let dst = out
                .get_mut(n..n + c.len_utf8())
                .ok_or(Utf16Error::BufferTooSmall)?;
            c.encode_utf8(dst);
            n += c.len_utf8();
        }
        let done = out.get(..n).ok_or(Utf16Error::BufferTooSmall)?;
        core::str::from_utf8(done).map_err(|_| Utf16Error::BadUtf16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_terminator() {
        let mut b = [0xffu8; 16];
        assert_eq!(put_utf16("aé€", &mut b), Ok(8));
        assert_eq!(&b[..8], &[b'a', 0, 0xe9, 0, 0xac, 0x20, 0, 0]);
        let mut out = [0u8; 16];
        assert_eq!(Utf16Str::from_field(&b).decode_into(&mut out), Ok("aé€"));
    }

    #[test]
    fn too_long_and_odd_fields() {
        assert_eq!(put_utf16("ab", &mut [0u8; 5]), Err(Utf16Error::TooLong));
        assert_eq!(put_utf16("", &mut [0u8; 1]), Err(Utf16Error::TooLong));
        // No terminator and an odd last byte: the string is the whole units.
        let s = Utf16Str::from_field(&[b'x', 0, b'y']);
        assert_eq!(s.decode_into(&mut [0u8; 4]), Ok("x"));
        assert!(Utf16Str::from_field(&[0, 0, b'z', 0]).is_empty());
    }

    #[test]
    fn surrogates_and_small_buffers() {
        let lone = 0xd800u16.to_le_bytes();
        let s = Utf16Str::from_field(&lone);
        assert_eq!(s.decode_into(&mut [0u8; 8]), Err(Utf16Error::BadUtf16));
        let pair = [0x3d, 0xd8, 0x00, 0xde];
        let s = Utf16Str::from_field(&pair);
        assert_eq!(
            s.decode_into(&mut [0u8; 3]),
            Err(Utf16Error::BufferTooSmall)
        );
        assert_eq!(s.decode_into(&mut [0u8; 4]), Ok("\u{1f600}"));
    }
}
