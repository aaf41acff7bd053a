/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rvmbus's trace events, the counterparts of Linux's drivers/hv/hv_trace.h
 * under their own system, "rvmbus", so that they and Linux's "hyperv"
 * events can both be loaded.  Each keeps the name of Linux's event with
 * rvmbus_ for vmbus_ (rvmbus_onoffer for vmbus_onoffer), so that no event,
 * tracepoint or BTF type name is the same as one of a built-in hv_vmbus,
 * and the same fields and output; they take the fields as scalars, since
 * the Rust code that fires them holds decoded messages rather than C
 * structures.  Two events are
 * rvmbus's own: rvmbus_post_message, one for every message the guest
 * posts, and rvmbus_send_packet, one for every packet written to a ring.
 *
 * trace.c defines them (CREATE_TRACE_POINTS) together with the
 * rust_do_trace_* functions that support/trace.rs calls once the
 * tracepoint's static key says it is enabled.
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM rvmbus

/* An out-of-tree module names its own folder; Kbuild adds it with -I. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace

#if !defined(_RVMBUS_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _RVMBUS_TRACE_H

#include <linux/tracepoint.h>

/* The message type of a message taken from the SynIC slot or handled. */
DECLARE_EVENT_CLASS(rvmbus_hdr_msg,
	TP_PROTO(u32 msgtype),
	TP_ARGS(msgtype),
	TP_STRUCT__entry(__field(unsigned int, msgtype)),
	TP_fast_assign(__entry->msgtype = msgtype;),
	TP_printk("msgtype=%u", __entry->msgtype)
);

/* A message from the host, as it leaves the SynIC message slot. */
DEFINE_EVENT(rvmbus_hdr_msg, rvmbus_on_msg_dpc,
	TP_PROTO(u32 msgtype),
	TP_ARGS(msgtype)
);

/* A message from the host that decoded and goes to the state machines. */
DEFINE_EVENT(rvmbus_hdr_msg, rvmbus_on_message,
	TP_PROTO(u32 msgtype),
	TP_ARGS(msgtype)
);

TRACE_EVENT(rvmbus_onoffer,
	TP_PROTO(u32 child_relid, u8 monitorid, u16 is_ddc_int,
		 u32 connection_id, const u8 *if_type, const u8 *if_instance,
		 u16 chn_flags, u16 mmio_mb, u16 sub_idx),
	TP_ARGS(child_relid, monitorid, is_ddc_int, connection_id, if_type,
		if_instance, chn_flags, mmio_mb, sub_idx),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u8, monitorid)
		__field(u16, is_ddc_int)
		__field(u32, connection_id)
		__array(u8, if_type, 16)
		__array(u8, if_instance, 16)
		__field(u16, chn_flags)
		__field(u16, mmio_mb)
		__field(u16, sub_idx)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->monitorid = monitorid;
		__entry->is_ddc_int = is_ddc_int;
		__entry->connection_id = connection_id;
		memcpy(__entry->if_type, if_type, 16);
		memcpy(__entry->if_instance, if_instance, 16);
		__entry->chn_flags = chn_flags;
		__entry->mmio_mb = mmio_mb;
		__entry->sub_idx = sub_idx;
	),
	TP_printk("child_relid 0x%x, monitorid 0x%x, is_dedicated %d, connection_id 0x%x, if_type %pUl, if_instance %pUl, chn_flags 0x%x, mmio_megabytes %d, sub_channel_index %d",
		  __entry->child_relid, __entry->monitorid,
		  __entry->is_ddc_int, __entry->connection_id,
		  __entry->if_type, __entry->if_instance, __entry->chn_flags,
		  __entry->mmio_mb, __entry->sub_idx)
);

/* The class of the events that carry one relid and nothing else. */
DECLARE_EVENT_CLASS(rvmbus_relid,
	TP_PROTO(u32 child_relid),
	TP_ARGS(child_relid),
	TP_STRUCT__entry(__field(u32, child_relid)),
	TP_fast_assign(__entry->child_relid = child_relid;),
	TP_printk("child_relid 0x%x", __entry->child_relid)
);

DEFINE_EVENT(rvmbus_relid, rvmbus_onoffer_rescind,
	TP_PROTO(u32 child_relid),
	TP_ARGS(child_relid)
);

TRACE_EVENT(rvmbus_onopen_result,
	TP_PROTO(u32 child_relid, u32 openid, u32 status),
	TP_ARGS(child_relid, openid, status),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, openid)
		__field(u32, status)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->openid = openid;
		__entry->status = status;
	),
	TP_printk("child_relid 0x%x, openid %d, status %d",
		  __entry->child_relid, __entry->openid, __entry->status)
);

TRACE_EVENT(rvmbus_ongpadl_created,
	TP_PROTO(u32 child_relid, u32 gpadl, u32 status),
	TP_ARGS(child_relid, gpadl, status),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, gpadl)
		__field(u32, status)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->gpadl = gpadl;
		__entry->status = status;
	),
	TP_printk("child_relid 0x%x, gpadl 0x%x, creation status %d",
		  __entry->child_relid, __entry->gpadl, __entry->status)
);

TRACE_EVENT(rvmbus_onmodifychannel_response,
	TP_PROTO(u32 child_relid, u32 status),
	TP_ARGS(child_relid, status),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, status)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->status = status;
	),
	TP_printk("child_relid 0x%x, status %d",
		  __entry->child_relid, __entry->status)
);

TRACE_EVENT(rvmbus_ongpadl_torndown,
	TP_PROTO(u32 gpadl),
	TP_ARGS(gpadl),
	TP_STRUCT__entry(__field(u32, gpadl)),
	TP_fast_assign(__entry->gpadl = gpadl;),
	TP_printk("gpadl 0x%x", __entry->gpadl)
);

TRACE_EVENT(rvmbus_onversion_response,
	TP_PROTO(u8 ver),
	TP_ARGS(ver),
	TP_STRUCT__entry(__field(u8, ver)),
	TP_fast_assign(__entry->ver = ver;),
	TP_printk("version_supported %d", __entry->ver)
);

TRACE_EVENT(rvmbus_request_offers,
	TP_PROTO(int ret),
	TP_ARGS(ret),
	TP_STRUCT__entry(__field(int, ret)),
	TP_fast_assign(__entry->ret = ret;),
	TP_printk("sending ret %d", __entry->ret)
);

TRACE_EVENT(rvmbus_open,
	TP_PROTO(u32 child_relid, u32 openid, u32 gpadlhandle, u32 target_vp,
		 u32 offset, int ret),
	TP_ARGS(child_relid, openid, gpadlhandle, target_vp, offset, ret),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, openid)
		__field(u32, gpadlhandle)
		__field(u32, target_vp)
		__field(u32, offset)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->openid = openid;
		__entry->gpadlhandle = gpadlhandle;
		__entry->target_vp = target_vp;
		__entry->offset = offset;
		__entry->ret = ret;
	),
	TP_printk("sending child_relid 0x%x, openid %d, gpadlhandle 0x%x, target_vp 0x%x, offset 0x%x, ret %d",
		  __entry->child_relid, __entry->openid,
		  __entry->gpadlhandle, __entry->target_vp,
		  __entry->offset, __entry->ret)
);

/* The class of the messages out that carry one relid and a result. */
DECLARE_EVENT_CLASS(rvmbus_relid_ret,
	TP_PROTO(u32 child_relid, int ret),
	TP_ARGS(child_relid, ret),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->ret = ret;
	),
	TP_printk("sending child_relid 0x%x, ret %d",
		  __entry->child_relid, __entry->ret)
);

DEFINE_EVENT(rvmbus_relid_ret, rvmbus_close_internal,
	TP_PROTO(u32 child_relid, int ret),
	TP_ARGS(child_relid, ret)
);

DEFINE_EVENT(rvmbus_relid_ret, rvmbus_release_relid,
	TP_PROTO(u32 child_relid, int ret),
	TP_ARGS(child_relid, ret)
);

TRACE_EVENT(rvmbus_establish_gpadl_header,
	TP_PROTO(u32 child_relid, u32 gpadl, u16 range_buflen, u16 rangecount,
		 int ret),
	TP_ARGS(child_relid, gpadl, range_buflen, rangecount, ret),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, gpadl)
		__field(u16, range_buflen)
		__field(u16, rangecount)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->gpadl = gpadl;
		__entry->range_buflen = range_buflen;
		__entry->rangecount = rangecount;
		__entry->ret = ret;
	),
	TP_printk("sending child_relid 0x%x, gpadl 0x%x, range_buflen %d rangecount %d, ret %d",
		  __entry->child_relid, __entry->gpadl,
		  __entry->range_buflen, __entry->rangecount, __entry->ret)
);

TRACE_EVENT(rvmbus_establish_gpadl_body,
	TP_PROTO(u32 msgnumber, u32 gpadl, int ret),
	TP_ARGS(msgnumber, gpadl, ret),
	TP_STRUCT__entry(
		__field(u32, msgnumber)
		__field(u32, gpadl)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->msgnumber = msgnumber;
		__entry->gpadl = gpadl;
		__entry->ret = ret;
	),
	TP_printk("sending msgnumber %d, gpadl 0x%x, ret %d",
		  __entry->msgnumber, __entry->gpadl, __entry->ret)
);

TRACE_EVENT(rvmbus_teardown_gpadl,
	TP_PROTO(u32 child_relid, u32 gpadl, int ret),
	TP_ARGS(child_relid, gpadl, ret),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, gpadl)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->gpadl = gpadl;
		__entry->ret = ret;
	),
	TP_printk("sending child_relid 0x%x, gpadl 0x%x, ret %d",
		  __entry->child_relid, __entry->gpadl, __entry->ret)
);

TRACE_EVENT(rvmbus_negotiate_version,
	TP_PROTO(u32 ver, u32 target_vcpu, u64 int_page, u64 mon_page1,
		 u64 mon_page2, int ret),
	TP_ARGS(ver, target_vcpu, int_page, mon_page1, mon_page2, ret),
	TP_STRUCT__entry(
		__field(u32, ver)
		__field(u32, target_vcpu)
		__field(int, ret)
		__field(u64, int_page)
		__field(u64, mon_page1)
		__field(u64, mon_page2)
	),
	TP_fast_assign(
		__entry->ver = ver;
		__entry->target_vcpu = target_vcpu;
		__entry->int_page = int_page;
		__entry->mon_page1 = mon_page1;
		__entry->mon_page2 = mon_page2;
		__entry->ret = ret;
	),
	TP_printk("sending vmbus_version_requested %d, target_vcpu 0x%x, pages %llx:%llx:%llx, ret %d",
		  __entry->ver, __entry->target_vcpu, __entry->int_page,
		  __entry->mon_page1, __entry->mon_page2, __entry->ret)
);

TRACE_EVENT(rvmbus_send_tl_connect_request,
	TP_PROTO(const u8 *guest_endpoint_id, const u8 *host_service_id,
		 int ret),
	TP_ARGS(guest_endpoint_id, host_service_id, ret),
	TP_STRUCT__entry(
		__array(u8, guest_id, 16)
		__array(u8, host_id, 16)
		__field(int, ret)
	),
	TP_fast_assign(
		memcpy(__entry->guest_id, guest_endpoint_id, 16);
		memcpy(__entry->host_id, host_service_id, 16);
		__entry->ret = ret;
	),
	TP_printk("sending guest_endpoint_id %pUl, host_service_id %pUl, ret %d",
		  __entry->guest_id, __entry->host_id, __entry->ret)
);

TRACE_EVENT(rvmbus_send_modifychannel,
	TP_PROTO(u32 child_relid, u32 target_vp, int ret),
	TP_ARGS(child_relid, target_vp, ret),
	TP_STRUCT__entry(
		__field(u32, child_relid)
		__field(u32, target_vp)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->child_relid = child_relid;
		__entry->target_vp = target_vp;
		__entry->ret = ret;
	),
	TP_printk("binding child_relid 0x%x to target_vp 0x%x, ret %d",
		  __entry->child_relid, __entry->target_vp, __entry->ret)
);

/*
 * rvmbus's own: every message the guest posts, with the relid it names
 * (0 for none) and the result of the post (0, or a negative errno).
 */
TRACE_EVENT(rvmbus_post_message,
	TP_PROTO(u32 msgtype, u32 child_relid, u32 len, int ret),
	TP_ARGS(msgtype, child_relid, len, ret),
	TP_STRUCT__entry(
		__field(u32, msgtype)
		__field(u32, child_relid)
		__field(u32, len)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->msgtype = msgtype;
		__entry->child_relid = child_relid;
		__entry->len = len;
		__entry->ret = ret;
	),
	TP_printk("msgtype=%u child_relid 0x%x, len %u, ret %d",
		  __entry->msgtype, __entry->child_relid, __entry->len,
		  __entry->ret)
);

/*
 * rvmbus's own: every packet written to a channel's outbound ring (its
 * header's type, flags, length and transaction id), with the result of the
 * write (0, or a negative errno: -EAGAIN for a full ring).
 */
TRACE_EVENT(rvmbus_send_packet,
	TP_PROTO(u32 relid, u16 type, u16 flags, u32 len, u64 trans_id,
		 int ret),
	TP_ARGS(relid, type, flags, len, trans_id, ret),
	TP_STRUCT__entry(
		__field(u32, relid)
		__field(u16, type)
		__field(u16, flags)
		__field(u32, len)
		__field(u64, trans_id)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->relid = relid;
		__entry->type = type;
		__entry->flags = flags;
		__entry->len = len;
		__entry->trans_id = trans_id;
		__entry->ret = ret;
	),
	TP_printk("relid 0x%x, type %u, flags 0x%x, len %u, trans_id 0x%llx, ret %d",
		  __entry->relid, __entry->type, __entry->flags,
		  __entry->len, __entry->trans_id, __entry->ret)
);

/* The class of the events of one channel, named by its relid. */
DECLARE_EVENT_CLASS(rvmbus_channel,
	TP_PROTO(u32 relid),
	TP_ARGS(relid),
	TP_STRUCT__entry(__field(u32, relid)),
	TP_fast_assign(__entry->relid = relid;),
	TP_printk("relid 0x%x", __entry->relid)
);

/* The host set the channel's event flag; the event work wakes it. */
DEFINE_EVENT(rvmbus_channel, rvmbus_chan_sched,
	TP_PROTO(u32 relid),
	TP_ARGS(relid)
);

/* The guest tells the host the channel has something for it. */
DEFINE_EVENT(rvmbus_channel, rvmbus_setevent,
	TP_PROTO(u32 relid),
	TP_ARGS(relid)
);

/* The channel's driver is called for the host's signal. */
DEFINE_EVENT(rvmbus_channel, rvmbus_on_event,
	TP_PROTO(u32 relid),
	TP_ARGS(relid)
);

#endif /* _RVMBUS_TRACE_H */

/* This part must be outside the multi-read guard. */
#include <trace/define_trace.h>
