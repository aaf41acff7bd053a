// SPDX-License-Identifier: GPL-2.0

//! Host-to-guest interrupts: writing the guest's eventfd for vector N makes
//! QEMU raise MSI-X vector N of the ivshmem device in the guest.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::sys;
use crate::trace::{Dir, Trace};

/// An interrupt could not be raised.
#[derive(Debug)]
pub enum IrqError {
    /// The vector is not one the device has.
    BadVector(u64),
    /// Writing the eventfd failed.
    Io(io::Error),
}

impl fmt::Display for IrqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrqError::BadVector(v) => write!(f, "no MSI-X vector {v}"),
            IrqError::Io(e) => write!(f, "raising the interrupt failed: {e}"),
        }
    }
}

impl std::error::Error for IrqError {}

/// Something that raises guest interrupts by MSI-X vector number.
pub trait InterruptSink {
    /// Number of vectors; valid vectors are `0..num_vectors()`.
    fn num_vectors(&self) -> u16;
    /// Raises `vector` in the guest.
    fn raise(&self, vector: u16) -> Result<(), IrqError>;
}

/// The real sink: one eventfd per vector, handed to QEMU.
pub struct EventfdIrqs {
    fds: Vec<OwnedFd>,
    counts: RefCell<Vec<u64>>,
    total: Cell<u64>,
}

impl EventfdIrqs {
    /// Wraps the guest's per-vector eventfds.
    pub fn new(fds: Vec<OwnedFd>) -> Self {
        let n = fds.len();
        Self {
            fds,
            counts: RefCell::new(vec![0; n]),
            total: Cell::new(0),
        }
    }

    /// Interrupts raised so far, per vector.
    pub fn counts(&self) -> Vec<u64> {
        self.counts.borrow().clone()
    }

    /// Interrupts raised so far.
    pub fn total(&self) -> u64 {
        self.total.get()
    }

    /// The eventfds, to send to QEMU.
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }
}

impl InterruptSink for EventfdIrqs {
    fn num_vectors(&self) -> u16 {
        u16::try_from(self.fds.len()).unwrap_or(u16::MAX)
    }

    fn raise(&self, vector: u16) -> Result<(), IrqError> {
        let fd = self
            .fds
            .get(usize::from(vector))
            .ok_or(IrqError::BadVector(u64::from(vector)))?;
        sys::eventfd_signal(fd.as_fd()).map_err(IrqError::Io)?;
        if let Some(c) = self.counts.borrow_mut().get_mut(usize::from(vector)) {
            *c += 1;
        }
        self.total.set(self.total.get() + 1);
        Ok(())
    }
}

/// Holds the interrupts raised while one mailbox request is served, to
/// raise them after the answer is written: a guest woken by such an
/// interrupt (the echo of the packet it just signalled) then finds its
/// posted signal answered, instead of sleeping until the host gets to it.
pub struct HeldIrqs<'a> {
    inner: &'a dyn InterruptSink,
    held: RefCell<Vec<u16>>,
}

impl<'a> HeldIrqs<'a> {
    /// Holds the interrupts meant for `inner`.
    pub fn new(inner: &'a dyn InterruptSink) -> Self {
        Self {
            inner,
            held: RefCell::new(Vec::new()),
        }
    }

    /// Raises what was held, in order; stops at the first failure.
    pub fn release(&self) -> Result<(), IrqError> {
        for v in self.held.take() {
            self.inner.raise(v)?;
        }
        Ok(())
    }
}

impl InterruptSink for HeldIrqs<'_> {
    fn num_vectors(&self) -> u16 {
        self.inner.num_vectors()
    }

    fn raise(&self, vector: u16) -> Result<(), IrqError> {
        if vector >= self.inner.num_vectors() {
            return Err(IrqError::BadVector(u64::from(vector)));
        }
        self.held.borrow_mut().push(vector);
        Ok(())
    }
}

/// Raises `vector` and records it in the trace.
pub fn raise_traced(irq: &dyn InterruptSink, trace: &Trace, vector: u16) -> Result<(), IrqError> {
    trace.event(Dir::H2g, None, "irq", &vector.to_le_bytes());
    irq.raise(vector)
}

/// A sink that records the vectors it was asked to raise, for tests.
#[derive(Default)]
pub struct RecordingIrqs {
    /// Number of vectors it claims to have.
    pub vectors: u16,
    /// Vectors raised, in order.
    pub raised: RefCell<Vec<u16>>,
}

impl RecordingIrqs {
    /// A recorder with `vectors` vectors.
    pub fn new(vectors: u16) -> Self {
        Self {
            vectors,
            raised: RefCell::new(Vec::new()),
        }
    }
}

impl InterruptSink for RecordingIrqs {
    fn num_vectors(&self) -> u16 {
        self.vectors
    }

    fn raise(&self, vector: u16) -> Result<(), IrqError> {
        if vector >= self.vectors {
            return Err(IrqError::BadVector(u64::from(vector)));
        }
        self.raised.borrow_mut().push(vector);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_interrupts_wait_for_release() {
        let rec = RecordingIrqs::new(4);
        let held = HeldIrqs::new(&rec);
        held.raise(2).unwrap();
        held.raise(0).unwrap();
        assert!(matches!(held.raise(4), Err(IrqError::BadVector(4))));
        assert!(rec.raised.borrow().is_empty());
        held.release().unwrap();
        assert_eq!(*rec.raised.borrow(), vec![2, 0]);
        held.release().unwrap();
        assert_eq!(rec.raised.borrow().len(), 2);
    }
}
