// SPDX-License-Identifier: GPL-2.0

//! Test helpers: the host binary as a child process, and a fake QEMU that
//! speaks the ivshmem client side and plays the guest through the mailbox.

#![allow(dead_code)]

pub mod guest;

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, ExitStatus, Stdio};
use std::sync::atomic::{fence, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vmbus_host::guest_mem::MemRegion;
use vmbus_host::sys;
use vmbus_proto::ivshmem::{self, mailbox, Command, Header, HvStatus, Request};

/// Generous: the tests run on loaded machines.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// Guest RAM size used by the tests.
pub const RAM: u64 = 4 << 20;

/// Guest physical address of the fake guest's SynIC message page.
pub const SIMP: u64 = 0x10000;
/// Guest physical address of the fake guest's SynIC event flags page.
pub const SIEFP: u64 = 0x11000;
/// The SINT the fake guest routes (VMBus's message SINT).
pub const SINT: u64 = 2;
/// The MSI-X vector the fake guest routes that SINT to.
pub const VECTOR: usize = 1;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vmbus-host")
}

/// A running `vmbus-host serve`.
pub struct HostProc {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub control: PathBuf,
    pub guest_mem: PathBuf,
    pub trace: PathBuf,
    pub stderr: mpsc::Receiver<String>,
}

impl HostProc {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(extra, |_, _| {})
    }

    /// Starts the host after `prepare` ran on the paths of the socket and
    /// the control socket.
    pub fn start_with(extra: &[&str], prepare: impl FnOnce(&Path, &Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("ivshmem.sock");
        let control = dir.path().join("control.sock");
        prepare(&socket, &control);
        let guest_mem = dir.path().join("guest-ram");
        let trace = dir.path().join("trace.txt");
        std::fs::File::create(&guest_mem)
            .unwrap()
            .set_len(RAM)
            .unwrap();
        let mut child = Proc::new(bin())
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .arg("--guest-mem")
            .arg(&guest_mem)
            .arg("--control")
            .arg(&control)
            .arg("--trace")
            .arg(&trace)
            .args(["--log-level", "debug"])
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                eprintln!("[host] {l}");
                if tx.send(l).is_err() {
                    // Keep draining so the host never blocks on stderr.
                    continue;
                }
            }
        });
        let h = Self {
            child,
            dir,
            socket,
            control,
            guest_mem,
            trace,
            stderr: rx,
        };
        h.wait_for_line("vmbus-host: listening on");
        h
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(e) => panic!("no stderr line with {needle:?}: {e}"),
            }
        }
    }

    /// Runs `vmbus-host ctl` and returns (exit code, stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Proc::new(bin())
            .arg("ctl")
            .arg("--control")
            .arg(&self.control)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `ctl` that must succeed; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.ctl(args);
        assert_eq!(code, 0, "ctl {args:?} failed: {out} {err}");
        out
    }

    /// The counter `key` of the `stats` control command.
    #[allow(dead_code)] // Not every test binary reads counters.
    pub fn stat(&self, key: &str) -> u64 {
        let s = self.ctl_ok(&["stats"]);
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {s}"))
            .parse()
            .unwrap()
    }

    /// Waits (bounded) until the counter `key` is at least `want`.
    #[allow(dead_code)] // Not every test binary waits for counters.
    pub fn wait_stat(&self, key: &str, want: u64) {
        let deadline = Instant::now() + TIMEOUT;
        while self.stat(key) < want {
            assert!(Instant::now() < deadline, "{key} never became {want}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0);
    }

    /// Waits (bounded) for the host to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }
}

impl Drop for HostProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The QEMU side of the ivshmem protocol plus a guest driving mailboxes.
pub struct FakeQemu {
    pub stream: UnixStream,
    pub peer_id: i64,
    pub shm: MemRegion,
    pub shm_size: u64,
    pub header: Header,
    /// Eventfds of the host's vectors (we ring them).
    pub host_fds: Vec<OwnedFd>,
    /// Our own vectors' eventfds (the host raises them).
    pub my_fds: Vec<OwnedFd>,
    pub ram: MemRegion,
    seqs: Vec<u32>,
}

fn recv(s: &UnixStream) -> (i64, Option<OwnedFd>) {
    sys::recv_i64(s.as_fd())
        .expect("recv")
        .expect("host closed the connection during the handshake")
}

impl FakeQemu {
    /// Connects, says HELLO and sets up vCPU 0's SynIC pages with SINT
    /// [`SINT`] on vector [`VECTOR`], as a guest driver does first.
    #[allow(dead_code)] // Not every test binary uses it.
    pub fn with_synic(host: &HostProc) -> Self {
        let mut q = Self::connect(host, 4);
        assert_eq!(
            q.call(Command::HELLO, 0, [1 << 16, 1, 0, 0], &[]).0,
            HvStatus::SUCCESS
        );
        let (st, _) = q.call(
            Command::SYNIC_SETUP,
            0,
            [SIMP | 1, SIEFP | 1, SINT, VECTOR as u64],
            &[],
        );
        assert_eq!(st, HvStatus::SUCCESS);
        q
    }

    pub fn connect(host: &HostProc, vectors: usize) -> Self {
        Self::connect_paths(&host.socket, &host.guest_mem, vectors)
    }

    /// Connects to `socket`; `guest_mem` is the guest RAM file.
    pub fn connect_paths(socket: &Path, guest_mem: &Path, vectors: usize) -> Self {
        let stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let (v, fd) = recv(&stream);
        assert_eq!(v, 0, "protocol version");
        assert!(fd.is_none());
        let (peer_id, fd) = recv(&stream);
        assert!(fd.is_none());
        let (m, shm_fd) = recv(&stream);
        assert_eq!(m, -1);
        let shm_fd = shm_fd.expect("shm fd");
        let mut host_fds = Vec::new();
        let mut my_fds = Vec::new();
        for _ in 0..vectors {
            let (id, fd) = recv(&stream);
            assert_eq!(id, 0, "host peer id");
            host_fds.push(fd.expect("host eventfd"));
        }
        for _ in 0..vectors {
            let (id, fd) = recv(&stream);
            assert_eq!(id, peer_id, "own peer id");
            my_fds.push(fd.expect("own eventfd"));
        }
        let shm_size = sys::fd_size(shm_fd.as_fd()).unwrap();
        let shm = MemRegion::map_fd(shm_fd.as_fd(), shm_size).unwrap();
        let mut hb = vec![0u8; ivshmem::HEADER_SIZE];
        shm.read(0, &mut hb).unwrap();
        let header = Header::decode(&hb, shm_size).expect("valid header");
        let ram = MemRegion::map_file(guest_mem).unwrap();
        let seqs = vec![0; header.num_mailboxes as usize];
        Self {
            stream,
            peer_id,
            shm,
            shm_size,
            header,
            host_fds,
            my_fds,
            ram,
            seqs,
        }
    }

    pub fn host_state(&self) -> u32 {
        self.shm
            .read_u32(ivshmem::header::HOST_STATE as u64)
            .unwrap()
    }

    /// Writes a request into mailbox `mb` and rings the doorbell.
    pub fn submit(&mut self, mb: u32, cmd: Command, vcpu: u32, args: [u64; 4], data: &[u8]) -> u32 {
        self.seqs[mb as usize] = self.seqs[mb as usize].wrapping_add(1).max(1);
        let seq = self.seqs[mb as usize];
        let mut d = [0u8; ivshmem::MAILBOX_DATA_SIZE];
        d[..data.len()].copy_from_slice(data);
        let req = Request {
            seq,
            cmd,
            vcpu,
            args,
            data: d,
        };
        let mut b = vec![0u8; mailbox::USED];
        req.encode(&mut b).unwrap();
        let base = ivshmem::mailbox_offset(mb).unwrap() as u64;
        self.shm.write(base + 4, &b[4..]).unwrap();
        fence(Ordering::Release);
        self.shm.write_u32(base, seq).unwrap();
        fence(Ordering::SeqCst);
        sys::eventfd_signal(self.host_fds[0].as_fd()).unwrap();
        seq
    }

    /// Waits for the response to `seq` in mailbox `mb`.
    pub fn wait_response(&self, mb: u32, seq: u32) -> (HvStatus, u64) {
        let base = ivshmem::mailbox_offset(mb).unwrap() as u64;
        let deadline = Instant::now() + TIMEOUT;
        while self.shm.read_u32(base + mailbox::RESP_SEQ as u64).unwrap() != seq {
            assert!(Instant::now() < deadline, "no response in mailbox {mb}");
            std::thread::sleep(Duration::from_millis(1));
        }
        fence(Ordering::Acquire);
        let st = self.shm.read_u32(base + mailbox::STATUS as u64).unwrap();
        let res = self.shm.read_u64(base + mailbox::RESULT as u64).unwrap();
        (HvStatus(st), res)
    }

    /// Submits and waits.
    pub fn call(
        &mut self,
        cmd: Command,
        vcpu: u32,
        args: [u64; 4],
        data: &[u8],
    ) -> (HvStatus, u64) {
        let seq = self.submit(0, cmd, vcpu, args, data);
        self.wait_response(0, seq)
    }

    /// Waits for our vector `v` to be raised; returns its count.
    pub fn wait_irq(&self, v: usize) -> u64 {
        let mut p = [sys::pollfd(self.my_fds[v].as_raw_fd(), libc::POLLIN)];
        let n = sys::poll(&mut p, TIMEOUT.as_millis() as i32).unwrap();
        assert_eq!(n, 1, "interrupt on vector {v} never came");
        sys::eventfd_drain(self.my_fds[v].as_fd()).unwrap()
    }

    /// Whether vector `v` was raised (without waiting); clears it.
    pub fn take_irq(&self, v: usize) -> u64 {
        sys::eventfd_drain(self.my_fds[v].as_fd()).unwrap()
    }
}

/// Waits (bounded) for `child` to exit.
pub fn wait_child(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
