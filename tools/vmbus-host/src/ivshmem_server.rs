// SPDX-License-Identifier: GPL-2.0

//! QEMU's ivshmem server protocol, server side, for one client (QEMU's
//! `ivshmem-doorbell` device).
//!
//! Each message is an 8-byte little-endian signed integer on the unix
//! stream socket, some with one fd attached (`SCM_RIGHTS`):
//!
//! 1. `0`, the protocol version;
//! 2. the client's peer id;
//! 3. `-1` with the shared memory fd (BAR2);
//! 4. the host's peer id once per vector, each with an eventfd that the
//!    guest rings (the host polls these);
//! 5. the client's peer id once per vector, each with an eventfd that the
//!    host writes to raise that MSI-X vector in the guest.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use vmbus_proto::ivshmem::{self, Header, HostState};

use crate::guest_mem::{MemError, MemRegion};
use crate::interrupts::EventfdIrqs;
use crate::sys;

/// The ivshmem protocol version spoken.
pub const PROTOCOL_VERSION: i64 = 0;
/// The host's own peer id.
pub const HOST_PEER_ID: u16 = 0;
/// The peer id given to the (single) client.
pub const CLIENT_PEER_ID: u16 = 1;

/// Shape of the shared memory and the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// MSI-X vectors (must match QEMU's `vectors=`).
    pub vectors: u32,
    /// Mailboxes in the shared memory.
    pub mailboxes: u32,
    /// Size of the shared memory (a power of two: it becomes a PCI BAR).
    pub shm_size: u32,
}

impl LinkConfig {
    /// Checks the values against the mailbox layout's limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.vectors == 0 || self.vectors > ivshmem::MAX_VECTORS {
            return Err(format!(
                "--vectors must be 1..={}, not {}",
                ivshmem::MAX_VECTORS,
                self.vectors
            ));
        }
        if self.mailboxes == 0 || self.mailboxes > ivshmem::MAX_MAILBOXES {
            return Err(format!(
                "--mailboxes must be 1..={}, not {}",
                ivshmem::MAX_MAILBOXES,
                self.mailboxes
            ));
        }
        if !self.shm_size.is_power_of_two() || self.shm_size < 4096 {
            return Err(format!(
                "--shm-size must be a power of two of at least 4096 (it becomes a PCI BAR), not {}",
                self.shm_size
            ));
        }
        let need = ivshmem::layout_size(self.mailboxes).unwrap_or(usize::MAX);
        if need > self.shm_size as usize {
            return Err(format!(
                "--shm-size {} is too small for {} mailboxes and the signal ring ({need} bytes needed)",
                self.shm_size, self.mailboxes
            ));
        }
        Ok(())
    }
}

/// A failed handshake.
#[derive(Debug)]
pub enum LinkError {
    /// Creating or sending resources failed.
    Io(&'static str, io::Error),
    /// The shared memory is too small for the header.
    Layout(MemError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Io(what, e) => write!(f, "{what}: {e}"),
            LinkError::Layout(e) => write!(f, "shared memory layout: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// An established connection to QEMU: the socket, the shared memory and
/// the eventfds.
pub struct ClientLink {
    stream: UnixStream,
    shm: MemRegion,
    _shm_fd: OwnedFd,
    doorbells: Vec<OwnedFd>,
    irqs: EventfdIrqs,
    config: LinkConfig,
}

impl ClientLink {
    /// Runs the server side of the handshake on a freshly accepted
    /// connection. `guest_ram_size` goes into the header.
    pub fn establish(
        stream: UnixStream,
        config: LinkConfig,
        guest_ram_size: u64,
    ) -> Result<Self, LinkError> {
        let e = |what| move |err| LinkError::Io(what, err);
        let shm_fd = sys::memfd(c"vmbus-host-shm", u64::from(config.shm_size))
            .map_err(e("creating the shared memory"))?;
        let shm = MemRegion::map_fd(shm_fd.as_fd(), u64::from(config.shm_size))
            .map_err(e("mapping the shared memory"))?;
        let header = Header {
            version_major: ivshmem::VERSION_MAJOR,
            version_minor: ivshmem::VERSION_MINOR,
            shm_size: config.shm_size,
            features: 0,
            host_state: HostState::STARTING,
            num_vectors: config.vectors,
            num_mailboxes: config.mailboxes,
            host_peer_id: HOST_PEER_ID,
            guest_ram_size,
        };
        let mut buf = [0u8; ivshmem::HEADER_SIZE];
        // The buffer is HEADER_SIZE >= header::USED bytes; encode cannot fail.
        if header.encode(&mut buf).is_err() {
            return Err(LinkError::Io(
                "encoding the header",
                io::Error::new(io::ErrorKind::InvalidData, "header buffer too small"),
            ));
        }
        shm.write(ivshmem::HEADER_OFFSET as u64, &buf)
            .map_err(LinkError::Layout)?;
        fence(Ordering::Release);
        shm.write_u32(
            (ivshmem::HEADER_OFFSET + ivshmem::header::HOST_STATE) as u64,
            HostState::READY.0,
        )
        .map_err(LinkError::Layout)?;
        fence(Ordering::SeqCst);

        let mut doorbells = Vec::new();
        let mut guest_fds = Vec::new();
        for _ in 0..config.vectors {
            doorbells.push(sys::eventfd().map_err(e("creating an eventfd"))?);
            guest_fds.push(sys::eventfd().map_err(e("creating an eventfd"))?);
        }

        // The messages are tiny; a peer that does not take them within
        // seconds is broken.
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(e("configuring the socket"))?;
        stream
            .set_nonblocking(false)
            .map_err(e("configuring the socket"))?;
        let sock = stream.as_fd();
        let send = |v: i64, fd: Option<&OwnedFd>| {
            sys::send_i64(sock, v, fd.map(|f| f.as_fd())).map_err(e("sending to the client"))
        };
        send(PROTOCOL_VERSION, None)?;
        send(i64::from(CLIENT_PEER_ID), None)?;
        send(-1, Some(&shm_fd))?;
        for fd in &doorbells {
            send(i64::from(HOST_PEER_ID), Some(fd))?;
        }
        for fd in &guest_fds {
            send(i64::from(CLIENT_PEER_ID), Some(fd))?;
        }
        stream
            .set_nonblocking(true)
            .map_err(e("configuring the socket"))?;
        Ok(Self {
            stream,
            shm,
            _shm_fd: shm_fd,
            doorbells,
            irqs: EventfdIrqs::new(guest_fds),
            config,
        })
    }

    /// The connection to QEMU.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// The shared memory (BAR2).
    pub fn shm(&self) -> &MemRegion {
        &self.shm
    }

    /// The eventfds the guest rings, by vector.
    pub fn doorbells(&self) -> &[OwnedFd] {
        &self.doorbells
    }

    /// The guest's interrupts.
    pub fn irqs(&self) -> &EventfdIrqs {
        &self.irqs
    }

    /// The shape of the link.
    pub fn config(&self) -> LinkConfig {
        self.config
    }

    /// The client's peer id.
    pub fn peer_id(&self) -> u16 {
        CLIENT_PEER_ID
    }

    /// Announces in the header that the host will answer no more requests.
    pub fn mark_gone(&self) {
        fence(Ordering::SeqCst);
        let off = (ivshmem::HEADER_OFFSET + ivshmem::header::HOST_STATE) as u64;
        if let Err(err) = self.shm.write_u32(off, HostState::GONE.0) {
            crate::log_warn!("cannot mark the shared memory GONE: {err}");
        }
        fence(Ordering::SeqCst);
    }

    /// Reads and discards what the client sent; `false` when it has closed
    /// the connection or the connection failed.
    pub fn still_connected(&self) -> bool {
        let mut buf = [0u8; 256];
        // Bounded, so that a chatty peer cannot keep the host here.
        for _ in 0..64 {
            match io::Read::read(&mut &self.stream, &mut buf) {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return true,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    crate::log_info!("client connection error: {err}");
                    return false;
                }
            }
        }
        true
    }
}
