// SPDX-License-Identifier: GPL-2.0

//! Hyper-V sockets at the connection (`vmbus_send_tl_connect_request`):
//! the guest asks the host to connect one of its sockets to a host
//! service with `TL_CONNECT_REQUEST`. The host answers by offering a
//! channel for that connection (its offer carries the TLNPI provider flag;
//! only an hv_sock driver binds it), or, on hosts that say so, with
//! `TL_CONNECT_RESULT` and an error, which Linux ignores too: the
//! socket's connect times out.
//!
//! Context: process context (the socket's `connect()`); takes `inner` and
//! sleeps while the post is retried.

use super::*;
use crate::proto::wire::Guid;

impl Connection {
    /// Posts `TL_CONNECT_REQUEST` for the guest endpoint `endpoint_id` to
    /// the host service `service_id`.
    ///
    /// # Errors
    ///
    /// - `ENOTCONN`: not connected (or unloading);
    /// - `EOPNOTSUPP`: the host's version is older than 4.0, which has no
    ///   Hyper-V sockets;
    /// - as [`Connection::post`] otherwise.
    pub(crate) fn send_tl_connect_request(&self, endpoint_id: Guid, service_id: Guid) -> Result {
        let inner = self.inner.lock();
        let ConnectionState::Connected { version, .. } = inner.state else {
            return Err(ENOTCONN);
        };
        if inner.closing {
            return Err(ENOTCONN);
        }
        if !version.has_hvsock() {
            if self.warn.allow() {
                pr_warn!(
                    "no Hyper-V socket connect: the host negotiated VMBus {}.{}, sockets need 4.0 or later\n",
                    version.major(),
                    version.minor()
                );
            }
            return Err(EOPNOTSUPP);
        }
        self.post(
            &inner,
            &GuestMessage::TlConnectRequest {
                endpoint_id,
                service_id,
            },
        )
    }

    /// The host's `TL_CONNECT_RESULT`: only ever a refusal worth a
    /// (rate-limited) line, as no socket waits for it.
    pub(super) fn on_tl_connect_result(&self, service_id: Guid, status: u32) {
        if self.warn.allow() {
            pr_info!(
                "the host refused a Hyper-V socket connect to service {:?} (status {:#x})\n",
                service_id,
                status
            );
        }
    }
}
