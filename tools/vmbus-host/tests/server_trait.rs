// SPDX-License-Identifier: GPL-2.0

//! The host as a library with a custom `VmbusServer` plugged in, as the
//! phase-2 VMBus server will be: messages the guest posts reach the server,
//! the server answers through `GuestCtx`, and event signals are routed.

mod common;

use std::sync::mpsc;

use common::{FakeQemu, TIMEOUT};
use vmbus_host::host::{Config, Host};
use vmbus_host::server::{GuestCtx, GuestMessage, ResetReason, VmbusServer};
use vmbus_host::signals::StopHandle;
use vmbus_proto::ivshmem::{Command, HvStatus};

/// Echoes each message back on SINT 2 of the posting vCPU with type + 1.
struct Echo {
    seen: mpsc::Sender<String>,
}

impl VmbusServer for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn accepts_message_connection(&self, id: u32) -> bool {
        id == 4
    }
    fn handle_message(&mut self, guest: &mut GuestCtx<'_>, msg: &GuestMessage) {
        let _ = self
            .seen
            .send(format!("msg {} {:?}", msg.message_type, msg.payload));
        guest
            .post_to_guest(msg.vcpu, 2, msg.message_type + 1, &msg.payload)
            .unwrap();
    }
    fn signal_event(
        &mut self,
        guest: &mut GuestCtx<'_>,
        vcpu: u32,
        connection_id: u32,
        flag: u16,
    ) -> Result<(), HvStatus> {
        if connection_id != 7 {
            return Err(HvStatus::INVALID_PORT_ID);
        }
        // Answer on the event flag with the same number.
        guest.signal_guest(vcpu, 2, u32::from(flag)).unwrap();
        Ok(())
    }
    fn reset(&mut self, reason: ResetReason) {
        let _ = self.seen.send(format!("reset {reason:?}"));
    }
}

#[test]
fn custom_server_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let mem = dir.path().join("m");
    std::fs::File::create(&mem)
        .unwrap()
        .set_len(common::RAM)
        .unwrap();
    let stop = StopHandle::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    {
        let cfg = Config::new(&sock, &mem);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let host = Host::new(cfg, Box::new(Echo { seen: tx }), stop);
            let mut host = match host {
                Ok(h) => h,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let _ = done_tx.send(host.run().map_err(|e| e.to_string()));
        });
    }
    ready_rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    let mut q = FakeQemu::connect_paths(&sock, &mem, 4);
    assert_eq!(
        q.call(Command::HELLO, 0, [1 << 16, 1, 0, 0], &[]).0,
        HvStatus::SUCCESS
    );
    assert_eq!(
        q.call(Command::SYNIC_SETUP, 0, [0x20001, 0x21001, 2, 3], &[])
            .0,
        HvStatus::SUCCESS
    );
    let mut input = Vec::new();
    for w in [4u32, 0, 20, 2] {
        input.extend_from_slice(&w.to_le_bytes());
    }
    input.extend_from_slice(&[0xab, 0xcd]);
    assert_eq!(
        q.call(Command::POST_MESSAGE, 0, [0; 4], &input).0,
        HvStatus::SUCCESS
    );
    assert_eq!(q.wait_irq(3), 1);
    let slot = 0x20000 + 2 * 256;
    assert_eq!(q.ram.read_u32(slot).unwrap(), 21);
    let mut p = [0u8; 2];
    q.ram.read(slot + 16, &mut p).unwrap();
    assert_eq!(p, [0xab, 0xcd]);

    assert_eq!(
        q.call(Command::SIGNAL_EVENT, 0, [7, 9, 0, 0], &[]).0,
        HvStatus::SUCCESS
    );
    assert_eq!(q.wait_irq(3), 1);
    let mut b = [0u8];
    q.ram.read(0x21000 + 2 * 256 + 1, &mut b).unwrap();
    assert_eq!(b[0], 1 << 1);
    assert_eq!(
        q.call(Command::SIGNAL_EVENT, 0, [8, 9, 0, 0], &[]).0,
        HvStatus::INVALID_PORT_ID
    );

    stop.trigger();
    done_rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    assert!(!sock.exists());
    let seen: Vec<String> = rx.try_iter().collect();
    assert!(seen.contains(&"reset Hello".to_string()), "{seen:?}");
    assert!(seen.contains(&"msg 20 [171, 205]".to_string()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("reset Disconnect"));
}
