// SPDX-License-Identifier: GPL-2.0

//! Connections coming and going, signals, `--once`, `quit`, and the CLI.

mod common;

use std::os::unix::net::UnixStream;
use std::process::Command as Proc;

use common::{bin, FakeQemu, HostProc};
use vmbus_host::sys;
use vmbus_proto::ivshmem::{Command, HostState, HvStatus};

fn ping_ok(q: &mut FakeQemu) {
    q.ram.write(0x2000, &[0x0f]).unwrap();
    let (st, res) = q.call(Command::PING, 0, [0x2000, 1, 0, 9], &[]);
    assert_eq!(st, HvStatus::SUCCESS);
    assert_eq!(res, 0x0f | 9 << 32);
    assert_eq!(q.wait_irq(0), 1);
}

#[test]
fn guest_disconnect_then_new_guest() {
    let h = HostProc::start(&[]);
    let mut q = FakeQemu::connect(&h, 4);
    ping_ok(&mut q);
    drop(q);
    h.wait_for_line("guest disconnected");
    assert!(h.ctl_ok(&["status"]).contains("connected: no"));
    let mut q = FakeQemu::connect(&h, 4);
    ping_ok(&mut q);
    let st = h.ctl_ok(&["status"]);
    assert!(st.contains("connected: yes"), "{st}");
    assert!(st.contains("connections: 2 refused: 0"), "{st}");
}

#[test]
fn second_guest_is_refused_first_keeps_working() {
    let h = HostProc::start(&[]);
    let mut q = FakeQemu::connect(&h, 4);
    let second = UnixStream::connect(&h.socket).unwrap();
    second.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    // The host closes it without a word.
    assert!(sys::recv_i64(std::os::fd::AsFd::as_fd(&second))
        .unwrap()
        .is_none());
    ping_ok(&mut q);
    assert!(h.ctl_ok(&["status"]).contains("refused: 1"));
}

#[test]
fn sigterm_exits_cleanly_and_removes_sockets() {
    let mut h = HostProc::start(&[]);
    let mut q = FakeQemu::connect(&h, 4);
    ping_ok(&mut q);
    h.signal(libc::SIGTERM);
    let st = h.wait_exit();
    assert_eq!(st.code(), Some(0));
    assert!(!h.socket.exists(), "ivshmem socket left behind");
    assert!(!h.control.exists(), "control socket left behind");
    // The guest can see that the host is gone.
    assert_eq!(q.host_state(), HostState::GONE.0);
    // And its connection was closed.
    assert!(sys::recv_i64(std::os::fd::AsFd::as_fd(&q.stream))
        .unwrap()
        .is_none());
}

#[test]
fn sigint_without_guest() {
    let mut h = HostProc::start(&[]);
    h.signal(libc::SIGINT);
    assert_eq!(h.wait_exit().code(), Some(0));
    assert!(!h.socket.exists());
    assert!(!h.control.exists());
}

#[test]
fn once_exits_when_the_guest_leaves() {
    let mut h = HostProc::start(&["--once"]);
    let mut q = FakeQemu::connect(&h, 4);
    ping_ok(&mut q);
    drop(q);
    assert_eq!(h.wait_exit().code(), Some(0));
    assert!(!h.socket.exists());
}

#[test]
fn quit_command() {
    let mut h = HostProc::start(&[]);
    h.ctl_ok(&["quit"]);
    assert_eq!(h.wait_exit().code(), Some(0));
    assert!(!h.socket.exists());
    assert!(!h.control.exists());
}

#[test]
fn stale_sockets_are_replaced() {
    let mut h = HostProc::start_with(&["--once"], |sock, ctl| {
        for p in [sock, ctl] {
            // A listener that is gone leaves its socket file behind.
            drop(std::os::unix::net::UnixListener::bind(p).unwrap());
            assert!(p.exists());
        }
    });
    let mut q = FakeQemu::connect(&h, 4);
    ping_ok(&mut q);
    assert!(h.ctl_ok(&["status"]).contains("connected: yes"));
    drop(q);
    assert_eq!(h.wait_exit().code(), Some(0));
    assert!(!h.socket.exists());
    assert!(!h.control.exists());
}

#[test]
fn cli_errors_are_clear() {
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("s");
    let mem = d.path().join("m");
    let run = |args: &[&str]| {
        let o = Proc::new(bin()).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let s = sock.to_str().unwrap();
    let m = mem.to_str().unwrap();
    let (code, err) = run(&[
        "serve",
        "--socket",
        s,
        "--guest-mem",
        m,
        "--shm-size",
        "5000",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("power of two"), "{err}");
    let (code, err) = run(&["serve", "--socket", s, "--guest-mem", m, "--vectors", "0"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--vectors"), "{err}");
    let (code, err) = run(&[
        "serve",
        "--socket",
        s,
        "--guest-mem",
        m,
        "--log-level",
        "loud",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("log level"), "{err}");
    let (code, err) = run(&["serve", "--socket", s, "--guest-mem", m, "--profile", "xen"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("profile"), "{err}");
    std::fs::write(&sock, b"not a socket").unwrap();
    let (code, err) = run(&["serve", "--socket", s, "--guest-mem", m]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not a socket"), "{err}");
    let (code, err) = run(&["ctl", "--control", m, "status"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot talk to"), "{err}");
    let o = Proc::new(bin()).arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("serve") && help.contains("ctl"), "{help}");
    let o = Proc::new(bin()).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for opt in [
        "--socket",
        "--guest-mem",
        "--vectors",
        "--mailboxes",
        "--shm-size",
        "--control",
        "--trace",
        "--profile",
        "--log-level",
        "--once",
    ] {
        assert!(help.contains(opt), "{opt} missing from {help}");
    }
}

#[test]
fn missing_guest_memory_refuses_guest_but_keeps_serving() {
    let h = HostProc::start(&[]);
    std::fs::remove_file(&h.guest_mem).unwrap();
    let s = UnixStream::connect(&h.socket).unwrap();
    s.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    assert!(sys::recv_i64(std::os::fd::AsFd::as_fd(&s))
        .unwrap()
        .is_none());
    h.wait_for_line("cannot map guest memory");
    std::fs::File::create(&h.guest_mem)
        .unwrap()
        .set_len(common::RAM)
        .unwrap();
    let mut q = FakeQemu::connect(&h, 4);
    ping_ok(&mut q);
}
