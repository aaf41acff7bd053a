// SPDX-License-Identifier: GPL-2.0

//! The host's event loop: the ivshmem socket, the guest session (shared
//! memory, guest RAM, doorbells, interrupts), the mailboxes, the control
//! socket and shutdown. Single-threaded; every wait is a `poll` with a
//! timeout.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vmbus_proto::ivshmem::{mailbox as layout, Command, HvStatus};

use crate::control::ControlServer;
use crate::guest_mem::MemRegion;
use crate::hypercalls::{command_name, status_name, HcallEnv, HcallError, Hypervisor};
use crate::interrupts::{raise_traced, HeldIrqs, InterruptSink};
use crate::ivshmem_server::{ClientLink, LinkConfig};
use crate::mailbox;
use crate::msg_queue;
use crate::server::{GuestCtx, Profile, ResetReason, VmbusServer};
use crate::signal_ring::{Signal, SignalRing};
use crate::signals::StopHandle;
use crate::sys;
use crate::trace::{Dir, Trace};
use crate::unix_socket::{BindError, Listener};
use crate::vmbus::offers::DeviceSpec;
use crate::{log_debug, log_error, log_info, log_limited};

/// How often mailboxes are scanned and deliveries retried without a
/// doorbell.
pub const TICK: Duration = Duration::from_millis(100);

/// Everything `serve` is told.
#[derive(Clone, Debug)]
pub struct Config {
    /// The ivshmem server socket.
    pub socket: PathBuf,
    /// QEMU's guest RAM file.
    pub guest_mem: PathBuf,
    /// Shape of the shared memory.
    pub link: LinkConfig,
    /// The control socket, if any.
    pub control: Option<PathBuf>,
    /// The trace file, if any.
    pub trace: Option<PathBuf>,
    /// The imitated host.
    pub profile: Profile,
    /// Exit after the first guest disconnects.
    pub once: bool,
    /// Capacity of the guest-posted message queue.
    pub queue_capacity: usize,
    /// The devices the VMBus server offers.
    pub devices: Vec<DeviceSpec>,
    /// Device settings and hostile modes.
    pub options: crate::vmbus::ServerOptions,
}

impl Config {
    /// A configuration with the CLI's defaults.
    pub fn new(socket: &Path, guest_mem: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            guest_mem: guest_mem.to_path_buf(),
            link: LinkConfig {
                vectors: 4,
                mailboxes: 8,
                shm_size: 65536,
            },
            control: None,
            trace: None,
            profile: Profile::Azure,
            once: false,
            queue_capacity: msg_queue::DEFAULT_CAPACITY,
            devices: crate::vmbus::offers::default_devices(),
            options: crate::vmbus::ServerOptions::default(),
        }
    }
}

/// Why the host could not start or had to stop.
#[derive(Debug)]
pub enum HostError {
    /// Bad configuration.
    Config(String),
    /// A socket could not be bound.
    Bind(BindError),
    /// The trace file could not be created.
    Trace(PathBuf, io::Error),
    /// The event loop failed.
    Io(&'static str, io::Error),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Config(s) => f.write_str(s),
            HostError::Bind(e) => write!(f, "{e}"),
            HostError::Trace(p, e) => write!(f, "trace file {}: {e}", p.display()),
            HostError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for HostError {}

/// One connected guest.
pub struct Session {
    /// The QEMU connection and shared memory.
    pub link: ClientLink,
    /// Guest RAM.
    pub guest: MemRegion,
    /// Hypervisor-side state.
    pub hv: Hypervisor,
    /// Doorbells rung, per vector.
    pub doorbells: Vec<u64>,
    /// The host's end of the signal ring.
    pub signals: SignalRing,
    /// When the guest connected.
    pub since: Instant,
}

impl Session {
    /// The SynIC/server view of this guest.
    pub fn guest_ctx<'a>(&'a mut self, trace: &'a Trace) -> GuestCtx<'a> {
        GuestCtx {
            mem: &self.guest,
            synic: &mut self.hv.synic,
            irq: self.link.irqs(),
            trace,
        }
    }
}

/// Counters that outlive sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostStats {
    /// Guests that connected.
    pub connections: u64,
    /// Connections refused (a guest was already connected, or set-up
    /// failed).
    pub refused: u64,
}

/// The host.
pub struct Host {
    /// Configuration.
    pub cfg: Config,
    /// `None` once shut down (dropping it removes the socket file).
    listener: Option<Listener>,
    control: Option<ControlServer>,
    /// The trace.
    pub trace: Trace,
    /// The VMBus server.
    pub server: Box<dyn VmbusServer>,
    /// The connected guest.
    pub session: Option<Session>,
    stop: StopHandle,
    /// Set to leave the loop (control `quit`).
    pub quit: bool,
    /// Counters.
    pub stats: HostStats,
    /// The current profile.
    pub profile: Profile,
}

impl Host {
    /// Validates `cfg`, binds the sockets and opens the trace.
    pub fn new(
        cfg: Config,
        server: Box<dyn VmbusServer>,
        stop: StopHandle,
    ) -> Result<Self, HostError> {
        cfg.link.validate().map_err(HostError::Config)?;
        if cfg.queue_capacity == 0 {
            return Err(HostError::Config("queue capacity must be > 0".into()));
        }
        if !cfg.guest_mem.exists() {
            crate::log_warn!(
                "guest memory file {} does not exist yet; it must by the time QEMU connects",
                cfg.guest_mem.display()
            );
        }
        let trace = match &cfg.trace {
            Some(p) => Trace::to_file(p).map_err(|e| HostError::Trace(p.clone(), e))?,
            None => Trace::disabled(),
        };
        let listener = Listener::bind(&cfg.socket).map_err(HostError::Bind)?;
        let control = match &cfg.control {
            Some(p) => Some(ControlServer::bind(p).map_err(HostError::Bind)?),
            None => None,
        };
        let profile = cfg.profile;
        Ok(Self {
            cfg,
            listener: Some(listener),
            control,
            trace,
            server,
            session: None,
            stop,
            quit: false,
            stats: HostStats::default(),
            profile,
        })
    }

    /// Runs until stopped (signal, `quit`), or with `once` until the first
    /// guest disconnects. Cleans up on the way out.
    pub fn run(&mut self) -> Result<(), HostError> {
        eprintln!("vmbus-host: listening on {}", self.cfg.socket.display());
        log_info!(
            "{} vectors, {} mailboxes, {} bytes of shared memory, profile {}, server {}",
            self.cfg.link.vectors,
            self.cfg.link.mailboxes,
            self.cfg.link.shm_size,
            self.profile,
            self.server.name()
        );
        if let Some(c) = &self.control {
            log_info!("control socket {}", c.path().display());
        }
        let r = self.event_loop();
        self.shutdown();
        r
    }

    fn event_loop(&mut self) -> Result<(), HostError> {
        let mut next_tick = Instant::now() + TICK;
        let Some(listen_fd) = self.listener.as_ref().map(|l| l.socket().as_raw_fd()) else {
            return Err(HostError::Config("the host has been shut down".into()));
        };
        loop {
            let mut fds = vec![
                sys::pollfd(self.stop.fd().as_raw_fd(), libc::POLLIN),
                sys::pollfd(listen_fd, libc::POLLIN),
            ];
            if let Some(c) = &self.control {
                c.pollfds(&mut fds);
            }
            // The devices' own sources (a TAP device): their readiness
            // runs the periodic work at once.
            let mut wake = Vec::new();
            if self.session.is_some() {
                self.server.wake_fds(&mut wake);
            }
            let wake_at = fds.len();
            fds.extend(wake.iter().map(|&fd| sys::pollfd(fd, libc::POLLIN)));
            let sess_at = fds.len();
            if let Some(s) = &self.session {
                fds.push(sys::pollfd(s.link.stream().as_raw_fd(), libc::POLLIN));
                for d in s.link.doorbells() {
                    fds.push(sys::pollfd(d.as_raw_fd(), libc::POLLIN));
                }
            }
            // Rounded up: truncated, the last part of every 1 ms monitor
            // tick was a poll with timeout 0, a busy loop that took most of
            // a CPU from the guest whenever a monitored channel was open.
            let wait = next_tick.saturating_duration_since(Instant::now());
            let wait_ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
            crate::prof::idle();
            sys::poll(&mut fds, wait_ms).map_err(|e| HostError::Io("poll", e))?;

            if fds[0].revents != 0 {
                log_info!("stop requested, shutting down");
                return Ok(());
            }
            if fds[1].revents != 0 {
                self.accept_guests();
            }
            let mut scan = false;
            if self.session.is_some() && fds.len() > sess_at {
                let gone = fds[sess_at].revents != 0
                    && !self
                        .session
                        .as_ref()
                        .is_some_and(|s| s.link.still_connected());
                if gone {
                    self.disconnect("the guest closed the connection");
                    if self.cfg.once {
                        log_info!("--once: exiting after the guest left");
                        return Ok(());
                    }
                } else {
                    scan = self.read_doorbells(&fds[sess_at + 1..]);
                    if scan {
                        crate::prof::woken();
                    }
                }
            }
            let periodic = Instant::now() >= next_tick;
            if periodic {
                let tick = self.server.poll_interval().map_or(TICK, |d| d.min(TICK));
                next_tick = Instant::now() + tick;
            }
            if scan || periodic {
                self.service_mailboxes();
            }
            let woken = fds[wake_at..sess_at].iter().any(|f| f.revents != 0);
            if periodic || woken {
                self.periodic();
            }
            self.service_control();
            if self.quit {
                log_info!("quit requested, shutting down");
                return Ok(());
            }
        }
    }

    fn accept_guests(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let stream = match listener.accept() {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    log_limited!(crate::log::Level::Error, "accept failed: {e}");
                    return;
                }
            };
            if self.session.is_some() {
                self.stats.refused += 1;
                log_limited!(
                    crate::log::Level::Warn,
                    "refusing a second ivshmem client: a guest is already connected"
                );
                continue;
            }
            let guest = match MemRegion::map_file(&self.cfg.guest_mem) {
                Ok(m) => m.watch_writes(),
                Err(e) => {
                    self.stats.refused += 1;
                    log_error!(
                        "refusing the guest: cannot map guest memory {}: {e}",
                        self.cfg.guest_mem.display()
                    );
                    continue;
                }
            };
            let link = match ClientLink::establish(stream, self.cfg.link, guest.len()) {
                Ok(l) => l,
                Err(e) => {
                    self.stats.refused += 1;
                    log_error!("ivshmem handshake failed: {e}");
                    continue;
                }
            };
            self.stats.connections += 1;
            log_info!(
                "guest connected: peer id {}, {} bytes of guest RAM",
                link.peer_id(),
                guest.len()
            );
            self.trace
                .event(Dir::G2h, None, "connect", &link.peer_id().to_le_bytes());
            let vectors = link.config().vectors as usize;
            let Some(signals) = SignalRing::new(link.config().mailboxes) else {
                self.stats.refused += 1;
                log_error!("refusing the guest: no room for the signal ring");
                continue;
            };
            self.server.reset(ResetReason::Disconnect);
            self.session = Some(Session {
                link,
                guest,
                hv: Hypervisor::new(self.cfg.queue_capacity),
                doorbells: vec![0; vectors],
                signals,
                since: Instant::now(),
            });
        }
    }

    fn disconnect(&mut self, why: &str) {
        if let Some(s) = self.session.take() {
            log_info!(
                "guest disconnected ({why}) after {:.1}s",
                s.since.elapsed().as_secs_f64()
            );
            self.trace.event(
                Dir::G2h,
                None,
                "disconnect",
                &s.link.peer_id().to_le_bytes(),
            );
            crate::gmem_watch::unseal_traced(s.guest.watch(), &self.trace, "disconnect");
            self.server.reset(ResetReason::Disconnect);
        }
    }

    /// Drains readable doorbell eventfds; true if vector 0 (mailbox) rang.
    fn read_doorbells(&mut self, fds: &[libc::pollfd]) -> bool {
        let Some(s) = &mut self.session else {
            return false;
        };
        let mut mailbox = false;
        for (v, p) in fds.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            let Some(fd) = s.link.doorbells().get(v) else {
                continue;
            };
            match sys::eventfd_drain(fd.as_fd()) {
                Ok(0) => {}
                Ok(n) => {
                    if let Some(c) = s.doorbells.get_mut(v) {
                        *c += n;
                    }
                    self.trace
                        .event(Dir::G2h, None, "doorbell", &(v as u16).to_le_bytes());
                    if v == usize::from(vmbus_proto::ivshmem::DOORBELL_VECTOR) {
                        mailbox = true;
                    } else {
                        log_debug!("guest rang vector {v}, which has no meaning yet");
                    }
                }
                Err(e) => log_limited!(crate::log::Level::Error, "doorbell read: {e}"),
            }
        }
        mailbox
    }

    /// Takes the guest's signals out of the signal ring, in order, and
    /// carries them out.
    fn drain_signals(s: &mut Session, trace: &Trace, server: &mut dyn VmbusServer) {
        let Session {
            link,
            guest,
            hv,
            signals,
            ..
        } = s;
        let env = HcallEnv {
            mem: guest,
            irq: link.irqs(),
            trace,
        };
        let drained = signals.drain(link.shm(), |sig| {
            let conn = match sig {
                Signal::Connection(c) => c,
                // The event connection: every open channel.
                Signal::All => crate::vmbus::VMBUS_EVENT_CONNECTION_ID,
            };
            if trace.enabled() {
                trace.event(Dir::G2h, None, "signal", &conn.to_le_bytes());
            }
            if let Err(e) = hv.signal(&env, server, 0, conn, 0) {
                log_limited!(crate::log::Level::Warn, "signal ring: {e}");
            }
        });
        if let Err(e) = drained {
            log_limited!(crate::log::Level::Error, "signal ring: {e}");
        }
    }

    /// Drains the signal ring, serves every mailbox that holds a new
    /// request, then hands queued messages to the server.
    pub fn service_mailboxes(&mut self) {
        let Host {
            session,
            trace,
            server,
            ..
        } = self;
        let Some(s) = session else {
            return;
        };
        // Signals first: the guest made them before any request it is
        // waiting for now.
        Self::drain_signals(s, trace, server.as_mut());
        let env = HcallEnv {
            mem: &s.guest,
            irq: s.link.irqs(),
            trace,
        };
        let shm = s.link.shm();
        for index in 0..s.link.config().mailboxes {
            let inc = match mailbox::take(shm, index) {
                Ok(Some(i)) => i,
                Ok(None) => continue,
                Err(e) => {
                    log_limited!(crate::log::Level::Error, "mailbox {index}: {e}");
                    continue;
                }
            };
            let started = Instant::now();
            let held = HeldIrqs::new(s.link.irqs());
            let (seq, cmd, vcpu, outcome) = match &inc.request {
                Ok(req) => (
                    req.seq,
                    req.cmd,
                    req.vcpu,
                    s.hv.handle(
                        &HcallEnv {
                            mem: env.mem,
                            irq: &held,
                            trace: env.trace,
                        },
                        server.as_mut(),
                        req,
                    ),
                ),
                Err(_) => (0, Command(0), 0, Err(HcallError::Malformed)),
            };
            let name = command_name(cmd);
            let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let total = s.hv.stats.busy_ns.entry(name).or_insert(0);
            *total = total.saturating_add(busy);
            if trace.enabled() {
                let len = if cmd == Command::POST_MESSAGE {
                    layout::USED
                } else {
                    layout::DATA
                };
                trace.event(Dir::G2h, None, &format!("mbox-{name}"), &inc.raw[..len]);
            }
            let (status, result, raise) = match &outcome {
                Ok(d) => (HvStatus::SUCCESS, d.result, d.raise_after),
                Err(e) => {
                    let st = e.status();
                    log_limited!(
                        crate::log::Level::Warn,
                        "mailbox {index}: {name} (cmd {}) from vCPU {vcpu}: {e} -> {}",
                        cmd.0,
                        status_name(st)
                    );
                    (st, 0, None)
                }
            };
            log_debug!(
                "mailbox {index}: seq {seq} {name} vCPU {vcpu} -> {} result {result:#x}",
                status_name(status)
            );
            s.hv.count_status(status);
            if cmd == Command::HELLO && status == HvStatus::SUCCESS {
                // A new guest driver: what the ring holds is not its.
                if let Err(e) = s.signals.resync(shm) {
                    log_limited!(crate::log::Level::Error, "signal ring: {e}");
                }
            }
            let answered = mailbox::respond(shm, index, seq, status, result);
            if let Err(e) = held.release() {
                log_limited!(crate::log::Level::Error, "interrupt: {e}");
            }
            if let Err(e) = answered {
                log_limited!(crate::log::Level::Error, "mailbox {index} response: {e}");
                continue;
            }
            if trace.enabled() {
                let mut r = Vec::with_capacity(12);
                r.extend_from_slice(&status.0.to_le_bytes());
                r.extend_from_slice(&result.to_le_bytes());
                trace.event(Dir::H2g, None, &format!("mbox-{name}-resp"), &r);
            }
            if let Some(v) = raise {
                if let Err(e) = raise_traced(env.irq, trace, v) {
                    log_limited!(crate::log::Level::Error, "interrupt {v}: {e}");
                }
            }
        }
        s.hv.drain_messages(&env, server.as_mut());
    }

    fn periodic(&mut self) {
        let Host {
            session,
            trace,
            server,
            ..
        } = self;
        let Some(s) = session else {
            return;
        };
        let mut g = s.guest_ctx(trace);
        server.poll(&mut g);
    }

    fn service_control(&mut self) {
        let Some(c) = &mut self.control else {
            return;
        };
        let lines = c.service();
        for cl in lines {
            let (body, result) = crate::commands::dispatch(self, &cl.line);
            if let Some(c) = &mut self.control {
                c.reply(cl.client, &body, &result);
            }
        }
    }

    /// Number of vectors of the current guest (0 without a guest).
    pub fn num_vectors(&self) -> u16 {
        self.session
            .as_ref()
            .map_or(0, |s| s.link.irqs().num_vectors())
    }

    fn shutdown(&mut self) {
        if let Some(s) = &self.session {
            s.link.mark_gone();
        }
        if let Some(c) = &mut self.control {
            c.flush();
        }
        self.disconnect("host shutting down");
        self.control = None;
        self.listener = None;
        log_info!("stopped");
    }
}

/// Runs `serve` with the VMBus server until stopped.
pub fn serve(cfg: Config, stop: StopHandle) -> Result<(), HostError> {
    let server = Box::new(
        crate::vmbus::VmbusHost::new(cfg.profile, &cfg.devices, cfg.options.clone())
            .map_err(HostError::Config)?,
    );
    let mut host = Host::new(cfg, server, stop)?;
    host.run()
}
