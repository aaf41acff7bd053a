// SPDX-License-Identifier: GPL-2.0

//! Fuzz targets for every parser of the other side's input: `vmbus_proto`'s
//! ([`proto`]: what the guest reads from the host and the host from the
//! guest) and `tools/vmbus-host`'s ([`host`]: what the host reads from the
//! guest), and the hv_vmbus interface's packet paths ([`hv_iface`]). They
//! run under libFuzzer (`fuzz_targets/`, `scripts/fuzz.sh`)
//! and under the plain random-input runner (`src/bin/fuzz-plain.rs`), the
//! fallback where libFuzzer cannot be built.
//!
//! Each target takes arbitrary bytes and must neither panic nor loop.
//! Seed inputs for each are made by [`seeds`] (`src/bin/fuzz-seeds.rs`
//! writes them to `seeds/TARGET/`, where they are kept in git).

pub mod host;
pub mod hv_iface;
pub mod net;
pub mod proto;
pub mod script;
pub mod seeds;
pub mod storage;

pub use host::{host_devices, host_gpadl, host_mailbox, host_ring, host_vmbus};
pub use hv_iface::hv_iface;
pub use net::{host_net, net};
pub use proto::{decode, gpadl, ic, ivshmem, packet, ring, state};
pub use storage::{host_storage, storage};

/// A fuzz target.
pub type Target = fn(&[u8]);

/// The targets by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode", decode),
    ("ring", ring),
    ("state", state),
    ("gpadl", gpadl),
    ("packet", packet),
    ("ic", ic),
    ("ivshmem", ivshmem),
    ("host-mailbox", host_mailbox),
    ("host-vmbus", host_vmbus),
    ("host-gpadl", host_gpadl),
    ("host-ring", host_ring),
    ("host-devices", host_devices),
    ("storage", storage),
    ("host-storage", host_storage),
    ("net", net),
    ("host-net", host_net),
    ("hv-iface", hv_iface),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}
