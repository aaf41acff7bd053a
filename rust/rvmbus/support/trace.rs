// SPDX-License-Identifier: GPL-2.0

//! rvmbus's trace events (`trace.h`, system `rvmbus`), the counterparts of
//! Linux's `hyperv` events of `drivers/hv/hv_trace.h`, readable through
//! tracefs under `events/rvmbus/`. The function `onoffer` fires
//! `rvmbus_onoffer`, Linux's `vmbus_onoffer`, and so on.
//!
//! Each function here fires one event. A disabled event costs one
//! static-key branch, patched in place as the kernel's own tracepoints
//! are; only an enabled one calls into C (`rust_do_trace_*`, made by
//! `trace.c`), as the kernel's `declare_trace!` does for in-tree crates,
//! whose events the kernel's bindings name and rvmbus's do not.
//!
//! Context: any, hard interrupts included; no event sleeps.

#[cfg(CONFIG_TRACEPOINTS)]
use kernel::bindings;

/// Defines, for each event, a safe function that fires it and a
/// `<name>_enabled` function that reads its static key, for callers whose
/// arguments cost something to gather. Every argument is passed by value
/// or as a reference to a 16-byte GUID, which the C side reads during the
/// call only.
macro_rules! events {
    ($($(#[$attr:meta])* fn $name:ident($($arg:ident : $ty:ty),* $(,)?);)*) => {$(
        kernel::macros::paste! {
            #[cfg(CONFIG_TRACEPOINTS)]
            #[allow(
                improper_ctypes,
                reason = "only the address of the tracepoint's static key is taken"
            )]
            extern "C" {
                static [<__tracepoint_rvmbus_ $name>]: bindings::tracepoint;
                fn [<rust_do_trace_rvmbus_ $name>]($($arg: $ty),*);
            }

            #[doc = concat!(
                "Whether the `rvmbus_", stringify!($name),
                "` event is enabled: one static-key branch."
            )]
            #[inline(always)]
            #[allow(dead_code)]
            pub(crate) fn [<$name _enabled>]() -> bool {
                #[cfg(CONFIG_TRACEPOINTS)]
                {
                    // SAFETY: `__tracepoint_rvmbus_*` is a tracepoint that
                    // `trace.c` defines in this module
                    // (CREATE_TRACE_POINTS), so it holds a real static
                    // key; reading the key has no other precondition.
                    unsafe {
                        kernel::jump_label::static_branch_unlikely!(
                            [<__tracepoint_rvmbus_ $name>],
                            bindings::tracepoint,
                            key
                        )
                    }
                }
                #[cfg(not(CONFIG_TRACEPOINTS))]
                false
            }

            $(#[$attr])*
            #[inline(always)]
            pub(crate) fn $name($($arg: $ty),*) {
                #[cfg(CONFIG_TRACEPOINTS)]
                if [<$name _enabled>]() {
                    // SAFETY: `trace.c` defines this function with the
                    // same parameters (CREATE_RUST_TRACE_POINTS); it only
                    // copies its arguments into the trace buffer, in any
                    // context, and reads a GUID reference within the call.
                    unsafe { [<rust_do_trace_rvmbus_ $name>]($($arg),*) };
                }
                #[cfg(not(CONFIG_TRACEPOINTS))]
                {
                    $(let _ = $arg;)*
                }
            }
        }
    )*};
}

events! {
    /// A message from the host (its type) as it leaves the SynIC slot.
    fn on_msg_dpc(msgtype: u32);
    /// A message from the host (its type) that decoded and is handled.
    fn on_message(msgtype: u32);
    /// `OFFER_CHANNEL`, with the fields of Linux's `vmbus_onoffer`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the event carries the offer's fields one by one, as Linux's does"
    )]
    fn onoffer(
        child_relid: u32,
        monitorid: u8,
        is_ddc_int: u16,
        connection_id: u32,
        if_type: &[u8; 16],
        if_instance: &[u8; 16],
        chn_flags: u16,
        mmio_mb: u16,
        sub_idx: u16,
    );
    /// `RESCIND_CHANNEL_OFFER`.
    fn onoffer_rescind(child_relid: u32);
    /// `OPEN_CHANNEL_RESULT`.
    fn onopen_result(child_relid: u32, openid: u32, status: u32);
    /// `GPADL_CREATED`.
    fn ongpadl_created(child_relid: u32, gpadl: u32, status: u32);
    /// `MODIFY_CHANNEL_RESPONSE`.
    fn onmodifychannel_response(child_relid: u32, status: u32);
    /// `GPADL_TORNDOWN`.
    fn ongpadl_torndown(gpadl: u32);
    /// `VERSION_RESPONSE`: whether the version was accepted.
    fn onversion_response(ver: u8);
    /// `REQUEST_OFFERS` posted, with the result.
    fn request_offers(ret: i32);
    /// `OPEN_CHANNEL` posted, with the result.
    fn open(
        child_relid: u32,
        openid: u32,
        gpadlhandle: u32,
        target_vp: u32,
        offset: u32,
        ret: i32,
    );
    /// `CLOSE_CHANNEL` posted, with the result.
    fn close_internal(child_relid: u32, ret: i32);
    /// `RELID_RELEASED` posted, with the result.
    fn release_relid(child_relid: u32, ret: i32);
    /// `GPADL_HEADER` posted, with the result.
    fn establish_gpadl_header(
        child_relid: u32,
        gpadl: u32,
        range_buflen: u16,
        rangecount: u16,
        ret: i32,
    );
    /// `GPADL_BODY` posted, with the result.
    fn establish_gpadl_body(msgnumber: u32, gpadl: u32, ret: i32);
    /// `GPADL_TEARDOWN` posted, with the result.
    fn teardown_gpadl(child_relid: u32, gpadl: u32, ret: i32);
    /// `INITIATE_CONTACT` posted, with the result.
    fn negotiate_version(
        ver: u32,
        target_vcpu: u32,
        int_page: u64,
        mon_page1: u64,
        mon_page2: u64,
        ret: i32,
    );
    /// `TL_CONNECT_REQUEST` posted, with the result.
    fn send_tl_connect_request(
        guest_endpoint_id: &[u8; 16],
        host_service_id: &[u8; 16],
        ret: i32,
    );
    /// `MODIFY_CHANNEL` posted, with the result.
    fn send_modifychannel(child_relid: u32, target_vp: u32, ret: i32);
    /// Any message posted (rvmbus's own): its type, the relid it names (0
    /// for none), its length and the result.
    fn post_message(msgtype: u32, child_relid: u32, len: u32, ret: i32);
    /// A packet written to a channel's outbound ring (rvmbus's own): the
    /// header's type, flags, length and transaction id, and the result.
    fn send_packet(
        relid: u32,
        ty: u16,
        flags: u16,
        len: u32,
        trans_id: u64,
        ret: i32,
    );
    /// The host set the channel's event flag.
    fn chan_sched(relid: u32);
    /// The guest signals the host for the channel.
    fn setevent(relid: u32);
    /// The channel's driver is called for the host's signal.
    fn on_event(relid: u32);
}
