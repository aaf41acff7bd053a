// SPDX-License-Identifier: GPL-2.0

//! Which trace events (`crate::support::trace`) a message fires: each
//! message the guest posts fires `rvmbus_post_message` and the event Linux
//! fires for its kind, with the result of the post; each message from the
//! host that decodes fires `rvmbus_on_message` and the event Linux fires
//! when it handles that kind.
//!
//! Context: the callers' (process context); nothing here sleeps.

use super::*;
use crate::support::trace;

/// The errno of a result, as the events carry it (0 for success).
fn ret_of(r: &Result<(), PostError>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => Error::from(*e).to_errno(),
    }
}

/// Fires the events of `msg`, posted with result `r`; `len` is its encoded
/// length.
pub(super) fn posted(msg: &GuestMessage, len: usize, r: &Result<(), PostError>) {
    let ret = ret_of(r);
    let relid = msg.relid().map_or(0, Relid::get);
    // CAST: A message is at most 240 bytes.
    trace::post_message(msg.msgtype().0, relid, len as u32, ret);
    match *msg {
        GuestMessage::RequestOffers => trace::request_offers(ret),
        GuestMessage::OpenChannel(o) => trace::open(
            o.relid.get(),
            o.open_id,
            o.ring_gpadl.get(),
            o.target_vp,
            o.downstream_page_offset,
            ret,
        ),
        GuestMessage::CloseChannel { relid } => trace::close_internal(relid.get(), ret),
        GuestMessage::GpadlHeader {
            relid,
            gpadl,
            range_buflen,
            rangecount,
            ..
        } => trace::establish_gpadl_header(relid.get(), gpadl.get(), range_buflen, rangecount, ret),
        GuestMessage::GpadlBody {
            msgnumber, gpadl, ..
        } => trace::establish_gpadl_body(msgnumber, gpadl.get(), ret),
        GuestMessage::GpadlTeardown { relid, gpadl } => {
            trace::teardown_gpadl(relid.get(), gpadl.get(), ret)
        }
        GuestMessage::RelidReleased { relid } => trace::release_relid(relid.get(), ret),
        GuestMessage::InitiateContact(c) => trace::negotiate_version(
            c.version.0,
            c.target_vcpu,
            c.interrupt_page_or_target_info,
            c.monitor_page1,
            c.monitor_page2,
            ret,
        ),
        GuestMessage::TlConnectRequest {
            endpoint_id,
            service_id,
        } => trace::send_tl_connect_request(&endpoint_id.0, &service_id.0, ret),
        GuestMessage::ModifyChannel { relid, target_vp } => {
            trace::send_modifychannel(relid.get(), target_vp, ret)
        }
        // Linux has no event of its own for UNLOAD.
        GuestMessage::Unload => {}
    }
}

/// Fires the events of `m`, a message from the host that decoded.
pub(super) fn received(m: &HostMessage) {
    trace::on_message(m.msgtype().0);
    match *m {
        HostMessage::Offer(ref o) => trace::onoffer(
            o.relid.get(),
            o.monitor_id.map_or(0, |id| id.get()),
            u16::from(o.dedicated_interrupt),
            o.connection_id,
            &o.offer.if_type.0,
            &o.offer.if_instance.0,
            o.offer.chn_flags,
            o.offer.mmio_megabytes,
            o.offer.sub_channel_index,
        ),
        HostMessage::Rescind { relid } => trace::onoffer_rescind(relid.get()),
        HostMessage::OpenResult {
            relid,
            open_id,
            status,
        } => trace::onopen_result(relid.get(), open_id, status),
        HostMessage::GpadlCreated {
            relid,
            gpadl,
            status,
        } => trace::ongpadl_created(relid.get(), gpadl.get(), status),
        HostMessage::GpadlTorndown { gpadl } => trace::ongpadl_torndown(gpadl.get()),
        HostMessage::VersionResponse(v) => trace::onversion_response(u8::from(v.supported)),
        HostMessage::ModifyChannelResponse { relid, status } => {
            trace::onmodifychannel_response(relid.get(), status)
        }
        // Linux has no events of their own for these.
        HostMessage::AllOffersDelivered
        | HostMessage::UnloadResponse
        | HostMessage::TlConnectResult { .. } => {}
    }
}
