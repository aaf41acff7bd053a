// SPDX-License-Identifier: GPL-2.0

//! Reports the ring benchmark of vmbus_proto (this crate's `benches/ring.rs`)
//! and the signalling simulation.
//!
//! It reads criterion's `new/estimates.json` and `new/benchmark.json` under
//! the criterion directory, counts each workload's instructions under
//! callgrind (`--callgrind`: it runs itself under valgrind with `--count`),
//! prints the tables, writes them as JSON and regenerates the generated
//! part of `Documentation/benchmarks.rst`.
//!
//! ```text
//! ring-bench [--criterion DIR] [--since FILE] [--json FILE] [--rst FILE]
//!            [--callgrind DIR]
//! ring-bench --count IMPL SIZE MODE ITERS
//! ```
//!
//! `--since`: every estimate must be newer than FILE (the runner touches it
//! before `cargo bench`), so that a benchmark that did not run is an error
//! rather than an old number; Linux's C ring, which a build without the
//! kernel source leaves out, is then reported as left out.
//!
//! `--count` runs ITERS iterations of one workload (`rvmbus`, `linux` or
//! `memcpy`; `single` or `batch`) inside `ring_bench::counted`, the one
//! function callgrind collects in.

mod sim;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use ring_bench::{Mode, BATCH, LINUX_SKIPPED};
use serde_json::{json, Value};

/// The lines that delimit the generated part of the rst file.
const RST_BEGIN: &str = ".. ring-bench: generated from here";
const RST_END: &str = ".. ring-bench: generated up to here";

/// The ring benchmark's data area.
const RING_SIZE: usize = ring_bench::RING_SIZE;
/// Packets each callgrind count moves.
const COUNT_PACKETS: u64 = 4096;
/// The implementations, in table order.
const IMPLS: [&str; 3] = ["rvmbus", "linux", "memcpy"];

struct Args {
    criterion: PathBuf,
    since: Option<SystemTime>,
    json: Option<PathBuf>,
    rst: Option<PathBuf>,
    callgrind: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        criterion: PathBuf::from("target/criterion"),
        since: None,
        json: None,
        rst: None,
        callgrind: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--criterion" => a.criterion = val()?.into(),
            "--since" => {
                let f = val()?;
                let m = fs::metadata(&f).and_then(|m| m.modified());
                a.since = Some(m.map_err(|e| format!("{f}: {e}"))?);
            }
            "--json" => a.json = Some(val()?.into()),
            "--rst" => a.rst = Some(val()?.into()),
            "--callgrind" => a.callgrind = Some(val()?.into()),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(a)
}

/// One criterion benchmark's result.
#[derive(Clone, Copy)]
struct Estimate {
    /// Median time of one iteration, ns.
    median_ns: f64,
    /// The 95% confidence interval of the median.
    low_ns: f64,
    high_ns: f64,
    /// Packets per iteration (the benchmark's `Throughput::Elements`).
    packets: u64,
}

impl Estimate {
    fn ns_per_packet(&self) -> f64 {
        self.median_ns / self.packets as f64
    }

    fn packets_per_s(&self) -> f64 {
        1e9 / self.ns_per_packet()
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads `<dir>/<id>/new/{estimates,benchmark}.json`.
fn estimate(args: &Args, id: &str) -> Result<Estimate, String> {
    let dir = args.criterion.join(id).join("new");
    let path = dir.join("estimates.json");
    if let Some(since) = args.since {
        let m = fs::metadata(&path).and_then(|m| m.modified());
        if m.map_err(|e| format!("{}: {e}", path.display()))? < since {
            return Err(format!("{}: older than this run", path.display()));
        }
    }
    let est = read_json(&path)?;
    let bench = read_json(&dir.join("benchmark.json"))?;
    let num = |v: &Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| format!("{}: no {what}", path.display()))
    };
    let median = &est["median"];
    Ok(Estimate {
        median_ns: num(&median["point_estimate"], "median")?,
        low_ns: num(&median["confidence_interval"]["lower_bound"], "lower bound")?,
        high_ns: num(&median["confidence_interval"]["upper_bound"], "upper bound")?,
        packets: bench["throughput"]["Elements"]
            .as_u64()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{id}: benchmark.json has no element throughput"))?,
    })
}

/// The payload sizes that were benchmarked, from the directory names.
fn sizes(args: &Args) -> Result<Vec<usize>, String> {
    let dir = args.criterion.join("ring-single").join("rvmbus");
    let mut v: Vec<usize> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e} (did the benchmark run?)", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    if v.is_empty() {
        return Err(format!("{}: no results", dir.display()));
    }
    Ok(v)
}

/// One implementation's numbers for one size and mode.
#[derive(Clone, Copy)]
struct Measured {
    est: Estimate,
    /// Instructions per packet, from callgrind.
    instructions: Option<Instructions>,
}

struct Row {
    size: usize,
    mode: Mode,
    rvmbus: Measured,
    /// `None` when the C ring was left out of this run.
    linux: Option<Measured>,
    memcpy: Measured,
}

impl Row {
    fn get(&self, imp: &str) -> Option<Measured> {
        match imp {
            "rvmbus" => Some(self.rvmbus),
            "linux" => self.linux,
            _ => Some(self.memcpy),
        }
    }
}

/// `a`'s time over `b`'s, per packet.
fn time_ratio(a: &Measured, b: &Measured) -> f64 {
    a.est.ns_per_packet() / b.est.ns_per_packet()
}

/// `a`'s own instructions over `b`'s, per packet.
fn instr_ratio(a: &Measured, b: &Measured) -> Option<f64> {
    Some(a.instructions?.own / b.instructions?.own)
}

/// Instructions per packet of one workload.
#[derive(Clone, Copy)]
struct Instructions {
    /// All of them.
    total: f64,
    /// Those outside libc's memcpy/memmove/memset: the ring's own work.
    /// How many instructions libc's copy takes depends on the path it
    /// picks for the addresses at hand (`rep movsb`, which callgrind counts
    /// byte by byte, or a vector loop), not on the ring.
    own: f64,
}

/// Whether a function is one of libc's copies.
fn is_libc_copy(name: &str) -> bool {
    ["memcpy", "memmove", "memset"]
        .iter()
        .any(|m| name.contains(m))
}

/// The total and the self cost of libc's copies in a callgrind profile
/// (events: Ir only).
fn callgrind_costs(text: &str) -> Result<(u64, u64), String> {
    let mut names: std::collections::HashMap<String, String> = Default::default();
    let mut total = None;
    let mut copy = 0u64;
    let mut in_copy = false;
    // The cost line after `calls=` is the call's inclusive cost, not the
    // caller's own.
    let mut call_cost = false;
    for line in text.lines() {
        if let Some(v) = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))
        {
            total = v
                .split_whitespace()
                .next()
                .and_then(|t| t.parse::<u64>().ok());
        } else if let Some(spec) = line.strip_prefix("fn=") {
            // `(id) name` defines a compressed name, `(id)` uses one.
            let name = match spec.strip_prefix('(').and_then(|r| r.split_once(')')) {
                Some((id, rest)) if !rest.trim().is_empty() => {
                    names.insert(id.to_string(), rest.trim().to_string());
                    rest.trim().to_string()
                }
                Some((id, _)) => names.get(id).cloned().unwrap_or_default(),
                None => spec.to_string(),
            };
            in_copy = is_libc_copy(&name);
            call_cost = false;
        } else if let Some(spec) = line.strip_prefix("cfn=") {
            if let Some((id, rest)) = spec.strip_prefix('(').and_then(|r| r.split_once(')')) {
                if !rest.trim().is_empty() {
                    names.insert(id.to_string(), rest.trim().to_string());
                }
            }
        } else if line.starts_with("calls=") {
            call_cost = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || "+-*".contains(c)) {
            let ir = line
                .split_whitespace()
                .nth(1)
                .map_or(Ok(0), |t| t.parse::<u64>())
                .map_err(|e| format!("callgrind cost line {line:?}: {e}"))?;
            if !call_cost && in_copy {
                copy += ir;
            }
            call_cost = false;
        }
    }
    Ok((total.ok_or("no totals")?, copy))
}

/// Counts the instructions per packet of one workload: runs this program
/// under callgrind with `--count`, collecting only inside
/// `ring_bench::counted`.
fn callgrind(dir: &Path, imp: &str, size: usize, mode: Mode) -> Result<Instructions, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let packets = mode.packets() as u64;
    let iters = COUNT_PACKETS / packets;
    let out = dir.join(format!("callgrind.{imp}-{}-{size}", mode.name()));
    let status = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--quiet")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--toggle-collect=ring_bench::counted")
        .arg(&exe)
        .args([
            "--count",
            imp,
            &size.to_string(),
            mode.name(),
            &iters.to_string(),
        ])
        .status()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !status.success() {
        return Err(format!(
            "valgrind for {imp} {} {size}: {status}",
            mode.name()
        ));
    }
    let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let (total, copy) = callgrind_costs(&text).map_err(|e| format!("{}: {e}", out.display()))?;
    if total == 0 {
        return Err(format!(
            "{}: nothing collected (is ring_bench::counted inlined?)",
            out.display()
        ));
    }
    let n = (iters * packets) as f64;
    Ok(Instructions {
        total: total as f64 / n,
        own: total.saturating_sub(copy) as f64 / n,
    })
}

/// `--count IMPL SIZE MODE ITERS`.
fn count(mut it: impl Iterator<Item = String>) -> Result<(), String> {
    let mut next = |what: &str| it.next().ok_or(format!("--count needs {what}"));
    let imp = next("IMPL")?;
    let size: usize = next("SIZE")?.parse().map_err(|e| format!("SIZE: {e}"))?;
    let mode = next("MODE")?;
    let mode = Mode::parse(&mode).ok_or(format!("MODE: {mode}"))?;
    let iters: u64 = next("ITERS")?.parse().map_err(|e| format!("ITERS: {e}"))?;
    let mut w = ring_bench::workload(&imp, size, mode)?;
    ring_bench::counted(&mut *w, iters);
    Ok(())
}

/// The per-packet micro-benchmarks: id, what it is.
const PER_PACKET: [(&str, &str); 5] = [
    ("empty", "write+read+commit, no payload (16-byte packet)"),
    (
        "empty-nofence",
        "the same, barriers replaced by compiler fences",
    ),
    ("8B", "write+read+commit, 8-byte payload"),
    ("desc-encode-decode", "descriptor encode and decode alone"),
    ("fence", "one full barrier (RingMem::fence)"),
];

/// A table as reStructuredText "simple table" lines; the same text is
/// printed.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let rule = w
        .iter()
        .map(|&n| "=".repeat(n))
        .collect::<Vec<_>>()
        .join("  ");
    let line = |cells: Vec<String>| {
        let s = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect::<Vec<_>>()
            .join("  ");
        s.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(
        out,
        "{}",
        line(head.iter().map(|s| s.to_string()).collect())
    );
    let _ = writeln!(out, "{rule}");
    for r in rows {
        let _ = writeln!(out, "{}", line(r.clone()));
    }
    let _ = writeln!(out, "{rule}");
    out
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.prec$}"))
}

fn run() -> Result<(), String> {
    let args = parse_args()?;

    let mut rows = Vec::new();
    let mut linux_missing: Option<String> = LINUX_SKIPPED.map(str::to_string);
    for mode in Mode::ALL {
        for size in sizes(&args)? {
            let id = |imp: &str| format!("ring-{}/{imp}/{size}", mode.name());
            let m = |e| Measured {
                est: e,
                instructions: None,
            };
            let linux = if linux_missing.is_some() {
                None
            } else {
                match estimate(&args, &id("linux")) {
                    Ok(e) => Some(m(e)),
                    Err(e) => {
                        linux_missing = Some(format!("no result this run ({e})"));
                        None
                    }
                }
            };
            rows.push(Row {
                size,
                mode,
                rvmbus: m(estimate(&args, &id("rvmbus"))?),
                linux,
                memcpy: m(estimate(&args, &id("memcpy"))?),
            });
        }
    }
    if linux_missing.is_some() {
        for r in &mut rows {
            r.linux = None;
        }
    }
    if let Some(dir) = &args.callgrind {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for r in &mut rows {
            r.rvmbus.instructions = Some(callgrind(dir, "rvmbus", r.size, r.mode)?);
            if let Some(l) = &mut r.linux {
                l.instructions = Some(callgrind(dir, "linux", r.size, r.mode)?);
            }
            r.memcpy.instructions = Some(callgrind(dir, "memcpy", r.size, r.mode)?);
        }
    }
    let mut per_packet = Vec::new();
    for (id, what) in PER_PACKET {
        per_packet.push((id, what, estimate(&args, &format!("per-packet/{id}"))?));
    }
    let signals = sim::run_all();

    let t1 = table(
        &[
            "size",
            "mode",
            "rvmbus ns",
            "C ns",
            "memcpy ns",
            "rvmbus/C",
            "rvmbus/memcpy",
            "C/memcpy",
            "rvmbus instr",
            "C instr",
            "rvmbus/C instr",
        ],
        &rows
            .iter()
            .map(|r| {
                let ns = |m: Option<Measured>| fmt_opt(m.map(|m| m.est.ns_per_packet()), 1);
                let ins =
                    |m: Option<Measured>| fmt_opt(m.and_then(|m| Some(m.instructions?.own)), 0);
                vec![
                    r.size.to_string(),
                    format!("{} x{}", r.mode.name(), r.mode.packets()),
                    ns(Some(r.rvmbus)),
                    ns(r.linux),
                    ns(Some(r.memcpy)),
                    fmt_opt(r.linux.map(|l| time_ratio(&r.rvmbus, &l)), 3),
                    format!("{:.2}", time_ratio(&r.rvmbus, &r.memcpy)),
                    fmt_opt(r.linux.map(|l| time_ratio(&l, &r.memcpy)), 2),
                    ins(Some(r.rvmbus)),
                    ins(r.linux),
                    fmt_opt(r.linux.and_then(|l| instr_ratio(&r.rvmbus, &l)), 3),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let t2 = table(
        &["per-packet cost", "ns", "what"],
        &per_packet
            .iter()
            .map(|(id, what, e)| {
                vec![
                    id.to_string(),
                    format!("{:.1}", e.ns_per_packet()),
                    what.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let t3 = table(
        &[
            "scenario",
            "interrupts/pkt",
            "redundant",
            "to producer/pkt",
            "full/pkt",
            "what",
        ],
        &signals
            .iter()
            .map(|c| {
                vec![
                    c.name.to_string(),
                    format!("{:.4}", c.interrupts_per_packet()),
                    c.redundant.to_string(),
                    format!("{:.4}", c.to_producer_per_packet()),
                    format!("{:.3}", c.full as f64 / c.packets as f64),
                    c.what.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );

    let caption = format!(
        "Ring write+read, {} KiB ring, payload bytes; ns per packet (median thread CPU time); \
         rvmbus/C and x/memcpy are time ratios (below 1: faster); instr: instructions per packet outside libc's memcpy (callgrind)",
        RING_SIZE / 1024
    );
    println!("{caption}");
    print!("{t1}");
    if let Some(why) = &linux_missing {
        println!("C: Linux's tools/hv/vmbus_bufring.c left out: {why}");
    }
    if args.callgrind.is_none() {
        println!("instr: not counted (no --callgrind; scripts/bench.sh counts when valgrind is installed)");
    }
    println!();
    println!("Per-packet costs");
    print!("{t2}");
    println!();
    println!(
        "Signals, {} packets of {} payload bytes through a {} KiB ring (deterministic simulation with the ring's own decisions)",
        sim::PACKETS,
        sim::PAYLOAD,
        sim::RING_SIZE / 1024
    );
    print!("{t3}");

    if let Some(path) = &args.json {
        let imp_json = |m: Option<Measured>| {
            m.map(|m| {
                json!({
                    "ns_per_packet": m.est.ns_per_packet(),
                    "ns_per_packet_ci95": [m.est.low_ns / m.est.packets as f64, m.est.high_ns / m.est.packets as f64],
                    "packets_per_s": m.est.packets_per_s(),
                    "instructions_per_packet": m.instructions.map(|i| i.total),
                    "instructions_per_packet_outside_libc_copies": m.instructions.map(|i| i.own),
                })
            })
        };
        let j = json!({
            "ring_size": RING_SIZE,
            "batch": BATCH,
            "clock": "thread CPU time (CLOCK_THREAD_CPUTIME_ID), criterion median",
            "instructions": "callgrind, instructions per packet inside ring_bench::counted, in all and outside libc's memcpy/memmove/memset",
            "linux": match &linux_missing {
                None => json!({"source": "tools/hv/vmbus_bufring.c, rte_vmbus_chan_send / rte_vmbus_chan_recv_raw"}),
                Some(why) => json!({"left_out": why}),
            },
            "throughput": rows.iter().map(|r| {
                let mut o = serde_json::Map::new();
                o.insert("size".into(), json!(r.size));
                o.insert("mode".into(), json!(r.mode.name()));
                o.insert("packets_per_iteration".into(), json!(r.mode.packets()));
                for imp in IMPLS {
                    o.insert(imp.into(), json!(imp_json(r.get(imp))));
                }
                o.insert("ratios".into(), json!({
                    "rvmbus_to_linux_time": r.linux.map(|l| time_ratio(&r.rvmbus, &l)),
                    "rvmbus_to_memcpy_time": time_ratio(&r.rvmbus, &r.memcpy),
                    "linux_to_memcpy_time": r.linux.map(|l| time_ratio(&l, &r.memcpy)),
                    "rvmbus_to_linux_instructions": r.linux.and_then(|l| instr_ratio(&r.rvmbus, &l)),
                }));
                Value::Object(o)
            }).collect::<Vec<_>>(),
            "per_packet": per_packet.iter().map(|(id, what, e)| json!({
                "name": id,
                "what": what,
                "ns": e.ns_per_packet(),
                "ns_ci95": [e.low_ns / e.packets as f64, e.high_ns / e.packets as f64],
            })).collect::<Vec<_>>(),
            "signals": {
                "packets": sim::PACKETS,
                "payload": sim::PAYLOAD,
                "ring_size": sim::RING_SIZE,
                "scenarios": signals.iter().map(|c| json!({
                    "name": c.name,
                    "what": c.what,
                    "interrupts": c.interrupts,
                    "redundant_interrupts": c.redundant,
                    "signals_to_producer": c.to_producer,
                    "full_refusals": c.full,
                    "interrupts_per_packet": c.interrupts_per_packet(),
                    "signals_to_producer_per_packet": c.to_producer_per_packet(),
                })).collect::<Vec<_>>(),
            },
        });
        if let Some(d) = path.parent() {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let text = serde_json::to_string_pretty(&j).map_err(|e| e.to_string())?;
        fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("\nwrote {}", path.display());
    }

    if let Some(path) = &args.rst {
        let old = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let (Some(b), Some(e)) = (old.find(RST_BEGIN), old.find(RST_END)) else {
            return Err(format!("{}: no generated-part markers", path.display()));
        };
        if e < b {
            return Err(format!("{}: markers out of order", path.display()));
        }
        let indent = |t: &str| t.lines().map(|l| format!("   {l}\n")).collect::<String>();
        let mut gen = String::new();
        let _ = writeln!(
            gen,
            "{RST_BEGIN} by ``make bench``; edits below are lost.\n"
        );
        let _ = writeln!(
            gen,
            ".. table:: Ring write+read: ns per packet (median thread CPU time), time ratios, instructions per packet outside libc's memcpy (callgrind)\n"
        );
        gen += &indent(&t1);
        if let Some(why) = &linux_missing {
            let _ = writeln!(
                gen,
                "\nC: Linux's ``tools/hv/vmbus_bufring.c`` left out: {why}"
            );
        }
        let _ = writeln!(gen, "\n.. table:: Per-packet costs\n");
        gen += &indent(&t2);
        let _ = writeln!(
            gen,
            "\n.. table:: Signals per packet ({} packets of {} bytes, {} KiB ring)\n",
            sim::PACKETS,
            sim::PAYLOAD,
            sim::RING_SIZE / 1024
        );
        gen += &indent(&t3);
        gen.push('\n');
        let new = format!("{}{}{}", &old[..b], gen, &old[e..]);
        fs::write(path, new).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("updated {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut it = std::env::args().skip(1).peekable();
    let r = if it.peek().map(String::as_str) == Some("--count") {
        it.next();
        count(it)
    } else {
        run()
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ring-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callgrind_self_cost_of_copies() {
        let text = "\
events: Ir
summary: 1000
fl=(1) a.c
fn=(1) work
10 100
cfn=(2) __memcpy_avx_unaligned_erms
calls=2 5
+1 300
+1 50
fn=(2)
5 280
+1 20
fn=(3) other
1 7
totals: 1000
";
        assert_eq!(callgrind_costs(text), Ok((1000, 300)));
    }
}
