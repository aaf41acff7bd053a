// SPDX-License-Identifier: GPL-2.0

//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::host::Config;
use crate::ivshmem_server::LinkConfig;
use crate::log::Level;
use crate::server::Profile;
use crate::signals::StopHandle;
use crate::vmbus::offers::DeviceSpec;

/// A userspace Hyper-V/VMBus host for Linux guests under QEMU, over an
/// ivshmem-doorbell device and shared guest RAM.
#[derive(Parser, Debug)]
#[command(name = "vmbus-host", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Serve a QEMU guest: act as the ivshmem server and the Hyper-V host.
    ///
    /// QEMU connects with
    /// `-chardev socket,path=SOCKET,id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=N`
    /// and must use `-object memory-backend-file,...,mem-path=GUEST_MEM,share=on`.
    Serve(ServeArgs),
    /// Send one command to a running host's control socket and print the
    /// reply (exit status 0 on "ok", 1 on "error: ...").
    Ctl(CtlArgs),
}

/// Arguments of `serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The ivshmem server socket QEMU connects to (a stale one is replaced).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// QEMU's guest RAM file (memory-backend-file mem-path, share=on).
    #[arg(long, value_name = "FILE")]
    pub guest_mem: PathBuf,
    /// MSI-X vectors; must equal the device's `vectors=`.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub vectors: u32,
    /// Mailboxes in the shared memory.
    #[arg(long, value_name = "M", default_value_t = 8)]
    pub mailboxes: u32,
    /// Size of the shared memory (BAR2), a power of two.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    pub shm_size: u32,
    /// A control socket for `vmbus-host ctl`.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Write every message, request and interrupt to FILE, one line each.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The host to imitate: azure, qemu or old.
    #[arg(long, value_name = "PROFILE", default_value = "azure")]
    pub profile: Profile,
    /// A device to offer, `TYPE[:N]` (heartbeat, shutdown, timesync, echo;
    /// N of them). Repeatable; default: one of each.
    #[arg(long = "device", value_name = "TYPE[:N]")]
    pub devices: Vec<DeviceSpec>,
    /// Heartbeat IC period in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// Time sync IC sample period in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timesync_ms: u64,
    /// A hostile mode to start with (repeatable; see `hostile list`).
    #[arg(long = "hostile", value_name = "MODE")]
    pub hostile: Vec<crate::vmbus::hostile::Mode>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: Level,
    /// Exit (status 0) when the first guest disconnects.
    #[arg(long)]
    pub once: bool,
    /// After each UNLOAD, offer every device with a relid it did not have
    /// (the guest must match re-offers by instance GUID).
    #[arg(long)]
    pub renumber_after_unload: bool,
}

/// Arguments of `ctl`.
#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// The host's control socket.
    #[arg(long, value_name = "PATH")]
    pub control: PathBuf,
    /// Seconds to wait for the reply.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    /// The command and its arguments (try `help`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl ServeArgs {
    /// The host configuration these arguments describe.
    pub fn config(&self) -> Config {
        let mut c = Config::new(&self.socket, &self.guest_mem);
        c.link = LinkConfig {
            vectors: self.vectors,
            mailboxes: self.mailboxes,
            shm_size: self.shm_size,
        };
        c.control = self.control.clone();
        c.trace = self.trace.clone();
        c.profile = self.profile;
        c.once = self.once;
        if !self.devices.is_empty() {
            c.devices = self.devices.clone();
        }
        c.options.devices.heartbeat = Duration::from_millis(self.heartbeat_ms.max(1));
        c.options.devices.timesync = Duration::from_millis(self.timesync_ms.max(1));
        c.options.hostile = self.hostile.clone();
        c.options.renumber_after_unload = self.renumber_after_unload;
        c
    }
}

/// Runs the program; returns the exit status.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        Cmd::Serve(a) => {
            crate::log::set_level(a.log_level);
            let stop = match StopHandle::new() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("vmbus-host: error: {e}");
                    return 1;
                }
            };
            if let Err(e) = crate::signals::install(&stop) {
                eprintln!("vmbus-host: error: installing signal handlers: {e}");
                return 1;
            }
            match crate::host::serve(a.config(), stop) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("vmbus-host: error: {e}");
                    1
                }
            }
        }
        Cmd::Ctl(a) => {
            let line = a.command.join(" ");
            match crate::control::request(&a.control, &line, Duration::from_secs(a.timeout)) {
                Ok((body, result)) => {
                    for l in body {
                        println!("{l}");
                    }
                    match result {
                        Ok(()) => 0,
                        Err(why) => {
                            eprintln!("error: {why}");
                            1
                        }
                    }
                }
                Err(e) => {
                    eprintln!(
                        "vmbus-host ctl: cannot talk to {}: {e}",
                        a.control.display()
                    );
                    2
                }
            }
        }
    }
}
