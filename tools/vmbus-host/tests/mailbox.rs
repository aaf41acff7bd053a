// SPDX-License-Identifier: GPL-2.0

//! End-to-end mailbox tests against the real binary with a fake QEMU.

mod common;

use common::{FakeQemu, HostProc, RAM};
use vmbus_proto::ivshmem::{self, Command, HostState, HvStatus};

#[test]
fn handshake_and_header() {
    let h = HostProc::start(&["--vectors", "3", "--mailboxes", "4"]);
    let q = FakeQemu::connect(&h, 3);
    assert_eq!(q.peer_id, 1);
    assert_eq!(q.host_fds.len(), 3);
    assert_eq!(q.my_fds.len(), 3);
    assert_eq!(q.shm_size, 65536);
    let hd = q.header;
    assert_eq!(hd.version_major, ivshmem::VERSION_MAJOR);
    assert_eq!(hd.version_minor, ivshmem::VERSION_MINOR);
    assert_eq!(hd.host_state, HostState::READY);
    assert_eq!(hd.num_vectors, 3);
    assert_eq!(hd.num_mailboxes, 4);
    assert_eq!(hd.host_peer_id, 0);
    assert_eq!(hd.shm_size, 65536);
    assert_eq!(hd.guest_ram_size, RAM);
}

#[test]
fn ping_end_to_end() {
    let h = HostProc::start(&[]);
    let mut q = FakeQemu::connect(&h, 4);
    let gpa = 0x12345;
    let bytes: Vec<u8> = (0..100u32).map(|i| (i * 7) as u8).collect();
    q.ram.write(gpa, &bytes).unwrap();
    let sum: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
    let seq = q.submit(0, Command::PING, 0, [gpa, 100, 2, 0xfeed_beef], &[]);
    let (st, res) = q.wait_response(0, seq);
    assert_eq!(st, HvStatus::SUCCESS);
    assert_eq!(res, u64::from(sum) | 0xfeed_beef << 32);
    assert_eq!(q.wait_irq(2), 1);
    // The bytes were complemented in the guest RAM file itself.
    let file = std::fs::read(&h.guest_mem).unwrap();
    let back = &file[gpa as usize..gpa as usize + 100];
    let want: Vec<u8> = bytes.iter().map(|b| !b).collect();
    assert_eq!(back, &want[..]);

    // Several mailboxes at once, one doorbell each.
    let s1 = q.submit(1, Command::PING, 0, [0, 1, 0, 1], &[]);
    let s3 = q.submit(3, Command::PING, 0, [4096, 4096, 0, 3], &[]);
    assert_eq!(q.wait_response(1, s1).0, HvStatus::SUCCESS);
    assert_eq!(q.wait_response(3, s3).0, HvStatus::SUCCESS);

    let status = h.ctl_ok(&["status"]);
    assert!(status.contains("connected: yes"), "{status}");
    assert!(status.contains("PING=3"), "{status}");
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    assert!(trace.contains(" g2h - mbox-PING "), "{trace}");
    assert!(trace.contains(" h2g - mbox-PING-resp "), "{trace}");
    assert!(trace.contains(" h2g - irq 0200"), "{trace}");
}

#[test]
fn bad_requests_get_errors_and_host_lives_on() {
    let h = HostProc::start(&[]);
    let mut q = FakeQemu::connect(&h, 4);
    let bad = HvStatus::INVALID_PARAMETER;
    // Out of guest RAM, straddling its end, overflowing, bad sizes, bad vector.
    assert_eq!(q.call(Command::PING, 0, [RAM, 1, 0, 0], &[]).0, bad);
    assert_eq!(q.call(Command::PING, 0, [RAM - 1, 2, 0, 0], &[]).0, bad);
    assert_eq!(q.call(Command::PING, 0, [u64::MAX, 2, 0, 0], &[]).0, bad);
    assert_eq!(q.call(Command::PING, 0, [0, 0, 0, 0], &[]).0, bad);
    assert_eq!(q.call(Command::PING, 0, [0, 4097, 0, 0], &[]).0, bad);
    assert_eq!(q.call(Command::PING, 0, [0, 1, 4, 0], &[]).0, bad);
    assert_eq!(q.take_irq(0), 0, "no interrupt for failed requests");
    assert_eq!(
        q.call(Command(0xdead), 0, [0; 4], &[]).0,
        HvStatus::INVALID_HYPERCALL_CODE
    );
    assert_eq!(
        q.call(Command::SYNIC_SETUP, 0, [RAM | 1, 0, 2, 0], &[]).0,
        bad
    );
    assert_eq!(
        q.call(Command::SIGNAL_EVENT, 0, [0x1234, 0, 0, 0], &[]).0,
        HvStatus::INVALID_CONNECTION_ID
    );
    // Still alive and correct.
    let (st, res) = q.call(Command::PING, 0, [RAM - 1, 1, 1, 7], &[]);
    assert_eq!(st, HvStatus::SUCCESS);
    assert_eq!(res, 7 << 32);
    assert_eq!(q.wait_irq(1), 1);
    let stats = h.ctl_ok(&["stats"]);
    assert!(stats.contains("status.INVALID_PARAMETER=7"), "{stats}");
    assert!(stats.contains("status.INVALID_HYPERCALL_CODE=1"), "{stats}");
}

#[test]
fn hello_goodbye_and_post_message() {
    let h = HostProc::start(&[]);
    let mut q = FakeQemu::connect(&h, 4);
    let (st, res) = q.call(Command::HELLO, 0, [1 << 16, 2, 0, 0], &[]);
    assert_eq!(st, HvStatus::SUCCESS);
    assert_eq!(
        res,
        u64::from(ivshmem::VERSION_MAJOR) << 16 | u64::from(ivshmem::VERSION_MINOR)
    );
    assert!(h
        .ctl_ok(&["status"])
        .contains("guest driver: layout 1.0, 2 vCPUs"));
    // A VMBus message to connection 4: accepted and handed to the server.
    let mut input = Vec::new();
    for w in [4u32, 0, 14, 4] {
        input.extend_from_slice(&w.to_le_bytes());
    }
    input.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(
        q.call(Command::POST_MESSAGE, 1, [0; 4], &input).0,
        HvStatus::SUCCESS
    );
    h.wait_for_line("vmbus: bad message (4 bytes) on connection 4");
    // Unknown connection, oversized payload.
    input[0] = 9;
    assert_eq!(
        q.call(Command::POST_MESSAGE, 1, [0; 4], &input).0,
        HvStatus::INVALID_CONNECTION_ID
    );
    input[0] = 4;
    input[12] = 241;
    assert_eq!(
        q.call(Command::POST_MESSAGE, 1, [0; 4], &input).0,
        HvStatus::INVALID_PARAMETER
    );
    assert_eq!(
        q.call(Command::GOODBYE, 0, [0; 4], &[]).0,
        HvStatus::SUCCESS
    );
    assert!(h.ctl_ok(&["status"]).contains("guest driver: none"));
    let trace = std::fs::read_to_string(&h.trace).unwrap();
    assert!(
        trace.contains(" g2h - msg-14 040000000e0000000400000001020304"),
        "{trace}"
    );
}
