// SPDX-License-Identifier: GPL-2.0

//! Stopping the host: a [`StopHandle`] is an eventfd the event loop polls;
//! SIGINT and SIGTERM trigger it from an async-signal-safe handler, and
//! tests or the control socket can trigger it directly.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::sys;

/// A cloneable "please stop" flag that the event loop can poll.
#[derive(Clone)]
pub struct StopHandle(Arc<OwnedFd>);

impl StopHandle {
    /// A new, untriggered handle.
    pub fn new() -> io::Result<Self> {
        Ok(Self(Arc::new(sys::eventfd()?)))
    }

    /// Asks the host to stop.
    pub fn trigger(&self) {
        if let Err(e) = sys::eventfd_signal(self.0.as_fd()) {
            crate::log_error!("cannot signal stop: {e}");
        }
    }

    /// The fd to poll (readable once triggered).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// The stop eventfd the signal handler writes, or -1.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_sig: libc::c_int) {
    let fd = SIGNAL_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let one = 1u64.to_ne_bytes();
    // SAFETY: write(2) and errno access are async-signal-safe; the buffer
    // lives for the call. errno is saved and restored so that the
    // interrupted code does not see it change.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, one.as_ptr().cast(), one.len());
        *libc::__errno_location() = errno;
    }
}

/// Makes SIGINT and SIGTERM trigger `stop`. The handle must stay alive for
/// the rest of the process (keep a clone).
pub fn install(stop: &StopHandle) -> io::Result<()> {
    SIGNAL_FD.store(stop.fd().as_raw_fd(), Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero sigaction is valid (empty mask, no flags);
        // the handler field is set to a function with the right signature
        // that only does async-signal-safe work.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
