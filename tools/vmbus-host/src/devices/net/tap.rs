// SPDX-License-Identifier: GPL-2.0

//! The host end of the wire: a TAP device. Frames the guest sends are
//! written to it whole; frames the host's network stack sends come out of
//! it. The device is opened non-blocking through `/dev/net/tun` with
//! `IFF_TAP | IFF_NO_PI` (no packet-information prefix: every read and
//! write is exactly one Ethernet frame). Who made it and where it lives
//! (its network namespace, its address) is the caller's business; the test
//! harness creates it in a namespace of its own.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

/// `IFNAMSIZ`: interface names are shorter than this.
pub const IFNAMSIZ: usize = 16;
/// The largest frame read at once (a jumbo frame and then some).
pub const MAX_FRAME: usize = 65536;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;

/// An open TAP device.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    buf: Vec<u8>,
}

/// Checks an interface name: 1 to 15 bytes, no `/`, whitespace or NUL.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < IFNAMSIZ
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

impl Tap {
    /// Opens (or creates) the TAP device `name`.
    pub fn open(name: &str) -> io::Result<Self> {
        if !valid_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        // struct ifreq: the name, then (in the union) the flags.
        let mut ifr = [0u8; 40];
        if let Some(dst) = ifr.get_mut(..name.len()) {
            dst.copy_from_slice(name.as_bytes());
        }
        if let Some(dst) = ifr.get_mut(IFNAMSIZ..IFNAMSIZ + 2) {
            dst.copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
        }
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq` (40 bytes
        // on 64-bit Linux) at the pointer, which is valid and writable for
        // that long during the call; the descriptor is open.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, ifr.as_mut_ptr()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            file,
            name: name.to_string(),
            buf: vec![0u8; MAX_FRAME],
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame, `None` if none is waiting.
    /// The device's file descriptor, for the host's event loop to wait
    /// on.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }

    pub fn read_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.file.read(&mut self.buf) {
            Ok(n) => Ok(self.buf.get(..n).map(<[u8]>::to_vec)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends one frame into the host's stack. A full queue drops it (as
    /// a real wire would) and says so with `Ok(false)`.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<bool> {
        match self.file.write(frame) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("tap0"));
        assert!(valid_name("rvmbus-net0"));
        assert!(!valid_name(""));
        assert!(!valid_name("0123456789abcdef"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
        assert!(Tap::open("bad name").is_err());
    }
}
