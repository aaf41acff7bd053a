// SPDX-License-Identifier: GPL-2.0

//! Small safe wrappers over the Linux system calls that std does not offer:
//! eventfds, memfds, poll, and 8-byte messages with an fd attached
//! (`SCM_RIGHTS`), which is what QEMU's ivshmem server protocol is made of.

use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

/// Wraps a freshly returned descriptor, or the error that `-1` stands for.
fn own_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(last_err());
    }
    // SAFETY: `fd` was just returned by a system call that creates a new
    // descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates a non-blocking, close-on-exec eventfd with a zero counter.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    own_fd(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })
}

/// Adds one to an eventfd's counter (wakes whoever polls it).
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: the buffer is valid for 8 bytes for the duration of the call.
    let n = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    if n == 8 {
        return Ok(());
    }
    let e = last_err();
    // A saturated counter means the other side has an interrupt pending
    // anyway; that is not an error worth reporting.
    if e.kind() == io::ErrorKind::WouldBlock {
        return Ok(());
    }
    Err(e)
}

/// Reads and resets an eventfd's counter; 0 when it was not signalled.
pub fn eventfd_drain(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: the buffer is valid for 8 bytes for the duration of the call.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n == 8 {
        return Ok(u64::from_ne_bytes(buf));
    }
    let e = last_err();
    if n < 0 && e.kind() == io::ErrorKind::WouldBlock {
        return Ok(0);
    }
    if n < 0 {
        return Err(e);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "short eventfd read",
    ))
}

/// Creates an anonymous shared-memory file of `size` bytes.
pub fn memfd(name: &CStr, size: u64) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string for the call.
    let fd = own_fd(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    let len = libc::off_t::try_from(size)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "memfd size too large"))?;
    // SAFETY: ftruncate on a descriptor we own; no pointers.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
        return Err(last_err());
    }
    Ok(fd)
}

/// `poll(2)`; an interrupted call counts as "nothing ready".
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many fds"))?;
    // SAFETY: `fds` is a valid, writable array of `nfds` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
    if n < 0 {
        let e = last_err();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}

/// A `pollfd` asking for `events` on `fd`.
pub fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Room for one control message carrying one fd, suitably aligned.
#[repr(C, align(8))]
struct CmsgBuf([u8; 64]);

/// Sends one little-endian `i64` on a stream socket, with `fd` attached as
/// `SCM_RIGHTS` if given. Never raises SIGPIPE.
pub fn send_i64(sock: BorrowedFd<'_>, value: i64, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let mut data = value.to_le_bytes();
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = CmsgBuf([0; 64]);
    // SAFETY: an all-zero msghdr is a valid "no name, no control" header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
        debug_assert!(space <= cbuf.0.len());
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points at `space` writable, 8-byte aligned
        // bytes, enough for one cmsghdr carrying one int, so CMSG_FIRSTHDR
        // returns a valid header pointer inside `cbuf` and CMSG_DATA points
        // at room for the fd.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd.as_raw_fd());
        }
    }
    loop {
        // SAFETY: `msg` and everything it points to (iov, data, cbuf) live
        // until the call returns.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n == data.len() as isize {
            return Ok(());
        }
        if n < 0 {
            let e = last_err();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write of an ivshmem protocol message",
        ));
    }
}

/// Receives one little-endian `i64` from a stream socket and the fd that
/// came with it, if any. `Ok(None)` means the peer closed the connection.
/// Blocks according to the socket's mode and timeouts.
pub fn recv_i64(sock: BorrowedFd<'_>) -> io::Result<Option<(i64, Option<OwnedFd>)>> {
    let mut data = [0u8; 8];
    let mut got = 0usize;
    let mut fd_out: Option<OwnedFd> = None;
    while got < data.len() {
        let mut iov = libc::iovec {
            // SAFETY: `got < data.len()`, so the pointer stays in bounds.
            iov_base: unsafe { data.as_mut_ptr().add(got) }.cast(),
            iov_len: data.len() - got,
        };
        let mut cbuf = CmsgBuf([0; 64]);
        // SAFETY: an all-zero msghdr is valid; the pointers are set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = cbuf.0.len();
        // SAFETY: `msg` points at valid writable buffers that outlive the
        // call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = last_err();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message",
            ));
        }
        got += n as usize;
        // SAFETY: the kernel filled in `msg_controllen` bytes of `cbuf`; the
        // CMSG_* macros walk only inside that range.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let payload = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let count = payload / size_of::<RawFd>();
                    for i in 0..count {
                        let raw =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>().add(i));
                        // Keep the first fd, close any extra ones.
                        let owned = OwnedFd::from_raw_fd(raw);
                        if fd_out.is_none() {
                            fd_out = Some(owned);
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
    }
    Ok(Some((i64::from_le_bytes(data), fd_out)))
}

/// Size of an open file.
pub fn fd_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid writable stat buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(last_err());
    }
    u64::try_from(st.st_size).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad size"))
}
