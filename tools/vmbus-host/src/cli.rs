// SPDX-License-Identifier: GPL-2.0

//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// A device to offer, `TYPE[:N]` (heartbeat, shutdown, timesync, echo, net,
    /// kvp, vss, fcopy; N of them). Repeatable; default: one each of
    /// heartbeat, shutdown, timesync and echo.
    #[arg(long = "device", value_name = "TYPE[:N]")]
    pub devices: Vec<DeviceSpec>,
    /// A disk, `PATH[,ro][,lun=N][,controller=N]`, on a synthetic SCSI
    /// controller (one VMBus channel per controller number, default 0;
    /// the lowest free LUN unless given). The file's size is the disk's;
    /// `ro` makes it read-only. Repeatable.
    #[arg(long = "disk", value_name = "PATH[,ro][,lun=N][,controller=N]")]
    pub disks: Vec<crate::devices::storage::disk::DiskSpec>,
    /// A network adapter bridged to the TAP device NAME (opened, or
    /// created, when the guest opens the channel), with the MAC address
    /// MAC (default 00:15:5d:72:76:01) and up to N channels for vRSS
    /// (default 4). Adds a `net` device unless --device names one.
    #[arg(long, value_name = "tap=NAME[,mac=MAC][,queues=N]")]
    pub nic: Option<crate::devices::net::NicConfig>,
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
    /// Offer every channel without a monitor id, whatever the profile:
    /// the guest signals with HvSignalEvent only, never through the
    /// monitor page (which the host polls each millisecond).
    #[arg(long)]
    pub no_monitor: bool,
    /// Accept the guest's hv_sock (AF_VSOCK) connections to vsock port
    /// PORT and echo every byte back; the host's FIN follows the guest's,
    /// then the host rescinds the connection's channel. Repeatable.
    #[arg(long = "hvsock-echo", value_name = "PORT")]
    pub hvsock_echo: Vec<u32>,
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

/// The command line, with the lists that `--help` of each subcommand shows
/// made from the host's own tables (profiles, devices, hostile modes,
/// control commands), so that they name everything the host has.
pub fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("serve", |c| c.after_long_help(serve_help()))
        .mut_subcommand("ctl", |c| c.after_long_help(ctl_help()))
}

/// Parses the process's arguments; on `--help` or an error, prints and
/// exits as clap does.
pub fn parse() -> Cli {
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// What `serve --help` lists after the options.
pub fn serve_help() -> String {
    use crate::vmbus::{hostile::Mode, offers::DeviceKind};
    let mut h = String::from("Profiles (--profile):\n");
    for p in Profile::ALL {
        h += &format!("  {:<8} {}\n", p.to_string(), p.describe());
    }
    h += "\nDevices (--device TYPE[:N][:nomonitor][:dedicated]; N of them, up to \
          the host's maximum; nomonitor: signalled by event, not the monitor page; \
          dedicated: with a dedicated interrupt):\n";
    for k in DeviceKind::ALL {
        h += &format!(
            "  {:<10} class {}\n             {}\n",
            k.name(),
            k.class(),
            k.describe()
        );
    }
    h += "\nNetwork (--nic tap=NAME[,mac=MAC][,queues=N]): the net device's frames go \
          to and come from the TAP device NAME, which the caller creates and addresses \
          (a test harness does so in a network namespace of its own); \
          `ctl nic-link RELID up|down` changes the link, `ctl nic-hold RELID MS` completes \
          the guest's sends MS ms late, `rescind`/`reoffer RELID` \
          remove and re-add the adapter.\n";
    h += "\nHyper-V sockets (--hvsock-echo PORT): the guest's AF_VSOCK connects to \
          PORT are offered a channel (TLNPI provider, named pipe, user_def[0] = 0) \
          and echoed; other ports are refused (TL_CONNECT_RESULT). \
          `ctl hvsock-connect PORT BYTES` connects to the guest's listener on PORT \
          (user_def[0] = 1), sends BYTES bytes (byte i = (i*7+3) % 251) and its FIN, \
          and checks that the guest echoes them back before its FIN \
          (stats vmbus.hvsock_host_ok / hvsock_host_bad).\n";
    h += "\nTrace (--trace FILE): one line per message, mailbox request, doorbell or \
          interrupt, flushed per line:\n  \
          <seconds>.<micros> <g2h|h2g> <channel|-> <type> <hex bytes>\n";
    h += "\nHostile modes (--hostile MODE, repeatable; at run time \
          `vmbus-host ctl --control PATH hostile MODE on|off`):\n";
    for m in Mode::ALL {
        let scope = if m.is_per_channel() {
            " [per channel]"
        } else {
            ""
        };
        h += &format!("  {:<24} {}{}\n", m.name(), m.describe(), scope);
    }
    h
}

/// What `ctl --help` lists after the options: the control commands.
pub fn ctl_help() -> String {
    let mut h = String::from("Commands (the reply's first line is `ok` or `error: ...`):\n");
    for c in crate::commands::all_commands() {
        let call = format!("{} {}", c.name, c.usage);
        h += &format!("  {:<36} {}\n", call.trim_end(), c.help);
    }
    h
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
        if let Some(nic) = self.nic {
            c.options.devices.nic = nic;
            let net = crate::vmbus::offers::DeviceKind::Net;
            if !c.devices.iter().any(|d| d.kind == net) {
                c.devices.push(crate::vmbus::offers::DeviceSpec {
                    kind: net,
                    count: 1,
                    signalling: Default::default(),
                });
            }
        }
        c.options.hostile = self.hostile.clone();
        c.options.renumber_after_unload = self.renumber_after_unload;
        c.options.no_monitor = self.no_monitor;
        c.options.hvsock_echo = self.hvsock_echo.clone();
        c.options.disks = self.disks.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmbus::{hostile::Mode, offers::DeviceKind};

    fn long_help(sub: &str) -> String {
        let mut c = command();
        let sc = c.find_subcommand_mut(sub).expect("subcommand exists");
        sc.render_long_help().to_string()
    }

    /// `serve --help` names every profile, device, hostile mode and the
    /// trace format, so that a person need not read the source.
    #[test]
    fn serve_help_lists_everything() {
        let h = long_help("serve");
        for p in Profile::ALL {
            assert!(h.contains(&format!("  {p} ")), "profile {p} missing");
        }
        assert!(h.contains("5.3") && h.contains("connection id 4"));
        for k in DeviceKind::ALL {
            assert!(h.contains(k.name()), "device {} missing", k.name());
            assert!(h.contains(&k.class().to_string()));
        }
        for m in Mode::ALL {
            assert!(h.contains(m.name()), "hostile mode {m} missing");
            assert!(h.contains(m.describe()));
        }
        assert!(h.contains("<g2h|h2g> <channel|-> <type> <hex bytes>"));
    }

    /// `--nic` adds a network adapter with its settings, once.
    #[test]
    fn nic_option() {
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut v = vec!["vmbus-host", "serve", "--socket", "s", "--guest-mem", "m"];
            v.extend_from_slice(extra);
            let Cmd::Serve(a) = Cli::try_parse_from(v).unwrap().command else {
                panic!()
            };
            a.config()
        };
        let c = parse(&["--nic", "tap=rv0,queues=2"]);
        assert_eq!(c.options.devices.nic.tap_name(), Some("rv0"));
        assert_eq!(c.options.devices.nic.queues, 2);
        assert_eq!(
            c.devices
                .iter()
                .filter(|d| d.kind == DeviceKind::Net)
                .count(),
            1
        );
        assert!(c.devices.iter().any(|d| d.kind == DeviceKind::Echo));
        let c = parse(&["--nic", "tap=rv0", "--device", "net:2"]);
        assert_eq!(c.devices.len(), 1);
        assert_eq!(c.devices[0].count, 2);
        assert!(parse(&[]).devices.iter().all(|d| d.kind != DeviceKind::Net));
        let v = [
            "vmbus-host",
            "serve",
            "--socket",
            "s",
            "--guest-mem",
            "m",
            "--nic",
            "tap=a/b",
        ];
        assert!(Cli::try_parse_from(v).is_err());
    }

    /// `ctl --help` names every control command.
    #[test]
    fn ctl_help_lists_every_command() {
        let h = long_help("ctl");
        for c in crate::commands::all_commands() {
            assert!(
                h.contains(&format!("  {} ", c.name)),
                "command {} missing",
                c.name
            );
        }
    }
}
