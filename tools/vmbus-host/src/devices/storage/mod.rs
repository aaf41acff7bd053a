// SPDX-License-Identifier: GPL-2.0

//! The storage device (Hyper-V's synthetic SCSI controller), the host side
//! of Linux's `hv_storvsc`.
//!
//! - [`disk`]: disks backed by files, and the `--disk` specification.
//! - [`sense`]: SCSI sense data.
//! - [`buffer`]: a command's data buffer (guest RAM described by GPA ranges).
//! - [`scsi`]: the SCSI target (CDB parsing, the commands, sense).
//! - [`controller`]: the disks of one controller, shared by its channels.
//! - [`backend`]: the VMBus channel protocol (initialisation, SRBs,
//!   completions, sub-channels, bus change notifications).

pub mod backend;
pub mod buffer;
pub mod controller;
pub mod disk;
pub mod scsi;
pub mod sense;

#[cfg(test)]
mod backend_tests;
#[cfg(test)]
mod scsi_tests;
