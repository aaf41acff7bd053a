// SPDX-License-Identifier: GPL-2.0

//! How the bus core calls the layers above it without importing them: the
//! module implements [`Upper`] (devices in the device model), and the
//! driver interfaces implement [`super::channel::ChannelDriver`] for each
//! driver they bind to a channel.

use kernel::{prelude::*, sync::Arc};

use super::{channel::Channel, connection::Connection};

/// The layers above the core, as one table: given to the connection when
/// it is made.
///
/// Context: the device work (process context, rvmbus's device workqueue,
/// serialised with the connection's other device-model changes) or the
/// caller of `Connection::connect` and `Connection::shutdown`; no lock of
/// the connection is held.
pub(crate) trait Upper: Send + Sync {
    /// Adds the device of primary channel `ch` (`primary` is `None`), or
    /// shows sub-channel `ch` under the device of `primary`.
    fn add_device(&self, ch: &Arc<Channel>, primary: Option<&Arc<Channel>>) -> Result;

    /// Removes what [`Upper::add_device`] added for `ch`.
    fn remove_device(&self, ch: &Arc<Channel>, primary: Option<&Arc<Channel>>);

    /// After hibernation, with the connection up again: asks the device of
    /// open primary channel `ch` for the `n` sub-channels it had, where the
    /// bus itself made them (drivers ask again in their `resume`). Returns
    /// how many the host offered, or `None` when the bus did not make them.
    fn restore_subchannels(&self, ch: &Arc<Channel>, n: u32) -> Option<Result<u32>>;

    /// Connection `conn` agreed its version with the host and has not yet
    /// asked for the offers (at connect, and again at resume from
    /// hibernation): what drivers read of the connection itself is set
    /// here, before any of them binds (the hv_vmbus interface's
    /// `vmbus_connection` pages and `vmbus_proto_version`). The caller of
    /// `Connection::connect` or of the resume; no lock of the connection
    /// is held.
    fn connected(&self, conn: &Connection);
}
