// SPDX-License-Identifier: GPL-2.0

//! vmbus-host: a userspace Hyper-V host that serves a Linux guest running
//! under QEMU, reached through an `ivshmem-doorbell` device (mailboxes in
//! the shared memory, doorbells and MSI-X interrupts through eventfds) and
//! QEMU's shared guest RAM file.
//!
//! The parts, one per module: the ivshmem server protocol
//! ([`ivshmem_server`]), guest memory access ([`guest_mem`]), the mailbox
//! transport ([`mailbox`]) and what each command does ([`hypercalls`]),
//! SynIC emulation ([`synic`]), the seam to the VMBus server ([`server`]),
//! the control socket ([`control`], [`commands`]), the trace ([`trace`]),
//! the watch on the host's writes into guest RAM ([`gmem_watch`]), the VMBus server ([`vmbus`]),
//! and the event loop ([`host`]).

pub mod cli;
pub mod commands;
pub mod control;
pub mod devices;
pub mod gmem_watch;
pub mod guest_mem;
pub mod host;
pub mod hypercalls;
pub mod interrupts;
pub mod ivshmem_server;
pub mod log;
pub mod mailbox;
pub mod msg_queue;
pub mod prof;
pub mod server;
pub mod signal_ring;
pub mod signals;
pub mod synic;
pub mod sys;
pub mod trace;
pub mod unix_socket;
pub mod vmbus;
