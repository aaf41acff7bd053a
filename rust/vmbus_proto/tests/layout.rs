// SPDX-License-Identifier: GPL-2.0

//! Compares every wire structure of `vmbus_proto::wire` with the C
//! structure Linux defines, as bindgen sees it: the size, and the offset of
//! every field (each Rust field must be mapped to a C field).
//!
//! Run by `scripts/layout-check.sh`, which generates the bindings from the
//! kernel tree and sets `RVMBUS_KBINDINGS`; and `RVMBUS_KSTORVSC` to the
//! bindings of the storage protocol's structures, which are private to
//! `drivers/scsi/storvsc_drv.c` (bindgen reads that file itself); and
//! `RVMBUS_KKBD` to those of the synthetic keyboard's, private to
//! `drivers/input/serio/hyperv-keyboard.c` likewise.

#![cfg(feature = "layout-check")]

use core::mem::{offset_of, size_of};

#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    unnecessary_transmutes,
    clippy::all
)]
mod k {
    include!(env!("RVMBUS_KBINDINGS"));
}

#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    clippy::all
)]
mod ks {
    include!(env!("RVMBUS_KSTORVSC"));
}

#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    clippy::all
)]
mod kk {
    include!(env!("RVMBUS_KKBD"));
}

use vmbus_proto::wire::Wire;
use vmbus_proto::wire::{
    channel_msg as cm, fcopy, ic, keyboard as kb, kvp, monitor as mon, nvsp as nv, packet as pk,
    rndis as rn, storage as st, synic as sy, vss,
};

/// The result of all checks.
#[derive(Default)]
struct Report {
    structs: usize,
    fields: usize,
    errors: Vec<String>,
}

impl Report {
    /// Checks one structure: `ours` is its `FIELDS` table, `map` gives the
    /// C offset of each of our fields, `extra` more offsets to compare.
    fn check(
        &mut self,
        name: &str,
        ours_size: usize,
        c_size: usize,
        ours: &[(&str, usize)],
        map: &[(&str, usize)],
        extra: &[(&str, usize, usize)],
    ) {
        self.structs += 1;
        if ours_size != c_size {
            self.errors
                .push(format!("{name}: size {ours_size}, C says {c_size}"));
        }
        for &(f, off) in ours {
            match map.iter().find(|(m, _)| *m == f) {
                Some(&(_, c)) => {
                    self.fields += 1;
                    if off != c {
                        self.errors
                            .push(format!("{name}.{f}: offset {off}, C says {c}"));
                    }
                }
                None => self.errors.push(format!("{name}.{f}: not mapped to C")),
            }
        }
        for &(m, _) in map {
            if !ours.iter().any(|(f, _)| *f == m) {
                self.errors
                    .push(format!("{name}.{m}: mapped but not a field"));
            }
        }
        for &(what, a, b) in extra {
            self.fields += 1;
            if a != b {
                self.errors.push(format!("{name}: {what}: {a} != C {b}"));
            }
        }
    }

    /// Checks one protocol constant: our value `ours` of `what` against
    /// C's `c`.
    fn constant(&mut self, what: impl core::fmt::Debug, ours: u64, c: u64) {
        if ours != c {
            self.errors.push(format!("{what:?}: {ours} != C {c}"));
        }
    }

    /// Prints the summary line (`LAYOUT` and `label`) and every mismatch,
    /// and fails on any.
    fn finish(self, label: &str) {
        let sep = if label.is_empty() { "" } else { " " };
        println!(
            "LAYOUT{sep}{label}: {} structs, {} fields checked, {} mismatches",
            self.structs,
            self.fields,
            self.errors.len()
        );
        for e in &self.errors {
            println!("LAYOUT MISMATCH: {e}");
        }
        assert!(
            self.errors.is_empty(),
            "{} layout mismatches",
            self.errors.len()
        );
    }
}

/// `check!(report, Ours, CType, [our_field => c_offset, ...], [extra])`.
macro_rules! check {
    ($r:expr, $ours:ty, $c:ty, size = $csize:expr, [$($f:ident => $off:expr),* $(,)?] $(, extra [$($what:literal : $a:expr => $b:expr),* $(,)?])?) => {
        $r.check(
            stringify!($ours),
            size_of::<$ours>(),
            $csize,
            <$ours>::FIELDS,
            &[$((stringify!($f), $off)),*],
            &[$($(($what, $a, $b)),*)?],
        )
    };
    ($r:expr, $ours:ty, $c:ty, [$($f:ident => $off:expr),* $(,)?] $(, extra [$($what:literal : $a:expr => $b:expr),* $(,)?])?) => {
        check!($r, $ours, $c, size = size_of::<$c>(), [$($f => $off),*] $(, extra [$($what : $a => $b),*])?)
    };
}

/// Offset of a field path in a C structure.
macro_rules! o {
    ($c:ty, $($p:tt)+) => {
        offset_of!($c, $($p)+)
    };
}

#[test]
fn wire_layouts_match_linux() {
    let mut r = Report::default();

    // SynIC.
    check!(r, sy::HvMessageHeader, k::hv_message_header, [
        message_type => o!(k::hv_message_header, message_type),
        payload_size => o!(k::hv_message_header, payload_size),
        message_flags => o!(k::hv_message_header, message_flags),
        reserved => o!(k::hv_message_header, reserved),
        sender => o!(k::hv_message_header, __bindgen_anon_1.sender),
    ]);
    check!(r, sy::HvMessage, k::hv_message, [
        header => o!(k::hv_message, header),
        payload => o!(k::hv_message, u.payload),
    ]);
    check!(r, sy::HvInputPostMessage, k::hv_input_post_message, [
        connection_id => o!(k::hv_input_post_message, connectionid),
        reserved => o!(k::hv_input_post_message, reserved),
        message_type => o!(k::hv_input_post_message, message_type),
        payload_size => o!(k::hv_input_post_message, payload_size),
        payload => o!(k::hv_input_post_message, payload),
    ]);

    // Channel messages.
    type Hdr = k::vmbus_channel_message_header;
    check!(r, cm::ChannelMessageHeader, Hdr, [
        msgtype => o!(Hdr, msgtype),
        padding => o!(Hdr, padding),
    ]);
    check!(r, cm::EmptyMessage, Hdr, [header => 0]);
    type Off = k::vmbus_channel_offer;
    check!(r, cm::ChannelOffer, Off, [
        if_type => o!(Off, if_type),
        if_instance => o!(Off, if_instance),
        reserved1 => o!(Off, reserved1),
        reserved2 => o!(Off, reserved2),
        chn_flags => o!(Off, chn_flags),
        mmio_megabytes => o!(Off, mmio_megabytes),
        user_def => o!(Off, u.std.user_def),
        sub_channel_index => o!(Off, sub_channel_index),
        reserved3 => o!(Off, reserved3),
    ], extra [
        "pipe_mode at user_def": offset_of!(cm::ChannelOffer, user_def) => o!(Off, u.pipe.pipe_mode),
        "user_def size": size_of::<[u8; cm::MAX_USER_DEFINED_BYTES]>() => size_of::<k::vmbus_channel_offer__bindgen_ty_1>(),
    ]);
    type OffCh = k::vmbus_channel_offer_channel;
    check!(r, cm::OfferChannel, OffCh, [
        header => o!(OffCh, header),
        offer => o!(OffCh, offer),
        child_relid => o!(OffCh, child_relid),
        monitorid => o!(OffCh, monitorid),
        // monitor_allocated:1 + reserved:7 is the first byte of the
        // bitfield unit; is_dedicated_interrupt:1 + reserved1:15 the next two.
        monitor_flags => o!(OffCh, _bitfield_1),
        interrupt_flags => o!(OffCh, _bitfield_1) + 1,
        connection_id => o!(OffCh, connection_id),
    ]);
    macro_rules! relid_only {
        ($ours:ty, $c:ty) => {
            check!(r, $ours, $c, [header => o!($c, header), child_relid => o!($c, child_relid)])
        };
    }
    relid_only!(cm::RescindOffer, k::vmbus_channel_rescind_offer);
    relid_only!(cm::CloseChannel, k::vmbus_channel_close_channel);
    relid_only!(cm::RelidReleased, k::vmbus_channel_relid_released);
    type Open = k::vmbus_channel_open_channel;
    check!(r, cm::OpenChannel, Open, [
        header => o!(Open, header),
        child_relid => o!(Open, child_relid),
        openid => o!(Open, openid),
        ringbuffer_gpadlhandle => o!(Open, ringbuffer_gpadlhandle),
        target_vp => o!(Open, target_vp),
        downstream_ringbuffer_pageoffset => o!(Open, downstream_ringbuffer_pageoffset),
        userdata => o!(Open, userdata),
    ]);
    type OpenRes = k::vmbus_channel_open_result;
    check!(r, cm::OpenResult, OpenRes, [
        header => o!(OpenRes, header),
        child_relid => o!(OpenRes, child_relid),
        openid => o!(OpenRes, openid),
        status => o!(OpenRes, status),
    ]);
    type ModResp = k::vmbus_channel_modifychannel_response;
    check!(r, cm::ModifyChannelResponse, ModResp, [
        header => o!(ModResp, header),
        child_relid => o!(ModResp, child_relid),
        status => o!(ModResp, status),
    ]);
    type GHdr = k::vmbus_channel_gpadl_header;
    check!(r, cm::GpadlHeader, GHdr, [
        header => o!(GHdr, header),
        child_relid => o!(GHdr, child_relid),
        gpadl => o!(GHdr, gpadl),
        range_buflen => o!(GHdr, range_buflen),
        rangecount => o!(GHdr, rangecount),
    ], extra [
        "range data at the end": size_of::<cm::GpadlHeader>() => o!(GHdr, range),
    ]);
    check!(r, cm::GpaRange, k::gpa_range, [
        byte_count => o!(k::gpa_range, byte_count),
        byte_offset => o!(k::gpa_range, byte_offset),
    ], extra [
        "pfn_array at the end": size_of::<cm::GpaRange>() => o!(k::gpa_range, pfn_array),
    ]);
    type GBody = k::vmbus_channel_gpadl_body;
    check!(r, cm::GpadlBody, GBody, [
        header => o!(GBody, header),
        msgnumber => o!(GBody, msgnumber),
        gpadl => o!(GBody, gpadl),
    ], extra [
        "pfn at the end": size_of::<cm::GpadlBody>() => o!(GBody, pfn),
    ]);
    type GCr = k::vmbus_channel_gpadl_created;
    check!(r, cm::GpadlCreated, GCr, [
        header => o!(GCr, header),
        child_relid => o!(GCr, child_relid),
        gpadl => o!(GCr, gpadl),
        creation_status => o!(GCr, creation_status),
    ]);
    type GTd = k::vmbus_channel_gpadl_teardown;
    check!(r, cm::GpadlTeardown, GTd, [
        header => o!(GTd, header),
        child_relid => o!(GTd, child_relid),
        gpadl => o!(GTd, gpadl),
    ]);
    type GTn = k::vmbus_channel_gpadl_torndown;
    check!(r, cm::GpadlTorndown, GTn, [
        header => o!(GTn, header),
        gpadl => o!(GTn, gpadl),
    ]);
    type Ic = k::vmbus_channel_initiate_contact;
    check!(r, cm::InitiateContact, Ic, [
        header => o!(Ic, header),
        vmbus_version_requested => o!(Ic, vmbus_version_requested),
        target_vcpu => o!(Ic, target_vcpu),
        interrupt_page_or_target_info => o!(Ic, __bindgen_anon_1.interrupt_page),
        monitor_page1 => o!(Ic, monitor_page1),
        monitor_page2 => o!(Ic, monitor_page2),
    ], extra [
        "msg_sint is byte 0 of the union": o!(Ic, __bindgen_anon_1) => o!(Ic, __bindgen_anon_1.__bindgen_anon_1.msg_sint),
        "msg_vtl is byte 1": o!(Ic, __bindgen_anon_1) + 1 => o!(Ic, __bindgen_anon_1.__bindgen_anon_1.msg_vtl),
        "feature_flags is bytes 4..8": o!(Ic, __bindgen_anon_1) + 4 => o!(Ic, __bindgen_anon_1.__bindgen_anon_1.feature_flags),
    ]);
    type Vr = k::vmbus_channel_version_response;
    check!(r, cm::VersionResponse, Vr, [
        header => o!(Vr, header),
        version_supported => o!(Vr, version_supported),
        connection_state => o!(Vr, connection_state),
        padding => o!(Vr, padding),
        msg_conn_id => o!(Vr, msg_conn_id),
    ]);
    type Tl = k::vmbus_channel_tl_connect_request;
    check!(r, cm::TlConnectRequest, Tl, [
        header => o!(Tl, header),
        guest_endpoint_id => o!(Tl, guest_endpoint_id),
        host_service_id => o!(Tl, host_service_id),
    ]);
    type Mc = k::vmbus_channel_modifychannel;
    check!(r, cm::ModifyChannel, Mc, [
        header => o!(Mc, header),
        child_relid => o!(Mc, child_relid),
        target_vp => o!(Mc, target_vp),
    ]);

    // Rings and packets.
    type Rb = k::hv_ring_buffer;
    check!(r, pk::RingControl, Rb, [
        write_index => o!(Rb, write_index),
        read_index => o!(Rb, read_index),
        interrupt_mask => o!(Rb, interrupt_mask),
        pending_send_sz => o!(Rb, pending_send_sz),
        reserved1 => o!(Rb, reserved1),
        feature_bits => o!(Rb, feature_bits),
        reserved2 => o!(Rb, reserved2),
    ], extra [
        "data starts after the control page": size_of::<pk::RingControl>() => o!(Rb, buffer),
        "control::WRITE_INDEX": pk::control::WRITE_INDEX => o!(Rb, write_index),
        "control::READ_INDEX": pk::control::READ_INDEX => o!(Rb, read_index),
        "control::INTERRUPT_MASK": pk::control::INTERRUPT_MASK => o!(Rb, interrupt_mask),
        "control::PENDING_SEND_SIZE": pk::control::PENDING_SEND_SIZE => o!(Rb, pending_send_sz),
        "control::FEATURE_BITS": pk::control::FEATURE_BITS => o!(Rb, feature_bits),
    ]);
    type Desc = k::vmpacket_descriptor;
    check!(r, pk::VmPacketDescriptor, Desc, [
        ptype => o!(Desc, type_),
        offset8 => o!(Desc, offset8),
        len8 => o!(Desc, len8),
        flags => o!(Desc, flags),
        trans_id => o!(Desc, trans_id),
    ]);
    type Tpr = k::vmtransfer_page_range;
    check!(r, pk::TransferPageRange, Tpr, [
        byte_count => o!(Tpr, byte_count),
        byte_offset => o!(Tpr, byte_offset),
    ]);
    type Tph = k::vmtransfer_page_packet_header;
    check!(r, pk::TransferPageHeader, Tph, [
        d => o!(Tph, d),
        xfer_pageset_id => o!(Tph, xfer_pageset_id),
        sender_owns_set => o!(Tph, sender_owns_set),
        reserved => o!(Tph, reserved),
        range_cnt => o!(Tph, range_cnt),
    ], extra [
        "ranges at the end": size_of::<pk::TransferPageHeader>() => o!(Tph, ranges),
    ]);
    // C declares `struct gpa_range range[1]`; ours stops before it.
    type Gd = k::vmdata_gpa_direct;
    check!(r, pk::GpaDirectHeader, Gd, size = o!(Gd, range), [
        d => o!(Gd, d),
        reserved => o!(Gd, reserved),
        range_cnt => o!(Gd, range_cnt),
    ]);
    type Pb = k::hv_page_buffer;
    check!(r, pk::PageBuffer, Pb, [
        len => o!(Pb, len),
        offset => o!(Pb, offset),
        pfn => o!(Pb, pfn),
    ], extra [
        "page buffer packet ranges follow the GPA-direct header": size_of::<pk::GpaDirectHeader>() => o!(k::vmbus_channel_packet_page_buffer, range),
    ]);

    // Integration components.
    check!(r, ic::VmbusPipeHdr, k::vmbuspipe_hdr, [
        flags => o!(k::vmbuspipe_hdr, flags),
        msgsize => o!(k::vmbuspipe_hdr, msgsize),
    ]);
    check!(r, ic::IcVersion, k::ic_version, [
        major => o!(k::ic_version, major),
        minor => o!(k::ic_version, minor),
    ]);
    type Ih = k::icmsg_hdr;
    check!(r, ic::IcMsgHdr, Ih, [
        icverframe => o!(Ih, icverframe),
        icmsgtype => o!(Ih, icmsgtype),
        icvermsg => o!(Ih, icvermsg),
        icmsgsize => o!(Ih, icmsgsize),
        status => o!(Ih, status),
        ictransaction_id => o!(Ih, ictransaction_id),
        icflags => o!(Ih, icflags),
        reserved => o!(Ih, reserved),
    ]);
    type In = k::icmsg_negotiate;
    check!(r, ic::IcMsgNegotiate, In, [
        icframe_vercnt => o!(In, icframe_vercnt),
        icmsg_vercnt => o!(In, icmsg_vercnt),
        reserved => o!(In, reserved),
    ], extra [
        "versions at the end": size_of::<ic::IcMsgNegotiate>() => o!(In, icversion_data),
    ]);
    type Hb = k::heartbeat_msg_data;
    check!(r, ic::HeartbeatMsgData, Hb, [
        seq_num => o!(Hb, seq_num),
        reserved => o!(Hb, reserved),
    ]);
    type Sd = k::shutdown_msg_data;
    check!(r, ic::ShutdownMsgData, Sd, [
        reason_code => o!(Sd, reason_code),
        timeout_seconds => o!(Sd, timeout_seconds),
        flags => o!(Sd, flags),
        display_message => o!(Sd, display_message),
    ]);
    type Ts = k::ictimesync_data;
    check!(r, ic::IcTimesyncData, Ts, [
        parenttime => o!(Ts, parenttime),
        childtime => o!(Ts, childtime),
        roundtriptime => o!(Ts, roundtriptime),
        flags => o!(Ts, flags),
    ]);
    type Tr = k::ictimesync_ref_data;
    check!(r, ic::IcTimesyncRefData, Tr, [
        parenttime => o!(Tr, parenttime),
        vmreferencetime => o!(Tr, vmreferencetime),
        flags => o!(Tr, flags),
        leapflags => o!(Tr, leapflags),
        stratum => o!(Tr, stratum),
        reserved => o!(Tr, reserved),
    ]);

    // KVP and VSS bodies (include/uapi/linux/hyperv.h).
    type Kh = k::hv_kvp_hdr;
    check!(r, kvp::KvpHdr, Kh, [
        operation => o!(Kh, operation),
        pool => o!(Kh, pool),
        pad => o!(Kh, pad),
    ]);
    type Kv = k::hv_kvp_exchg_msg_value;
    check!(r, kvp::KvpExchgMsgValue, Kv, [
        value_type => o!(Kv, value_type),
        key_size => o!(Kv, key_size),
        value_size => o!(Kv, value_size),
        key => o!(Kv, key),
        value => o!(Kv, __bindgen_anon_1.value),
    ]);
    type Ke = k::hv_kvp_msg_enumerate;
    check!(r, kvp::KvpMsgEnumerate, Ke, [
        index => o!(Ke, index),
        data => o!(Ke, data),
    ]);
    type Kd = k::hv_kvp_msg_delete;
    check!(r, kvp::KvpMsgDelete, Kd, [
        key_size => o!(Kd, key_size),
        key => o!(Kd, key),
    ]);
    type Ki = k::hv_kvp_ipaddr_value;
    check!(r, kvp::KvpIpaddrValue, Ki, [
        adapter_id => o!(Ki, adapter_id),
        addr_family => o!(Ki, addr_family),
        dhcp_enabled => o!(Ki, dhcp_enabled),
        ip_addr => o!(Ki, ip_addr),
        sub_net => o!(Ki, sub_net),
        gate_way => o!(Ki, gate_way),
        dns_addr => o!(Ki, dns_addr),
    ]);
    type Kip = k::hv_kvp_ip_msg;
    check!(r, kvp::KvpIpMsg, Kip, [
        operation => o!(Kip, operation),
        pool => o!(Kip, pool),
        kvp_ip_val => o!(Kip, kvp_ip_val),
    ]);
    type Fh = k::hv_fcopy_hdr;
    check!(r, fcopy::FcopyHdr, Fh, [
        operation => o!(Fh, operation),
        service_id0 => o!(Fh, service_id0),
        service_id1 => o!(Fh, service_id1),
    ]);
    type Fs = k::hv_start_fcopy;
    check!(r, fcopy::StartFcopy, Fs, [
        hdr => o!(Fs, hdr),
        file_name => o!(Fs, file_name),
        path_name => o!(Fs, path_name),
        copy_flags => o!(Fs, copy_flags),
        file_size => o!(Fs, file_size),
    ]);
    type Fd = k::hv_do_fcopy;
    check!(r, fcopy::DoFcopy, Fd, [
        hdr => o!(Fd, hdr),
        pad => o!(Fd, pad),
        offset => o!(Fd, offset),
        size => o!(Fd, size),
        data => o!(Fd, data),
    ]);
    type Vm = k::hv_vss_msg;
    check!(r, vss::VssMsg, Vm, [
        operation => o!(Vm, __bindgen_anon_1.vss_hdr.operation),
        reserved => o!(Vm, __bindgen_anon_1.vss_hdr.reserved),
        flags => o!(Vm, __bindgen_anon_2.vss_cf.flags),
    ]);

    // Monitor page.
    type Tg = k::hv_monitor_trigger_group;
    check!(r, mon::MonitorTriggerGroup, Tg, [
        pending => o!(Tg, __bindgen_anon_1.pending),
        armed => o!(Tg, __bindgen_anon_1.armed),
    ]);
    type Mp = k::hv_monitor_parameter;
    check!(r, mon::MonitorParameter, Mp, [
        connectionid => o!(Mp, connectionid),
        flagnumber => o!(Mp, flagnumber),
        rsvdz => o!(Mp, rsvdz),
    ]);
    type Pg = k::hv_monitor_page;
    check!(r, mon::MonitorPage, Pg, [
        trigger_state => o!(Pg, trigger_state),
        rsvdz1 => o!(Pg, rsvdz1),
        trigger_group => o!(Pg, trigger_group),
        rsvdz2 => o!(Pg, rsvdz2),
        next_checktime => o!(Pg, next_checktime),
        latency => o!(Pg, latency),
        rsvdz3 => o!(Pg, rsvdz3),
        parameter => o!(Pg, parameter),
        rsvdz4 => o!(Pg, rsvdz4),
    ], extra [
        "pending_offset(1)": mon::pending_offset(1) => o!(Pg, trigger_group) + size_of::<Tg>(),
        "latency_offset(0)": mon::latency_offset(0) => o!(Pg, latency),
    ]);

    // NVSP (drivers/net/hyperv/hyperv_net.h, every structure packed).
    check!(r, nv::NvspHeader, k::nvsp_message_header, [
        msg_type => o!(k::nvsp_message_header, msg_type),
    ], extra [
        "NVSP_MESSAGE_SIZE": nv::NVSP_MESSAGE_SIZE => size_of::<k::nvsp_message>(),
    ]);
    type NInit = k::nvsp_message_init;
    check!(r, nv::NvspInit, NInit, [
        min_protocol_ver => o!(NInit, min_protocol_ver),
        max_protocol_ver => o!(NInit, max_protocol_ver),
    ]);
    type NInitC = k::nvsp_message_init_complete;
    check!(r, nv::NvspInitComplete, NInitC, [
        negotiated_protocol_ver => o!(NInitC, negotiated_protocol_ver),
        max_mdl_chain_len => o!(NInitC, max_mdl_chain_len),
        status => o!(NInitC, status),
    ]);
    type NNdis = k::nvsp_1_message_send_ndis_version;
    check!(r, nv::NvspNdisVersion, NNdis, [
        ndis_major_ver => o!(NNdis, ndis_major_ver),
        ndis_minor_ver => o!(NNdis, ndis_minor_ver),
    ]);
    type NRb = k::nvsp_1_message_send_receive_buffer;
    type NSb = k::nvsp_1_message_send_send_buffer;
    check!(r, nv::NvspBufferGpadl, NRb, [
        gpadl_handle => o!(NRb, gpadl_handle),
        id => o!(NRb, id),
    ], extra [
        "send buffer size": size_of::<NSb>() => size_of::<NRb>(),
        "send buffer gpadl_handle": o!(NSb, gpadl_handle) => o!(NRb, gpadl_handle),
        "send buffer id": o!(NSb, id) => o!(NRb, id),
    ]);
    type NSec = k::nvsp_1_receive_buffer_section;
    check!(r, nv::NvspRecvSection, NSec, [
        offset => o!(NSec, offset),
        sub_alloc_size => o!(NSec, sub_alloc_size),
        num_sub_allocs => o!(NSec, num_sub_allocs),
        end_offset => o!(NSec, end_offset),
    ]);
    type NRbC = k::nvsp_1_message_send_receive_buffer_complete;
    check!(r, nv::NvspRecvBufComplete, NRbC, size = size_of::<NRbC>() + size_of::<NSec>(), [
        status => o!(NRbC, status),
        num_sections => o!(NRbC, num_sections),
        section => o!(NRbC, sections),
    ]);
    check!(r, nv::NvspRevokeBuffer, k::nvsp_1_message_revoke_receive_buffer, [
        id => o!(k::nvsp_1_message_revoke_receive_buffer, id),
    ], extra [
        "revoke send buffer": size_of::<k::nvsp_1_message_revoke_send_buffer>() => 2,
    ]);
    type NSbC = k::nvsp_1_message_send_send_buffer_complete;
    check!(r, nv::NvspSendBufComplete, NSbC, [
        status => o!(NSbC, status),
        section_size => o!(NSbC, section_size),
    ]);
    type NRp = k::nvsp_1_message_send_rndis_packet;
    check!(r, nv::NvspRndisPacket, NRp, [
        channel_type => o!(NRp, channel_type),
        send_buf_section_index => o!(NRp, send_buf_section_index),
        send_buf_section_size => o!(NRp, send_buf_section_size),
    ]);
    check!(r, nv::NvspRndisPacketComplete, k::nvsp_1_message_send_rndis_packet_complete, [
        status => o!(k::nvsp_1_message_send_rndis_packet_complete, status),
    ]);
    type NCfg = k::nvsp_2_send_ndis_config;
    check!(r, nv::NvspNdisConfig, NCfg, [
        mtu => o!(NCfg, mtu),
        reserved => o!(NCfg, reserved),
        capability => o!(NCfg, capability),
    ]);
    check!(r, nv::NvspSwitchDataPath, k::nvsp_4_sw_datapath, [
        active_datapath => o!(k::nvsp_4_sw_datapath, active_datapath),
    ]);
    type NSubR = k::nvsp_5_subchannel_request;
    check!(r, nv::NvspSubchannelRequest, NSubR, [
        op => o!(NSubR, op),
        num_subchannels => o!(NSubR, num_subchannels),
    ]);
    type NSubC = k::nvsp_5_subchannel_complete;
    check!(r, nv::NvspSubchannelComplete, NSubC, [
        status => o!(NSubC, status),
        num_subchannels => o!(NSubC, num_subchannels),
    ]);
    type NItab = k::nvsp_5_send_indirect_table;
    check!(r, nv::NvspIndirectionTable, NItab, [
        count => o!(NItab, count),
        offset => o!(NItab, offset),
    ]);

    // RNDIS (hyperv_net.h's copies of the RNDIS structures).
    type NMsg = k::rndis_message;
    check!(r, rn::RndisHeader, NMsg, size = o!(NMsg, msg), [
        msg_type => o!(NMsg, ndis_msg_type),
        msg_len => o!(NMsg, msg_len),
    ]);
    type NIReq = k::rndis_initialize_request;
    check!(r, rn::RndisInitRequest, NIReq, [
        req_id => o!(NIReq, req_id),
        major_ver => o!(NIReq, major_ver),
        minor_ver => o!(NIReq, minor_ver),
        max_xfer_size => o!(NIReq, max_xfer_size),
    ]);
    type NIC = k::rndis_initialize_complete;
    check!(r, rn::RndisInitComplete, NIC, [
        req_id => o!(NIC, req_id),
        status => o!(NIC, status),
        major_ver => o!(NIC, major_ver),
        minor_ver => o!(NIC, minor_ver),
        dev_flags => o!(NIC, dev_flags),
        medium => o!(NIC, medium),
        max_pkt_per_msg => o!(NIC, max_pkt_per_msg),
        max_xfer_size => o!(NIC, max_xfer_size),
        pkt_alignment_factor => o!(NIC, pkt_alignment_factor),
        af_list_offset => o!(NIC, af_list_offset),
        af_list_size => o!(NIC, af_list_size),
    ]);
    check!(r, rn::RndisRequestId, k::rndis_halt_request, [
        req_id => o!(k::rndis_halt_request, req_id),
    ], extra [
        "keepalive": size_of::<k::rndis_keepalive_request>() => 4,
    ]);
    type NQReq = k::rndis_query_request;
    type NSReq = k::rndis_set_request;
    check!(r, rn::RndisOidRequest, NQReq, [
        req_id => o!(NQReq, req_id),
        oid => o!(NQReq, oid),
        info_buflen => o!(NQReq, info_buflen),
        info_buf_offset => o!(NQReq, info_buf_offset),
        dev_vc_handle => o!(NQReq, dev_vc_handle),
    ], extra [
        "set request size": size_of::<NSReq>() => size_of::<NQReq>(),
        "set info_buf": o!(NSReq, info_buf) => size_of::<NQReq>(),
        "set info_buf_offset": o!(NSReq, info_buf_offset) => o!(NQReq, info_buf_offset),
    ]);
    type NQC = k::rndis_query_complete;
    check!(r, rn::RndisQueryComplete, NQC, [
        req_id => o!(NQC, req_id),
        status => o!(NQC, status),
        info_buflen => o!(NQC, info_buflen),
        info_buf_offset => o!(NQC, info_buf_offset),
    ]);
    type NSC = k::rndis_set_complete;
    check!(r, rn::RndisStatusComplete, NSC, [
        req_id => o!(NSC, req_id),
        status => o!(NSC, status),
    ], extra [
        "keepalive complete status": o!(k::rndis_keepalive_complete, status) => o!(NSC, status),
    ]);
    type NRC = k::rndis_reset_complete;
    check!(r, rn::RndisResetComplete, NRC, [
        status => o!(NRC, status),
        addressing_reset => o!(NRC, addressing_reset),
    ]);
    type NInd = k::rndis_indicate_status;
    check!(r, rn::RndisIndicateStatus, NInd, [
        status => o!(NInd, status),
        status_buflen => o!(NInd, status_buflen),
        status_buf_offset => o!(NInd, status_buf_offset),
    ]);
    type NPkt = k::rndis_packet;
    check!(r, rn::RndisPacket, NPkt, [
        data_offset => o!(NPkt, data_offset),
        data_len => o!(NPkt, data_len),
        oob_data_offset => o!(NPkt, oob_data_offset),
        oob_data_len => o!(NPkt, oob_data_len),
        num_oob_data_elements => o!(NPkt, num_oob_data_elements),
        per_pkt_info_offset => o!(NPkt, per_pkt_info_offset),
        per_pkt_info_len => o!(NPkt, per_pkt_info_len),
        vc_handle => o!(NPkt, vc_handle),
        reserved => o!(NPkt, reserved),
    ]);
    type NPpi = k::rndis_per_packet_info;
    check!(r, rn::RndisPerPacketInfo, NPpi, [
        size => o!(NPpi, size),
        ppi_type => o!(NPpi, _bitfield_1),
        ppi_offset => o!(NPpi, ppi_offset),
    ]);
    type NObj = k::ndis_obj_header;
    check!(r, rn::NdisObjectHeader, NObj, [
        obj_type => o!(NObj, type_),
        revision => o!(NObj, rev),
        size => o!(NObj, size),
    ]);
    type NCap = k::ndis_recv_scale_cap;
    check!(r, rn::NdisRssCaps, NCap, [
        hdr => o!(NCap, hdr),
        cap_flag => o!(NCap, cap_flag),
        num_int_msg => o!(NCap, num_int_msg),
        num_recv_que => o!(NCap, num_recv_que),
        num_indirect_tabent => o!(NCap, num_indirect_tabent),
    ]);
    type NPar = k::ndis_recv_scale_param;
    check!(r, rn::NdisRssParams, NPar, [
        hdr => o!(NPar, hdr),
        flag => o!(NPar, flag),
        base_cpu_number => o!(NPar, base_cpu_number),
        hashinfo => o!(NPar, hashinfo),
        indirect_tabsize => o!(NPar, indirect_tabsize),
        pad0 => o!(NPar, indirect_tabsize) + 2,
        indirect_taboffset => o!(NPar, indirect_taboffset),
        hashkey_size => o!(NPar, hashkey_size),
        pad1 => o!(NPar, hashkey_size) + 2,
        hashkey_offset => o!(NPar, hashkey_offset),
        processor_masks_offset => o!(NPar, processor_masks_offset),
        num_processor_masks => o!(NPar, num_processor_masks),
        processor_masks_entry_size => o!(NPar, processor_masks_entry_size),
    ], extra [
        "NDIS_OFFLOAD_SIZE_6_0": rn::NDIS_OFFLOAD_SIZE_6_0 => o!(k::ndis_offload, ipsecv2),
    ]);

    r.finish("");
}

#[test]
fn storage_layouts_match_storvsc() {
    let mut r = Report::default();
    type Vr = ks::vmscsi_request;
    check!(r, st::VmscsiRequest, Vr, [
        length => o!(Vr, length),
        srb_status => o!(Vr, srb_status),
        scsi_status => o!(Vr, scsi_status),
        port_number => o!(Vr, port_number),
        path_id => o!(Vr, path_id),
        target_id => o!(Vr, target_id),
        lun => o!(Vr, lun),
        cdb_length => o!(Vr, cdb_length),
        sense_info_length => o!(Vr, sense_info_length),
        data_in => o!(Vr, data_in),
        reserved => o!(Vr, reserved),
        data_transfer_length => o!(Vr, data_transfer_length),
        buf => o!(Vr, __bindgen_anon_1),
        win8 => o!(Vr, reserve),
    ], extra [
        "CDB/sense union": st::SRB_BUF_LEN => size_of::<ks::vmscsi_request__bindgen_ty_1>(),
        "pre-win8 size (vmscsi_size_delta)": st::VmscsiRequest::SIZE - st::WIN8_EXTENSION_SIZE => o!(Vr, reserve),
    ]);
    // The win8 extension is a run of fields at the end of the C SRB.
    let base = o!(Vr, reserve);
    check!(r, st::VmscsiWin8Extension, Vr, size = size_of::<Vr>() - base, [
        reserve => o!(Vr, reserve) - base,
        queue_tag => o!(Vr, queue_tag) - base,
        queue_action => o!(Vr, queue_action) - base,
        srb_flags => o!(Vr, srb_flags) - base,
        time_out_value => o!(Vr, time_out_value) - base,
        queue_sort_key => o!(Vr, queue_sort_ey) - base,
    ]);
    type Vp = ks::vstor_packet;
    check!(r, st::VstorPacketHeader, Vp, size = o!(Vp, __bindgen_anon_1), [
        operation => o!(Vp, operation),
        flags => o!(Vp, flags),
        status => o!(Vp, status),
    ], extra [
        "whole packet": st::VSTOR_PACKET_SIZE => size_of::<Vp>(),
        "union": st::VSTOR_BODY_LEN => size_of::<ks::vstor_packet__bindgen_ty_1>(),
        "sub_channel_count in the union": 0 => o!(ks::vstor_packet__bindgen_ty_1, sub_channel_count),
    ]);
    type Cp = ks::vmstorage_channel_properties;
    check!(r, st::ChannelProperties, Cp, [
        reserved => o!(Cp, reserved),
        max_channel_cnt => o!(Cp, max_channel_cnt),
        reserved1 => o!(Cp, reserved1),
        flags => o!(Cp, flags),
        max_transfer_bytes => o!(Cp, max_transfer_bytes),
        reserved2 => o!(Cp, reserved2),
    ]);
    type Pv = ks::vmstorage_protocol_version;
    check!(r, st::ProtocolVersion, Pv, [
        major_minor => o!(Pv, major_minor),
        revision => o!(Pv, revision),
    ]);
    type Fc = ks::hv_fc_wwn_packet;
    check!(r, st::FcWwnPacket, Fc, [
        primary_active => o!(Fc, primary_active),
        reserved1 => o!(Fc, reserved1),
        primary_port_wwn => o!(Fc, primary_port_wwn),
        primary_node_wwn => o!(Fc, primary_node_wwn),
        secondary_port_wwn => o!(Fc, secondary_port_wwn),
        secondary_node_wwn => o!(Fc, secondary_node_wwn),
    ]);
    let ops = [
        (
            st::VstorOperation::COMPLETE_IO,
            ks::vstor_packet_operation_VSTOR_OPERATION_COMPLETE_IO,
        ),
        (
            st::VstorOperation::EXECUTE_SRB,
            ks::vstor_packet_operation_VSTOR_OPERATION_EXECUTE_SRB,
        ),
        (
            st::VstorOperation::ENUMERATE_BUS,
            ks::vstor_packet_operation_VSTOR_OPERATION_ENUMERATE_BUS,
        ),
        (
            st::VstorOperation::CREATE_SUB_CHANNELS,
            ks::vstor_packet_operation_VSTOR_OPERATION_CREATE_SUB_CHANNELS,
        ),
    ];
    for (ours, c) in ops {
        r.constant(ours, u64::from(ours.0), u64::from(c));
    }
    r.finish("storvsc");
}

#[test]
fn keyboard_layouts_match_hyperv_keyboard() {
    let mut r = Report::default();
    // Our structures spell the C header (a struct of one type field) and
    // the version union (of one u32) as the fields themselves.
    type Rq = kk::synth_kbd_protocol_request;
    check!(r, kb::KbdProtocolRequest, Rq, [
        msg_type => o!(Rq, header),
        version => o!(Rq, version_requested),
    ], extra [
        "header size": size_of::<kb::KbdMsgType>() => size_of::<kk::synth_kbd_msg_hdr>(),
    ]);
    type Rs = kk::synth_kbd_protocol_response;
    check!(r, kb::KbdProtocolResponse, Rs, [
        msg_type => o!(Rs, header),
        proto_status => o!(Rs, proto_status),
    ]);
    type Ks = kk::synth_kbd_keystroke;
    check!(r, kb::KbdKeystroke, Ks, [
        msg_type => o!(Ks, header),
        make_code => o!(Ks, make_code),
        reserved0 => o!(Ks, reserved0),
        info => o!(Ks, info),
    ]);
    // The driver defines no structure for the LED indicators (it never
    // sends them); only the message types are compared for them.
    let types = [
        (
            kb::KbdMsgType::PROTOCOL_REQUEST,
            kk::synth_kbd_msg_type_SYNTH_KBD_PROTOCOL_REQUEST,
        ),
        (
            kb::KbdMsgType::PROTOCOL_RESPONSE,
            kk::synth_kbd_msg_type_SYNTH_KBD_PROTOCOL_RESPONSE,
        ),
        (
            kb::KbdMsgType::EVENT,
            kk::synth_kbd_msg_type_SYNTH_KBD_EVENT,
        ),
        (
            kb::KbdMsgType::LED_INDICATORS,
            kk::synth_kbd_msg_type_SYNTH_KBD_LED_INDICATORS,
        ),
    ];
    for (ours, c) in types {
        r.constant(ours, u64::from(ours.0), u64::from(c));
    }
    r.finish("hyperv-keyboard");
}
