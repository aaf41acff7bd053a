// SPDX-License-Identifier: GPL-2.0

//! Wire layouts: every structure that crosses the bus, in one place.
//!
//! Each structure is a `#[repr(C)]` Rust struct whose fields, padding
//! included, are spelled out so that its size and field offsets equal those
//! of the C definition in Linux (`include/linux/hyperv.h`,
//! `drivers/hv/hyperv_vmbus.h`, `include/hyperv/hvgdk_mini.h`). The size of
//! each structure is asserted at compile time, and the layout test
//! (`tests/layout.rs`) compares every field offset with bindgen's view of the
//! C headers.
//!
//! The in-memory representation is never reinterpreted as bytes. Every
//! structure is read from and written to byte slices field by field, in
//! little-endian order, through the [`Wire`] trait. Reading checks the length
//! of the slice, so a short buffer is an error and never a panic.

/// A value with a fixed little-endian wire encoding.
///
/// `get` and `put` advance `off` past the value. They return `None` when the
/// slice is too short (or `off` would overflow); they never panic.
pub trait Wire: Copy {
    /// The number of bytes the value occupies on the wire.
    const SIZE: usize;

    /// The all-zero value.
    fn zeroed() -> Self;

    /// Reads a value at `*off` and advances `*off` by [`Self::SIZE`].
    fn get(b: &[u8], off: &mut usize) -> Option<Self>;

    /// Writes the value at `*off` and advances `*off` by [`Self::SIZE`].
    fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()>;

    /// Reads a value from the start of `b`, which may be longer.
    #[inline]
    fn read_from(b: &[u8]) -> Option<Self> {
        let mut off = 0;
        Self::get(b, &mut off)
    }

    /// Writes the value at the start of `b`, which may be longer, and
    /// returns the number of bytes written.
    #[inline]
    fn write_to(&self, b: &mut [u8]) -> Option<usize> {
        let mut off = 0;
        self.put(b, &mut off)?;
        Some(off)
    }
}

/// Takes `N` bytes at `*off` and advances `*off`.
#[inline]
fn take<'a>(b: &'a [u8], off: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = off.checked_add(n)?;
    let s = b.get(*off..end)?;
    *off = end;
    Some(s)
}

/// Gives `N` writable bytes at `*off` and advances `*off`.
#[inline]
fn take_mut<'a>(b: &'a mut [u8], off: &mut usize, n: usize) -> Option<&'a mut [u8]> {
    let end = off.checked_add(n)?;
    let s = b.get_mut(*off..end)?;
    *off = end;
    Some(s)
}

macro_rules! wire_int {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const SIZE: usize = core::mem::size_of::<$t>();

            fn zeroed() -> Self {
                0
            }

            #[inline]
            fn get(b: &[u8], off: &mut usize) -> Option<Self> {
                let mut a = [0u8; core::mem::size_of::<$t>()];
                a.copy_from_slice(take(b, off, Self::SIZE)?);
                Some(<$t>::from_le_bytes(a))
            }

            #[inline]
            fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
                take_mut(b, off, Self::SIZE)?.copy_from_slice(&self.to_le_bytes());
                Some(())
            }
        }
    )*};
}

wire_int!(u8, u16, u32, u64, i32);

impl<T: Wire, const N: usize> Wire for [T; N] {
    const SIZE: usize = T::SIZE * N;

    fn zeroed() -> Self {
        [T::zeroed(); N]
    }

    fn get(b: &[u8], off: &mut usize) -> Option<Self> {
        // Check the whole length first so that a short slice costs nothing.
        let end = off.checked_add(Self::SIZE)?;
        if end > b.len() {
            return None;
        }
        let mut a = [T::zeroed(); N];
        for v in a.iter_mut() {
            *v = T::get(b, off)?;
        }
        Some(a)
    }

    fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
        let end = off.checked_add(Self::SIZE)?;
        if end > b.len() {
            return None;
        }
        for v in self.iter() {
            v.put(b, off)?;
        }
        Some(())
    }
}

/// Defines a wire structure: a `#[repr(C)]` struct with the given fields, a
/// compile-time assertion of its size and of the absence of implicit
/// padding, a `FIELDS` table of names and offsets (for the layout test), and
/// its [`Wire`] implementation (fields in declaration order).
///
/// The invoking module must have `Wire` in scope.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, size $size:expr;
        {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        const _: () = assert!(core::mem::size_of::<$name>() == $size);
        const _: () = assert!(0 $(+ core::mem::size_of::<$ty>())* == $size);

        impl $name {
            /// The fields' names and byte offsets, in declaration order.
            pub const FIELDS: &'static [(&'static str, usize)] = &[
                $( (stringify!($field), core::mem::offset_of!($name, $field)), )*
            ];
        }

        impl Wire for $name {
            const SIZE: usize = $size;

            fn zeroed() -> Self {
                Self { $( $field: <$ty as Wire>::zeroed(), )* }
            }

            #[inline]
            fn get(b: &[u8], off: &mut usize) -> Option<Self> {
                Some(Self { $( $field: <$ty as Wire>::get(b, off)?, )* })
            }

            #[inline]
            fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
                $( Wire::put(&self.$field, b, off)?; )*
                Some(())
            }
        }
    };
}

/// Defines an open protocol enum: a newtype over an integer whose known
/// values are associated constants, so that unknown values stay
/// representable.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($int:ty);
        {
            $( $(#[$cmeta:meta])* $cname:ident = $val:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $int);

        impl $name {
            $( $(#[$cmeta])* pub const $cname: Self = Self($val); )*

            /// The name of a known value, or `None` for an unknown one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( v if v == $val => Some(stringify!($cname)), )*
                    _ => None,
                }
            }
        }

        impl Wire for $name {
            const SIZE: usize = core::mem::size_of::<$int>();

            fn zeroed() -> Self {
                Self(0)
            }

            #[inline]
            fn get(b: &[u8], off: &mut usize) -> Option<Self> {
                Some(Self(<$int as Wire>::get(b, off)?))
            }

            #[inline]
            fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
                self.0.put(b, off)
            }
        }
    };
}

// The submodules use the macros above, so they are declared after them.
pub mod channel_msg;
pub mod fcopy;
pub mod ic;
pub mod keyboard;
pub mod kvp;
pub mod monitor;
pub mod nvsp;
pub mod packet;
pub mod rndis;
pub mod storage;
pub mod synic;
pub mod vss;

/// A GUID in its wire form: 16 bytes, the first three fields little-endian
/// (the same bytes as Linux's `guid_t`).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Guid(pub [u8; 16]);

const _: () = assert!(core::mem::size_of::<Guid>() == 16);

impl Guid {
    /// The all-zero GUID.
    pub const ZERO: Self = Self([0; 16]);

    /// Builds a GUID from its textual fields, as in
    /// `{d1-d2-d3-d4[0..2]-d4[2..8]}`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// The first field, as written in the textual form.
    pub const fn data1(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// The second field.
    pub const fn data2(&self) -> u16 {
        u16::from_le_bytes([self.0[4], self.0[5]])
    }

    /// The third field.
    pub const fn data3(&self) -> u16 {
        u16::from_le_bytes([self.0[6], self.0[7]])
    }
}

impl core::fmt::Display for Guid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.data1(),
            self.data2(),
            self.data3(),
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

impl core::fmt::Debug for Guid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl Wire for Guid {
    const SIZE: usize = 16;

    fn zeroed() -> Self {
        Self::ZERO
    }

    fn get(b: &[u8], off: &mut usize) -> Option<Self> {
        Some(Self(<[u8; 16]>::get(b, off)?))
    }

    fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
        self.0.put(b, off)
    }
}

/// A `u64` at an offset that is not 8-byte aligned inside a packed C
/// structure. It has alignment 1 so that the Rust structure keeps the C size.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct PackedU64(pub [u8; 8]);

impl PackedU64 {
    /// Wraps a value.
    pub const fn new(v: u64) -> Self {
        Self(v.to_le_bytes())
    }

    /// The value.
    pub const fn get(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

impl core::fmt::Debug for PackedU64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.get())
    }
}

impl Wire for PackedU64 {
    const SIZE: usize = 8;

    fn zeroed() -> Self {
        Self([0; 8])
    }

    fn get(b: &[u8], off: &mut usize) -> Option<Self> {
        Some(Self(<[u8; 8]>::get(b, off)?))
    }

    fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
        self.0.put(b, off)
    }
}

/// A `u32` inside a packed C structure whose size is not a multiple of 4.
/// It has alignment 1 so that the Rust structure keeps the C size.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct PackedU32(pub [u8; 4]);

impl PackedU32 {
    /// Wraps a value.
    pub const fn new(v: u32) -> Self {
        Self(v.to_le_bytes())
    }

    /// The value.
    pub const fn get(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

impl core::fmt::Debug for PackedU32 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.get())
    }
}

impl Wire for PackedU32 {
    const SIZE: usize = 4;

    fn zeroed() -> Self {
        Self([0; 4])
    }

    fn get(b: &[u8], off: &mut usize) -> Option<Self> {
        Some(Self(<[u8; 4]>::get(b, off)?))
    }

    fn put(&self, b: &mut [u8], off: &mut usize) -> Option<()> {
        self.0.put(b, off)
    }
}

/// The size of a Hyper-V page, the unit of PFNs on the bus.
pub const HV_PAGE_SIZE: usize = 4096;
/// `log2(HV_PAGE_SIZE)`.
pub const HV_PAGE_SHIFT: u32 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_and_bytes() {
        let g = Guid::from_fields(
            0x57164f39,
            0x9115,
            0x4e78,
            [0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42, 0x2d],
        );
        assert_eq!(g.0[0], 0x39);
        assert_eq!(g.0[4], 0x15);
        let mut s = [0u8; 36];
        let mut w = Buf(&mut s, 0);
        core::fmt::write(&mut w, format_args!("{g}")).unwrap();
        assert_eq!(&s, b"57164f39-9115-4e78-ab55-382f3bd5422d");
    }

    struct Buf<'a>(&'a mut [u8], usize);
    impl core::fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0[self.1..self.1 + s.len()].copy_from_slice(s.as_bytes());
            self.1 += s.len();
            Ok(())
        }
    }

    #[test]
    fn ints_little_endian_and_short() {
        let mut b = [0u8; 6];
        let mut off = 0;
        0x1122_3344u32.put(&mut b, &mut off).unwrap();
        0x5566u16.put(&mut b, &mut off).unwrap();
        assert_eq!(b, [0x44, 0x33, 0x22, 0x11, 0x66, 0x55]);
        assert_eq!(u32::put(&1, &mut b, &mut off), None);
        let mut off = 4;
        assert_eq!(u32::get(&b, &mut off), None);
        let mut off = usize::MAX;
        assert_eq!(u8::get(&b, &mut off), None);
        assert_eq!(<[u16; 3]>::read_from(&b), Some([0x3344, 0x1122, 0x5566]));
        assert_eq!(<[u16; 4]>::read_from(&b), None);
    }
}
