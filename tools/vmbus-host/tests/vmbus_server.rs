// SPDX-License-Identifier: GPL-2.0

//! The VMBus server end to end: a scripted guest built on `vmbus_proto`
//! drives the host binary through the mailbox (POST_MESSAGE), reads the
//! answers from its SynIC message slot and EOMs as Linux does.

mod common;

use common::guest::Guest;
use common::HostProc;
use vmbus_proto::gpadl::GpadlMessages;
use vmbus_proto::ivshmem::HvStatus;
use vmbus_proto::message::{GuestMessage, HostMessage, OpenRequest};
use vmbus_proto::types::{GpadlId, Relid};
use vmbus_proto::version::Version;

fn r(v: u32) -> Relid {
    Relid::new(v).unwrap()
}

#[test]
fn negotiation_azure_rejects_6_0_then_accepts_5_3() {
    let h = HostProc::start(&[]);
    let mut g = Guest::new(&h);
    assert_eq!(g.contact(Version::V6_0, 4), HvStatus::SUCCESS);
    assert!(!g.version_reply().0);
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert_eq!(g.version_reply(), (true, 4));
    let st = h.ctl_ok(&["stats"]);
    assert!(st.contains("vmbus.versions_rejected=1"), "{st}");
    assert!(st.contains("vmbus.version=327683"), "{st}");
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    assert!(
        trace.contains(" g2h - INITIATE_CONTACT 0e000000"),
        "{trace}"
    );
    assert!(
        trace.contains(" h2g - VERSION_RESPONSE 0f000000"),
        "{trace}"
    );
}

#[test]
fn negotiation_qemu_falls_back_to_4_0() {
    let h = HostProc::start(&["--profile", "qemu"]);
    let mut g = Guest::new(&h);
    // No connection id 4 on QEMU: the post itself fails.
    assert_eq!(g.contact(Version::V5_0, 4), HvStatus::INVALID_CONNECTION_ID);
    // 5.0 on connection 1 is the wrong port: rejected.
    assert_eq!(g.contact(Version::V5_0, 1), HvStatus::SUCCESS);
    assert!(!g.version_reply().0);
    assert_eq!(g.contact(Version::WIN10, 1), HvStatus::SUCCESS);
    assert_eq!(g.version_reply(), (true, Version::WIN10.0));
    assert!(h.ctl_ok(&["status"]).contains("version 4.0 vCPU 0 SINT 2"));
}

#[test]
fn qemu_offers_carry_no_monitor_id() {
    // QEMU's vmbus-bridge offers every channel with monitor_allocated = 0
    // (seen under KVM's Hyper-V emulation: the balloon has no monitor
    // files with either driver), also a channel offered later.
    let h = HostProc::start(&["--profile", "qemu"]);
    let mut g = Guest::new(&h);
    assert_eq!(g.contact(Version::WIN10, 1), HvStatus::SUCCESS);
    assert!(g.version_reply().0);
    assert_eq!(g.post(1, &GuestMessage::RequestOffers), HvStatus::SUCCESS);
    for i in 0..4 {
        match g.recv() {
            HostMessage::Offer(o) => assert!(o.monitor_id.is_none(), "offer {i}: {o:?}"),
            m => panic!("expected an offer, got {m:?}"),
        }
    }
    assert_eq!(g.recv(), HostMessage::AllOffersDelivered);
    h.ctl_ok(&["offer", "echo"]);
    match g.recv() {
        HostMessage::Offer(o) => assert!(o.monitor_id.is_none(), "{o:?}"),
        m => panic!("expected an offer, got {m:?}"),
    }
    let list = h.ctl_ok(&["list"]);
    assert_eq!(list.matches("monitor=-").count(), 5, "{list}");
}

#[test]
fn negotiation_old_host_only_3_0() {
    let h = HostProc::start(&["--profile", "old"]);
    let mut g = Guest::new(&h);
    assert_eq!(g.contact(Version::WIN10, 1), HvStatus::SUCCESS);
    assert!(!g.version_reply().0);
    assert_eq!(g.contact(Version::WIN8_1, 1), HvStatus::SUCCESS);
    assert!(g.version_reply().0);
}

#[test]
fn offers_gpadl_open_close_rescind_unload() {
    let h = HostProc::start(&[]);
    let mut g = Guest::new(&h);
    // Before contact: ignored.
    assert_eq!(g.post(4, &GuestMessage::RequestOffers), HvStatus::SUCCESS);
    assert_eq!(g.contact(Version::V5_3, 4), HvStatus::SUCCESS);
    assert!(g.version_reply().0);
    assert_eq!(g.post(4, &GuestMessage::RequestOffers), HvStatus::SUCCESS);
    let classes = [
        "57164f39-9115-4e78-ab55-382f3bd5422d",
        "0e0b6031-5213-4934-818b-38d90ced39db",
        "9527e630-d0ae-497b-adce-e80ab0175caf",
        "2e1c0f5a-8b1d-4a8e-9c3f-72766d627573",
    ];
    for (i, class) in classes.iter().enumerate() {
        match g.recv() {
            HostMessage::Offer(o) => {
                assert_eq!(o.relid.get(), i as u32 + 1);
                assert_eq!(o.if_type().to_string(), *class);
                assert_eq!(o.monitor_id.unwrap().get(), i as u8);
                assert_eq!(o.connection_id, 0x10000 + i as u32 + 1);
            }
            m => panic!("expected an offer, got {m:?}"),
        }
    }
    assert_eq!(g.recv(), HostMessage::AllOffersDelivered);
    let list = h.ctl_ok(&["list"]);
    assert!(
        list.contains("relid=4 type=echo class=2e1c0f5a-8b1d-4a8e-9c3f-72766d627573 instance=72766d62-0004-0000-8000-000000000000 monitor=3 conn=65540 state=offered"),
        "{list}"
    );

    // GPADL: 8 pages, header only; then one with a PFN past RAM.
    let pfns: Vec<u64> = (0x100..0x108).collect();
    let gp = GpadlId::new(0x10).unwrap();
    for m in GpadlMessages::new(r(1), gp, &pfns).unwrap() {
        assert_eq!(g.post(4, &m), HvStatus::SUCCESS);
    }
    assert_eq!(
        g.recv(),
        HostMessage::GpadlCreated {
            relid: r(1),
            gpadl: gp,
            status: 0
        }
    );
    // 40 pages: header and a body.
    let big: Vec<u64> = (0x200..0x228).collect();
    let gb = GpadlId::new(0x11).unwrap();
    let msgs = GpadlMessages::new(r(2), gb, &big).unwrap();
    assert_eq!(msgs.message_count(), 2);
    for m in msgs {
        assert_eq!(g.post(4, &m), HvStatus::SUCCESS);
    }
    assert!(matches!(
        g.recv(),
        HostMessage::GpadlCreated { status: 0, .. }
    ));
    let bad: Vec<u64> = vec![0x100, common::RAM / 4096];
    let gbad = GpadlId::new(0x12).unwrap();
    for m in GpadlMessages::new(r(1), gbad, &bad).unwrap() {
        assert_eq!(g.post(4, &m), HvStatus::SUCCESS);
    }
    match g.recv() {
        HostMessage::GpadlCreated { gpadl, status, .. } => {
            assert_eq!(gpadl, gbad);
            assert_ne!(status, 0);
        }
        m => panic!("{m:?}"),
    }

    // Open: a bad offset fails, then a good open, then a second open fails.
    let mut open = OpenRequest {
        relid: r(1),
        open_id: 7,
        ring_gpadl: gp,
        target_vp: 0,
        downstream_page_offset: 7,
        user_data: [0; 120],
    };
    g.post(4, &GuestMessage::OpenChannel(open));
    assert!(matches!(g.recv(), HostMessage::OpenResult { status, .. } if status != 0));
    open.downstream_page_offset = 4;
    g.post(4, &GuestMessage::OpenChannel(open));
    assert_eq!(
        g.recv(),
        HostMessage::OpenResult {
            relid: r(1),
            open_id: 7,
            status: 0
        }
    );
    g.post(4, &GuestMessage::OpenChannel(open));
    assert!(matches!(g.recv(), HostMessage::OpenResult { status, .. } if status != 0));
    assert!(h.ctl_ok(&["list"]).contains("relid=1 type=heartbeat"));
    assert!(h.ctl_ok(&["list"]).contains("state=open"));

    // Close, tear the ring down.
    g.post(4, &GuestMessage::CloseChannel { relid: r(1) });
    g.post(
        4,
        &GuestMessage::GpadlTeardown {
            relid: r(1),
            gpadl: gp,
        },
    );
    assert_eq!(g.recv(), HostMessage::GpadlTorndown { gpadl: gp });

    // Rescind relid 3, the guest releases it.
    let out = h.ctl_ok(&["rescind", "3"]);
    assert!(out.contains("waiting for RELID_RELEASED"), "{out}");
    assert_eq!(g.recv(), HostMessage::Rescind { relid: r(3) });
    assert!(h.ctl_ok(&["list"]).contains("relid=3 type=timesync"));
    g.post(4, &GuestMessage::RelidReleased { relid: r(3) });
    // A new offer takes the freed relid and reaches the guest at once.
    let out = h.ctl_ok(&["offer", "echo"]);
    assert!(out.contains("relid 3"), "{out}");
    match g.recv() {
        HostMessage::Offer(o) => {
            assert_eq!(o.relid, r(3));
            assert_eq!(
                o.if_instance().to_string(),
                "72766d62-0004-0001-8000-000000000000"
            );
        }
        m => panic!("{m:?}"),
    }

    g.post(4, &GuestMessage::Unload);
    assert_eq!(g.recv(), HostMessage::UnloadResponse);
    let st = h.ctl_ok(&["stats"]);
    for want in [
        "vmbus.connected=0",
        "vmbus.unloads=1",
        "vmbus.gpadls_created=2",
        "vmbus.gpadls_failed=1",
        "vmbus.opens=1",
        "vmbus.opens_failed=2",
        "vmbus.released=1",
        "vmbus.offers=5",
    ] {
        assert!(st.contains(want), "{want}: {st}");
    }
    assert!(!h.ctl_ok(&["list"]).contains("state=open"));
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    for want in [
        " h2g 1 OFFER_CHANNEL ",
        " h2g - ALL_OFFERS_DELIVERED ",
        " g2h 1 GPADL_HEADER ",
        " g2h - GPADL_BODY ",
        " h2g 1 OPEN_CHANNEL_RESULT ",
        " h2g 3 RESCIND_CHANNEL_OFFER ",
        " g2h - UNLOAD ",
        " h2g - UNLOAD_RESPONSE ",
    ] {
        assert!(trace.contains(want), "{want}: {trace}");
    }
}

#[test]
fn device_option_and_bad_control() {
    let h = HostProc::start(&["--device", "echo:2", "--device", "heartbeat"]);
    let list = h.ctl_ok(&["list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("relid=1 type=echo"));
    assert!(lines[1].starts_with("relid=2 type=echo"));
    assert!(lines[2].starts_with("relid=3 type=heartbeat"));
    for bad in [
        &["offer", "nic"][..],
        &["offer"],
        &["rescind", "99"],
        &["rescind", "0"],
        &["rescind", "x"],
    ] {
        let (code, _, err) = h.ctl(bad);
        assert_eq!(code, 1, "{bad:?}: {err}");
    }
    // Without a guest, rescind removes at once.
    assert!(h.ctl_ok(&["rescind", "2"]).contains("removed relid 2"));
    assert!(h.ctl_ok(&["help"]).contains("rescind RELID"));
}
