// SPDX-License-Identifier: GPL-2.0

//! SynIC message slots and event flags end to end: the guest sets up its
//! pages through the mailbox, the host posts through the control socket.

mod common;

use std::sync::atomic::{fence, Ordering};

use common::{FakeQemu, HostProc, SIEFP, SIMP, SINT, VECTOR};
use vmbus_proto::ivshmem::{Command, HvStatus};

fn slot(q: &FakeQemu) -> (u32, u8, u8, Vec<u8>) {
    let base = SIMP + SINT * 256;
    let mut hdr = [0u8; 16];
    q.ram.read(base, &mut hdr).unwrap();
    let mut p = vec![0u8; usize::from(hdr[4])];
    q.ram.read(base + 16, &mut p).unwrap();
    (
        u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]),
        hdr[4],
        hdr[5],
        p,
    )
}

fn set_up(h: &HostProc) -> FakeQemu {
    FakeQemu::with_synic(h)
}

#[test]
fn post_pending_and_eom() {
    let h = HostProc::start(&[]);
    let mut q = set_up(&h);
    assert!(h.ctl_ok(&["status"]).contains("vcpus set up: 0"));

    let out = h.ctl_ok(&["post", "0", "2", "0x10", "aabbcc"]);
    assert_eq!(out.trim(), "delivered");
    assert_eq!(q.wait_irq(VECTOR), 1);
    assert_eq!(slot(&q), (0x10, 3, 0, vec![0xaa, 0xbb, 0xcc]));

    // The slot is busy: the second message waits, with the pending flag.
    let out = h.ctl_ok(&["post", "0", "2", "0x11", "0102"]);
    assert_eq!(out.trim(), "queued");
    let (ty, _, flags, _) = slot(&q);
    assert_eq!((ty, flags & 1), (0x10, 1));
    assert_eq!(q.take_irq(VECTOR), 0, "no interrupt for a queued message");

    // The guest consumes the message as Linux does, sees pending, EOMs.
    q.ram.write_u32(SIMP + SINT * 256, 0).unwrap();
    fence(Ordering::SeqCst);
    assert_eq!(q.call(Command::EOM, 0, [0; 4], &[]).0, HvStatus::SUCCESS);
    assert_eq!(q.wait_irq(VECTOR), 1);
    assert_eq!(slot(&q), (0x11, 2, 0, vec![1, 2]));

    let stats = h.ctl_ok(&["stats"]);
    assert!(stats.contains("h2g.posted=2"), "{stats}");
    assert!(stats.contains("h2g.delivered=2"), "{stats}");
    assert!(stats.contains("h2g.queued=1"), "{stats}");
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    // vCPU, type, payload.
    assert!(
        trace.contains(" h2g - synic-msg-sint2 00000000110000000102\n"),
        "{trace}"
    );
}

#[test]
fn post_errors_and_raise() {
    let h = HostProc::start(&[]);
    // Without a guest.
    let (code, _, err) = h.ctl(&["post", "0", "2", "1", "00"]);
    assert_eq!(code, 1);
    assert!(err.contains("no guest connected"), "{err}");
    let q = set_up(&h);
    for bad in [
        &["post", "0", "16", "1"][..],
        &["post", "5", "2", "1"],
        &["post", "0", "2", "0"],
        &["post", "0", "2", "1", "zz"],
        &["post", "0", "2", "1", &"00".repeat(241)],
        &["post", "0"],
        &["raise", "99"],
        &["no-such-command"],
    ] {
        let (code, _, err) = h.ctl(bad);
        assert_eq!(code, 1, "{bad:?} should fail");
        assert!(err.starts_with("error: "), "{err}");
    }
    assert_eq!(h.ctl_ok(&["raise", "0"]).trim(), "raised vector 1");
    assert_eq!(q.wait_irq(VECTOR), 1);
    let help = h.ctl_ok(&["help"]);
    for c in ["status", "stats", "raise", "post", "quit"] {
        assert!(help.contains(c), "{help}");
    }
}

#[test]
fn hello_forgets_synic_and_queues() {
    let h = HostProc::start(&[]);
    let mut q = set_up(&h);
    h.ctl_ok(&["post", "0", "2", "1"]);
    h.ctl_ok(&["post", "0", "2", "2"]);
    assert_eq!(
        q.call(Command::HELLO, 0, [1 << 16, 1, 0, 0], &[]).0,
        HvStatus::SUCCESS
    );
    let status = h.ctl_ok(&["status"]);
    assert!(
        status.lines().any(|l| l.trim_end() == "vcpus set up:"),
        "{status}"
    );
    let (code, _, err) = h.ctl(&["post", "0", "2", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("not set up"), "{err}");
}

#[test]
fn event_flags() {
    let h = HostProc::start(&[]);
    let q = set_up(&h);
    assert_eq!(h.ctl_ok(&["event", "0", "2", "0"]).trim(), "set");
    assert_eq!(q.wait_irq(VECTOR), 1);
    assert_eq!(h.ctl_ok(&["event", "0", "2", "2047"]).trim(), "set");
    assert_eq!(q.wait_irq(VECTOR), 1);
    // Already set: no new interrupt, as on Hyper-V.
    assert_eq!(h.ctl_ok(&["event", "0", "2", "0"]).trim(), "already set");
    assert_eq!(q.take_irq(VECTOR), 0);
    let mut area = [0u8; 256];
    q.ram.read(SIEFP + SINT * 256, &mut area).unwrap();
    assert_eq!(area[0], 1);
    assert_eq!(area[255], 0x80);
    assert!(area[1..255].iter().all(|&b| b == 0));
    let (code, _, err) = h.ctl(&["event", "0", "2", "2048"]);
    assert_eq!(code, 1);
    assert!(err.contains("out of range"), "{err}");
}
