// SPDX-License-Identifier: GPL-2.0

//! Reports the ring benchmark of vmbus_proto (this crate's `benches/ring.rs`) and the
//! signalling simulation.
//!
//! It reads criterion's `new/estimates.json` and `new/benchmark.json` under
//! the criterion directory, prints the tables, writes them as JSON and
//! regenerates the generated part of `Documentation/benchmarks.rst`.
//!
//! ```text
//! ring-bench [--criterion DIR] [--since FILE] [--json FILE] [--rst FILE]
//! ```
//!
//! `--since`: every estimate must be newer than FILE (the runner touches it
//! before `cargo bench`), so that a benchmark that did not run is an error
//! rather than an old number.

mod sim;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::{json, Value};

/// The lines that delimit the generated part of the rst file.
const RST_BEGIN: &str = ".. ring-bench: generated from here";
const RST_END: &str = ".. ring-bench: generated up to here";

/// The ring benchmark's data area (see `benches/ring.rs`).
const RING_SIZE: usize = 256 * 1024;

struct Args {
    criterion: PathBuf,
    since: Option<SystemTime>,
    json: Option<PathBuf>,
    rst: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        criterion: PathBuf::from("target/criterion"),
        since: None,
        json: None,
        rst: None,
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
    let dir = args.criterion.join("ring-single").join("ring");
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

struct Row {
    size: usize,
    mode: &'static str,
    ring: Estimate,
    memcpy: Estimate,
}

impl Row {
    fn bytes_per_s(&self) -> f64 {
        self.ring.packets_per_s() * self.size as f64
    }

    /// Ring throughput over memcpy throughput for the same payload bytes.
    fn ratio(&self) -> f64 {
        self.memcpy.ns_per_packet() / self.ring.ns_per_packet()
    }
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

fn si(v: f64, unit: &str) -> String {
    let (d, p) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    format!("{:.2} {p}{unit}", v / d)
}

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

fn run() -> Result<(), String> {
    let args = parse_args()?;

    let mut rows = Vec::new();
    for size in sizes(&args)? {
        for mode in ["single", "batched"] {
            rows.push(Row {
                size,
                mode,
                ring: estimate(&args, &format!("ring-{mode}/ring/{size}"))?,
                memcpy: estimate(&args, &format!("ring-{mode}/memcpy/{size}"))?,
            });
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
            "ns/packet",
            "packets/s",
            "bytes/s",
            "memcpy bytes/s",
            "ratio",
        ],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.size.to_string(),
                    format!("{} x{}", r.mode, r.ring.packets),
                    format!("{:.1}", r.ring.ns_per_packet()),
                    si(r.ring.packets_per_s(), "/s"),
                    si(r.bytes_per_s(), "B/s"),
                    si(r.memcpy.packets_per_s() * r.size as f64, "B/s"),
                    format!("{:.0}%", 100.0 * r.ratio()),
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

    println!(
        "Ring write+read, {} KiB ring, payload bytes; median thread CPU time; ratio = ring / memcpy of the same payload bytes",
        RING_SIZE / 1024
    );
    print!("{t1}");
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
        let j = json!({
            "ring_size": RING_SIZE,
            "clock": "thread CPU time (CLOCK_THREAD_CPUTIME_ID), criterion median",
            "throughput": rows.iter().map(|r| json!({
                "size": r.size,
                "mode": r.mode,
                "packets_per_iteration": r.ring.packets,
                "ns_per_packet": r.ring.ns_per_packet(),
                "ns_per_packet_ci95": [r.ring.low_ns / r.ring.packets as f64, r.ring.high_ns / r.ring.packets as f64],
                "packets_per_s": r.ring.packets_per_s(),
                "bytes_per_s": r.bytes_per_s(),
                "memcpy_ns_per_packet": r.memcpy.ns_per_packet(),
                "memcpy_bytes_per_s": r.memcpy.packets_per_s() * r.size as f64,
                "ratio_to_memcpy": r.ratio(),
            })).collect::<Vec<_>>(),
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
            ".. table:: Ring write+read (median thread CPU time; ratio to memcpy of the same payload bytes)\n"
        );
        gen += &indent(&t1);
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ring-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
