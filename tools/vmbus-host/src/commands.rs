// SPDX-License-Identifier: GPL-2.0

//! The control commands. Each is one entry in [`COMMANDS`]: a name, a
//! usage line, a one-line help and a function over the [`Host`]. Commands
//! not in the table go to the VMBus server's `control` hook, so phase 2 can
//! add `list`, `offer`, `rescind`, ... either here or in the server.

use crate::host::Host;
use crate::server::Profile;
use crate::synic::SynicEnv;

/// The result of a command: `Err` becomes the `error: <why>` line.
pub type CmdResult = Result<(), String>;

/// One control command.
pub struct CommandSpec {
    /// The first word of the line.
    pub name: &'static str,
    /// Arguments, for `help`.
    pub usage: &'static str,
    /// What it does, for `help`.
    pub help: &'static str,
    /// Runs it; body lines go to `out`.
    pub run: fn(&mut Host, &[&str], &mut Vec<String>) -> CmdResult,
}

/// All framework commands.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "help",
        usage: "",
        help: "list the commands",
        run: cmd_help,
    },
    CommandSpec {
        name: "status",
        usage: "",
        help: "connection, guest driver, SynIC set-up and counters",
        run: cmd_status,
    },
    CommandSpec {
        name: "stats",
        usage: "",
        help: "counters as key=value lines",
        run: cmd_stats,
    },
    CommandSpec {
        name: "storage-io",
        usage: "[direct|copy]",
        help: "disk reads and writes straight to guest RAM (the default) or through a host buffer",
        run: cmd_storage_io,
    },
    CommandSpec {
        name: "raise",
        usage: "VCPU",
        help: "raise the vCPU's MSI-X vector",
        run: cmd_raise,
    },
    CommandSpec {
        name: "post",
        usage: "VCPU SINT TYPE [HEXPAYLOAD]",
        help: "post a raw SynIC message to the guest",
        run: cmd_post,
    },
    CommandSpec {
        name: "event",
        usage: "VCPU SINT FLAG",
        help: "set an event flag in the guest's SIEFP page and interrupt",
        run: cmd_event,
    },
    CommandSpec {
        name: "set-profile",
        usage: "azure|qemu|old|ws2012",
        help: "change the imitated host (for the next guest driver)",
        run: cmd_set_profile,
    },
    CommandSpec {
        name: "quit",
        usage: "",
        help: "shut the host down cleanly",
        run: cmd_quit,
    },
];

/// Commands the VMBus server answers (listed by `help`, run through
/// `VmbusServer::control`).
const SERVER_COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "list",
        usage: "",
        help: "channels: relid, type, class/instance GUID, monitor id, state",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "offer",
        usage: "heartbeat|shutdown|timesync|echo|net|kvp|vss|fcopy",
        help: "add a device (offered at once if the guest asked for offers)",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "rescind",
        usage: "RELID",
        help: "rescind a channel (then wait for RELID_RELEASED)",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "disk-add",
        usage: "PATH[,ro][,lun=N][,controller=N]",
        help: "attach a disk: to a controller's bus (the guest rescans) or on a new controller (offered)",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "disk-remove",
        usage: "CONTROLLER [LUN]",
        help: "detach a disk (the guest rescans), or rescind the whole controller",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "disks",
        usage: "",
        help: "list the storage controllers and their disks",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "reoffer",
        usage: "RELID",
        help: "rescind a channel and offer the same instance again (new relid)",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "shutdown-guest",
        usage: "[reboot|poweroff|flags N]",
        help: "send a shutdown IC request; the guest's status shows in stats",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "kvp",
        usage: "enumerate POOL INDEX|get POOL KEY|set POOL KEY VALUE|delete POOL KEY|ip-info MAC|results",
        help: "a KVP request on the open kvp channel (one at a time); results lists the answers",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "vss",
        usage: "hot-backup|freeze|thaw|results",
        help: "a VSS operation on the open vss channel (one at a time); results lists the answers",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "fcopy",
        usage: "send HOSTFILE GUESTDIR [NAME]|results",
        help: "copy a host file into the guest on the open fcopy channel; results lists the copies",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "keyboard-type",
        usage: "TEXT",
        help: "the open keyboard channel types TEXT (lowercase letters, digits, space; \\n is Enter): a make and a break per key",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "hostile",
        usage: "list | MODE [on|off]",
        help: "list or switch hostile modes",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "echo-burst",
        usage: "RELID COUNT SIZE",
        help: "the open echo channel sends COUNT unsolicited packets of SIZE bytes",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "nic-link",
        usage: "RELID up|down",
        help: "the open network adapter RELID indicates its link up or down",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "nic-hold",
        usage: "RELID MS",
        help: "the open network adapter RELID completes the guest's sends MS milliseconds late (0: at once), also past a rescind",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "monitor-hold",
        usage: "on|off",
        help: "stop (on) or go on (off) polling the guest's monitor page",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "unload-delay",
        usage: "MS",
        help: "answer UNLOAD after MS milliseconds (0: at once)",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "hvsock-connect",
        usage: "PORT BYTES",
        help: "connect to the guest's hv_sock listener on vsock PORT, send BYTES bytes and FIN, check the echo (stats hvsock_host_ok/bad)",
        run: cmd_unreachable,
    },
    CommandSpec {
        name: "open-delay",
        usage: "MS",
        help: "answer OPEN_CHANNEL after MS milliseconds (0: at once)",
        run: cmd_unreachable,
    },
];

fn cmd_unreachable(_h: &mut Host, _a: &[&str], _out: &mut Vec<String>) -> CmdResult {
    Err("not a framework command".into())
}

/// Runs one command line; returns the body lines and the result.
pub fn dispatch(host: &mut Host, line: &str) -> (Vec<String>, CmdResult) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    let Some((&name, args)) = words.split_first() else {
        return (out, Err("empty command".into()));
    };
    crate::log_debug!("control: {line}");
    if let Some(spec) = COMMANDS.iter().find(|c| c.name == name) {
        let r = (spec.run)(host, args, &mut out);
        return (out, r);
    }
    let Host {
        session,
        trace,
        server,
        ..
    } = host;
    let mut g = session.as_mut().map(|s| s.guest_ctx(trace));
    match server.control(g.as_mut(), name, args, &mut out) {
        Some(r) => (out, r),
        None => (out, Err(format!("unknown command {name:?} (try help)"))),
    }
}

/// Parses a number: decimal or `0x` hex.
pub fn parse_num(what: &str, s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("bad {what} {s:?}"))
}

fn parse_u32(what: &str, s: &str) -> Result<u32, String> {
    u32::try_from(parse_num(what, s)?).map_err(|_| format!("{what} {s:?} too large"))
}

/// Parses hex bytes (`-` or empty for none).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if s == "-" {
        return Ok(Vec::new());
    }
    if s.len() % 2 != 0 {
        return Err("hex payload has an odd number of digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("bad hex payload {s:?}"))
        })
        .collect()
}

fn want_args(args: &[&str], min: usize, max: usize, usage: &str) -> CmdResult {
    if args.len() < min || args.len() > max {
        return Err(format!("usage: {usage}"));
    }
    Ok(())
}

/// Every control command: the framework's, then the VMBus server's.
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().chain(SERVER_COMMANDS)
}

fn cmd_help(_h: &mut Host, _a: &[&str], out: &mut Vec<String>) -> CmdResult {
    for c in all_commands() {
        let head = if c.usage.is_empty() {
            c.name.to_string()
        } else {
            format!("{} {}", c.name, c.usage)
        };
        out.push(format!("{head:<40} {}", c.help));
    }
    Ok(())
}

fn cmd_status(h: &mut Host, _a: &[&str], out: &mut Vec<String>) -> CmdResult {
    out.push(format!("profile: {}", h.profile));
    match &h.session {
        None => out.push("connected: no".into()),
        Some(s) => {
            out.push("connected: yes".into());
            out.push(format!("guest peer id: {}", s.link.peer_id()));
            out.push(format!("guest ram: {:#x} bytes", s.guest.len()));
            match (s.hv.guest_version, s.hv.guest_vcpus) {
                (Some(v), Some(n)) => out.push(format!(
                    "guest driver: layout {}.{}, {n} vCPUs",
                    v >> 16,
                    v & 0xffff
                )),
                _ => out.push("guest driver: none".into()),
            }
            let up: Vec<String> =
                s.hv.synic
                    .vcpus_set_up()
                    .iter()
                    .map(u32::to_string)
                    .collect();
            out.push(format!("vcpus set up: {}", up.join(" ")));
            out.extend(s.hv.synic.describe());
            let req: Vec<String> =
                s.hv.stats
                    .by_command
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
            out.push(format!("requests: {}", req.join(" ")));
            let st: Vec<String> =
                s.hv.stats
                    .by_status
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
            out.push(format!("statuses: {}", st.join(" ")));
            let sy = s.hv.synic.stats();
            out.push(format!(
                "messages to guest: posted {} delivered {} queued {} waiting {} dropped {}",
                sy.posted,
                sy.delivered,
                sy.queued,
                s.hv.synic.queued_now(),
                sy.dropped
            ));
            let (acc, refused) = s.hv.queue.counts();
            out.push(format!(
                "messages from guest: accepted {acc} refused {refused} waiting {}",
                s.hv.queue.len()
            ));
            out.push(format!(
                "interrupts raised: {} (per vector {:?})",
                s.link.irqs().total(),
                s.link.irqs().counts()
            ));
            out.push(format!("doorbells: {:?}", s.doorbells));
        }
    }
    out.push(format!(
        "connections: {} refused: {}",
        h.stats.connections, h.stats.refused
    ));
    h.server.status(out);
    Ok(())
}

fn cmd_stats(h: &mut Host, _a: &[&str], out: &mut Vec<String>) -> CmdResult {
    out.push(format!("connected={}", u8::from(h.session.is_some())));
    out.push(format!("connections={}", h.stats.connections));
    out.push(format!("refused={}", h.stats.refused));
    if let Some(s) = &h.session {
        for (k, v) in &s.hv.stats.by_command {
            out.push(format!("requests.{k}={v}"));
        }
        for (k, v) in &s.hv.stats.by_status {
            out.push(format!("status.{k}={v}"));
        }
        for (k, v) in &s.hv.stats.busy_ns {
            out.push(format!("busy_ns.{k}={v}"));
        }
        let sy = s.hv.synic.stats();
        out.push(format!("h2g.posted={}", sy.posted));
        out.push(format!("h2g.delivered={}", sy.delivered));
        out.push(format!("h2g.queued={}", sy.queued));
        out.push(format!("h2g.waiting={}", s.hv.synic.queued_now()));
        out.push(format!("h2g.dropped={}", sy.dropped));
        out.push(format!("h2g.events={}", sy.events));
        out.push(format!("h2g.eoms={}", sy.eoms));
        out.push(format!("h2g.races={}", sy.races));
        out.push(format!("h2g.races_set={}", sy.races_set));
        out.push(format!("h2g.races_late={}", sy.races_late));
        out.push(format!("h2g.flooded={}", sy.flooded));
        let (acc, refused) = s.hv.queue.counts();
        out.push(format!("g2h.messages={acc}"));
        out.push(format!("g2h.refused={refused}"));
        out.push(format!("g2h.events={}", s.hv.stats.events_in));
        out.push(format!("interrupts={}", s.link.irqs().total()));
        for (v, n) in s.link.irqs().counts().iter().enumerate() {
            out.push(format!("interrupts.{v}={n}"));
        }
        for (v, n) in s.doorbells.iter().enumerate() {
            out.push(format!("doorbells.{v}={n}"));
        }
    }
    h.server.stats(out);
    crate::prof::lines(out);
    Ok(())
}

fn cmd_storage_io(_h: &mut Host, a: &[&str], out: &mut Vec<String>) -> CmdResult {
    want_args(a, 0, 1, "storage-io [direct|copy]")?;
    match a.first().copied() {
        None => {}
        Some("direct") => crate::prof::set_direct_io(true),
        Some("copy") => crate::prof::set_direct_io(false),
        Some(o) => return Err(format!("storage-io: {o:?} is neither direct nor copy")),
    }
    let now = if crate::prof::direct_io() {
        "direct"
    } else {
        "copy"
    };
    out.push(format!("storage-io {now}"));
    Ok(())
}

fn cmd_raise(h: &mut Host, a: &[&str], out: &mut Vec<String>) -> CmdResult {
    want_args(a, 1, 1, "raise VCPU")?;
    let vcpu = parse_u32("vCPU", a[0])?;
    let Host { session, trace, .. } = h;
    let s = session.as_mut().ok_or("no guest connected")?;
    let env = SynicEnv {
        mem: &s.guest,
        irq: s.link.irqs(),
        trace,
    };
    let v =
        s.hv.synic
            .raise_vcpu(&env, vcpu)
            .map_err(|e| e.to_string())?;
    out.push(format!("raised vector {v}"));
    Ok(())
}

fn cmd_post(h: &mut Host, a: &[&str], out: &mut Vec<String>) -> CmdResult {
    want_args(a, 3, 4, "post VCPU SINT TYPE [HEXPAYLOAD]")?;
    let vcpu = parse_u32("vCPU", a[0])?;
    let sint = parse_u32("SINT", a[1])?;
    let ty = parse_u32("message type", a[2])?;
    let payload = parse_hex(a.get(3).copied().unwrap_or("-"))?;
    let Host { session, trace, .. } = h;
    let s = session.as_mut().ok_or("no guest connected")?;
    let r = s
        .guest_ctx(trace)
        .post_to_guest(vcpu, sint, ty, &payload)
        .map_err(|e| e.to_string())?;
    out.push(format!("{r:?}").to_lowercase());
    Ok(())
}

fn cmd_event(h: &mut Host, a: &[&str], out: &mut Vec<String>) -> CmdResult {
    want_args(a, 3, 3, "event VCPU SINT FLAG")?;
    let vcpu = parse_u32("vCPU", a[0])?;
    let sint = parse_u32("SINT", a[1])?;
    let flag = parse_u32("flag", a[2])?;
    let Host { session, trace, .. } = h;
    let s = session.as_mut().ok_or("no guest connected")?;
    let new = s
        .guest_ctx(trace)
        .signal_guest(vcpu, sint, flag)
        .map_err(|e| e.to_string())?;
    out.push(if new { "set" } else { "already set" }.to_string());
    Ok(())
}

fn cmd_set_profile(h: &mut Host, a: &[&str], _out: &mut Vec<String>) -> CmdResult {
    want_args(a, 1, 1, "set-profile azure|qemu|old")?;
    let p: Profile = a[0].parse()?;
    h.profile = p;
    h.server.set_profile(p);
    Ok(())
}

fn cmd_quit(h: &mut Host, _a: &[&str], _out: &mut Vec<String>) -> CmdResult {
    h.quit = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(parse_num("x", "0x10"), Ok(16));
        assert_eq!(parse_num("x", "10"), Ok(10));
        assert!(parse_num("x", "zz").is_err());
        assert_eq!(parse_hex("00ff10"), Ok(vec![0, 0xff, 0x10]));
        assert_eq!(parse_hex("-"), Ok(vec![]));
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("é1").is_err());
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in COMMANDS.iter().enumerate() {
            for b in &COMMANDS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }
}
