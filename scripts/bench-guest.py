#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the @@BENCH lines of the in-guest benchmark scenarios into tables.

    scripts/bench-guest.py OUTDIR [--json FILE] [--rst FILE]

OUTDIR is the harness's --out directory: bench-guest/console.log holds the
data-path runs (rvmbus_echo's bench file), bench-scale-N/console.log the
scale runs, bench-virtio/console.log the runs of Linux's drivers against
virtio. Prints the tables, writes them as JSON and regenerates the
part of the reStructuredText file between the guest-bench markers.
Every figure is computed from what the guest printed in this run; the
ratios compare with baselines measured in the same guest run.
"""

import argparse
import json
import re
import sys
from pathlib import Path

RST_BEGIN = ".. guest-bench: generated from here"
RST_END = ".. guest-bench: generated up to here"
RST_VIRTIO_BEGIN = ".. virtio-bench: generated from here"
RST_VIRTIO_END = ".. virtio-bench: generated up to here"
RST_CB_BEGIN = ".. callback-bench: generated from here"
RST_CB_END = ".. callback-bench: generated up to here"

# The echo sample's rings: 64 KiB of data each way plus a control page
# each, allocated as one block of exactly that many pages.
RING_PAGES = 2 * (64 // 4 + 1)


def kv(text):
    """The key=value pairs of a text, values as int or float where they parse."""
    out = {}
    for k, v in re.findall(r"(\w+)=(\S+)", text):
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def bench_lines(console):
    if not console.exists():
        return []
    return [line.split("@@BENCH ", 1)[1] for line in console.read_text(errors="replace").splitlines()
            if line.startswith("@@BENCH ")]


def data_rows(out):
    """One row per data-path run of bench-guest."""
    rows = []
    for line in bench_lines(out / "bench-guest" / "console.log"):
        if not line.startswith("kind=data"):
            continue
        head, rest = line.split(" before: ", 1)
        before, after = rest.split(" after: ", 1)
        r, b, a = kv(head), kv(before), kv(after)
        n = r["completed"]
        secs = r["ns"] / 1e9
        base_per_pkt = r["base_ns"] / r["base_count"]
        d = lambda k: a.get(k, 0) - b.get(k, 0)
        row = {
            "signal": r["signal"], "mode": r["mode"], "size": r["size"], "window": r["window"],
            "path": r.get("path", "irq"),
            "packets": n,
            "packets_per_s": n / secs,
            "bytes_per_s": r["bytes"] / secs,
            "rtt_min_us": r["lat_min_ns"] / 1e3,
            "rtt_p50_us": r["lat_p50_ns"] / 1e3,
            "rtt_p99_us": r["lat_p99_ns"] / 1e3,
            "base_bytes_per_s": r["size"] * 1e9 / base_per_pkt,
            "base_rtt_us": base_per_pkt / 1e3,
            "guest_signals": d("g_events"),
            "guest_interrupts": d("g_interrupts"),
            "guest_ring_full": d("g_out_full"),
            "host_signals_seen": d("h_signals_in") + d("h_monitor_triggers"),
            "host_signals_unneeded": d("h_signals_unneeded"),
            "host_signals_out": d("h_signals_out"),
        }
        row["throughput_ratio"] = row["bytes_per_s"] / row["base_bytes_per_s"]
        row["rtt_ratio"] = row["rtt_p50_us"] / row["base_rtt_us"]
        row["profile"] = profile(n, secs, d)
        rows.append(row)
    return rows


def aggregate(rows):
    """One row per configuration (signal, mode, size, window) from its
    repeated runs: the run with the median packets/s, with every run's
    packets/s and RTT p50 and the spread, (max - min) / median."""
    groups = {}
    for r in rows:
        groups.setdefault((r["path"], r["signal"], r["mode"], r["size"], r["window"]), []).append(r)
    out = []
    for runs in groups.values():
        runs = sorted(runs, key=lambda r: r["packets_per_s"])
        med = dict(runs[len(runs) // 2])
        pps = [r["packets_per_s"] for r in runs]
        med["repeats"] = len(runs)
        med["packets_per_s_runs"] = pps
        med["rtt_p50_us_runs"] = sorted(r["rtt_p50_us"] for r in runs)
        med["spread"] = (pps[-1] - pps[0]) / med["packets_per_s"]
        out.append(med)
    return out


def profile(n, secs, d):
    """Where one request's time went, from rvmbus's hop timers (ctl path)
    and the host's time serving signal calls; microseconds per packet,
    and per pass of each hop."""
    per = lambda k: d(f"p_{k}_ns") / d(f"p_{k}_n") / 1e3 if d(f"p_{k}_n") else 0.0
    p = {
        "cycle_us": secs * 1e6 / n,
        "signal_calls_per_packet": d("p_signal_n") / n,
        "signal_call_us": per("signal"),
        "mailbox_sleeps_per_call": d("p_mailbox_sleeps_n") / d("p_signal_n") if d("p_signal_n") else 0.0,
        "host_signal_us": d("h_signal_busy_ns") / d("h_signal_calls") / 1e3 if d("h_signal_calls") else 0.0,
        "irq_to_work_per_packet": d("p_irq_to_work_n") / n,
        "irq_to_work_us": per("irq_to_work"),
        "irq_to_tasklet_per_packet": d("p_irq_to_tasklet_n") / n,
        "irq_to_tasklet_us": per("irq_to_tasklet"),
        "kick_to_driver_per_packet": d("p_kick_to_driver_n") / n,
        "kick_to_driver_us": per("kick_to_driver"),
        "tasklet_dispatch_per_packet": d("p_tasklet_dispatch_n") / n,
        "tasklet_dispatch_us": per("tasklet_dispatch"),
    }
    known = (p["signal_calls_per_packet"] * p["signal_call_us"]
             + p["irq_to_work_per_packet"] * p["irq_to_work_us"]
             + p["irq_to_tasklet_per_packet"] * p["irq_to_tasklet_us"]
             + p["kick_to_driver_per_packet"] * p["kick_to_driver_us"])
    p["rest_us"] = p["cycle_us"] - known
    return p


def scale_rows(out):
    rows = []
    for p in sorted(out.glob("bench-scale-*/console.log")):
        scale, audit, reps = None, None, None
        for line in bench_lines(p):
            if line.startswith("kind=scale-reps"):
                reps = line
            elif line.startswith("kind=scale"):
                scale = line
            elif line.startswith("kind=audit"):
                audit = line
        if not scale:
            continue
        head, rest = scale.split(" base: ", 1)
        h = kv(head)
        parts = dict(re.findall(r"(\w+): ((?:\w+=\d+\s*)+)", "base: " + rest))
        mem = {k: kv(v) for k, v in parts.items()}
        n = h["n"]
        t = lambda k: h[k] * 1e3
        u2, r2 = mem["unbound2"], mem["rebound2"]
        per_open_kib = (u2["Free"] - r2["Free"]) / n
        row = {
            "channels": n,
            "bind_to_connected_ms": t("t_connected") - t("t_bind"),
            "connected_to_offers_ms": t("t_offers") - t("t_connected"),
            "offers_to_probed_ms": t("t_probed") - t("t_offers"),
            "connect_to_probed_ms": t("t_probed") - t("t_bind"),
            "open_kib_per_channel": per_open_kib,
            "ring_kib": RING_PAGES * 4,
            "beyond_ring_pages_kib": per_open_kib - RING_PAGES * 4,
            "slab_kib_per_channel": (r2["Slab"] - u2["Slab"]) / n,
            "unreclaimable_slab_kib_per_channel": (r2["SUnreclaim"] - u2["SUnreclaim"]) / n,
            "memory": mem,
        }
        # Repeated connects (unbind, bind, all probed): the median and the
        # spread, (max - min) / median.
        runs = []
        for r in re.findall(r"rep=([\d.]+),([\d.]+),([\d.]+),([\d.]+)", reps or ""):
            b, c, o, pr = (float(x) * 1e3 for x in r)
            runs.append(pr - b)
        if runs:
            runs.sort()
            med = runs[len(runs) // 2]
            row["connect_to_probed_ms_runs"] = runs
            row["connect_to_probed_ms"] = med
            row["spread"] = (runs[-1] - runs[0]) / med if med else 0.0
        else:
            row["connect_to_probed_ms_runs"] = [row["connect_to_probed_ms"]]
            row["spread"] = 0.0
        row["ms_per_channel"] = row["connect_to_probed_ms"] / n
        if audit:
            m = re.search(r"(\d+) allocations", audit)
            row["shared_page_allocations"] = int(m.group(1)) if m else None
            row["page_audit"] = audit.split(" ", 2)[-1]
        rows.append(row)
    rows.sort(key=lambda r: r["channels"])
    return rows


def virtio_rows(out, name):
    """bench-virtio and bench-virtio-event (`name`): per test and device
    the median of its runs."""
    runs = {}
    for line in bench_lines(out / name / "console.log"):
        if not line.startswith("kind=virtio"):
            continue
        r = kv(line)
        runs.setdefault((r["test"], r["dev"]), []).append(r)
    rows = []
    for (test, dev), rs in sorted(runs.items()):
        def med(key):
            v = sorted(float(r.get(key, 0)) for r in rs)
            return v[len(v) // 2]
        if test == "net-rtt":
            speed = [1e3 / float(r["avg_ms"]) for r in rs if float(r.get("avg_ms", 0)) > 0]
            unit = "round trips/s"
        elif test in ("disk-read4k", "disk-randread", "disk-randwrite"):
            speed = [r["ops"] / float(r["secs"]) for r in rs if float(r["secs"]) > 0]
            unit = "IO/s"
        else:
            speed = [r["bytes"] / float(r["secs"]) for r in rs if float(r["secs"]) > 0]
            unit = "B/s"
        if not speed:
            continue
        speed.sort()
        m = speed[len(speed) // 2]
        row = {"test": test, "dev": dev, "runs": len(rs), "speed": m, "unit": unit,
               "spread": (speed[-1] - speed[0]) / m if m else 0.0,
               "rtt_ms": med("avg_ms"), "packets": med("packets"), "requests": med("requests"),
               "guest_irqs": med("guest_irqs")}
        if "host_signals_out" in rs[0]:
            row["host_signals_out"] = med("host_signals_out")
            row["host_signals_in"] = med("host_signals_in")
            row["host_monitor"] = med("host_monitor")
        # The profile (hp_: the host's, gp_: rvmbus's hops) of the run
        # with the median speed, so that its parts add up.
        mid = [r for r in rs if float(r["secs"]) > 0 and r.get("hp_requests")]
        if mid and test.startswith("disk"):
            def speed_of(r):
                return 1 / float(r["secs"])
            mid.sort(key=speed_of)
            m = mid[len(mid) // 2]
            row["profile"] = {k: v for k, v in m.items() if k.startswith(("hp_", "gp_"))}
            row["profile"]["secs"] = float(m["secs"])
        rows.append(row)
    return rows


def profile_tables(rows, how):
    """Where hv_storvsc's requests spend their time (the host's profile and
    rvmbus's hop timers), and the host's disk I/O straight to guest RAM
    against through a host buffer."""
    by = {(r["test"], r["dev"]): r for r in rows}
    prof, copy = [], []
    for test in ["disk-write", "disk-read", "disk-read4k", "disk-randread", "disk-randwrite"]:
        for dev in ["storvsc", "storvsc-copy"]:
            r = by.get((test, dev))
            p = r.get("profile") if r else None
            if not p or not p.get("hp_requests"):
                continue
            n = p["hp_requests"]

            def us(key):
                return f"{p.get(key, 0) / n / 1e3:.1f}"
            host = sum(p.get(k, 0) for k in ("hp_wake_ns", "hp_srb_ns", "hp_disk_ns", "hp_send_ns"))
            prof.append([test, "direct" if dev == "storvsc" else "copy", f"{n}",
                         f"{p['secs'] * 1e6 / n:.1f}", us("hp_gap_ns"), us("hp_wake_ns"), us("hp_srb_ns"),
                         us("hp_disk_ns"), us("hp_send_ns"), us("hp_signal_ns"), f"{host / n / 1e3:.1f}",
                         f"{p.get('hp_woken', 0) / n:.2f}", f"{p.get('hp_signals', 0) / n:.2f}",
                         f"{p.get('hp_nivcsw', 0) / n:.2f}",
                         us("gp_signal_ns"), us("gp_irq_to_tasklet_ns")])
        a, b = by.get((test, "storvsc")), by.get((test, "storvsc-copy"))
        if a and b and b["speed"]:
            copy.append([test, si(a["speed"], a["unit"]), si(b["speed"], b["unit"]),
                         f"{a['speed'] / b['speed']:.2f}",
                         f"{a['spread'] * 100:.0f}% / {b['spread'] * 100:.0f}%"])
    out = []
    if prof:
        out.append((f"Where hv_storvsc's requests spend their time, {how}: microseconds per request of the "
                    "run with the median speed (host: its storage profile, tools/vmbus-host/src/prof.rs; "
                    "guest: rvmbus's hop timers). io: the host's disk I/O straight to and from guest RAM "
                    "(direct) or through a host buffer (copy); period: the run's time over its requests; "
                    "outside: the host's last completion to the doorbell that woke it for this one; "
                    "wake: the wake-up to the request parsed (outside and wake only after a doorbell woke "
                    "the host, which monitor ids never do: its 1 ms poll finds the requests); "
                    "srb: parsed to the completion built, less the "
                    "disk I/O; disk: pread and pwrite of the backing file; send: the completion into the "
                    "ring and the guest signalled; of it signal: the signal (its eventfd write to QEMU); "
                    "host: wake to send; woken and signals: the host's "
                    "wake-ups and its signals to the guest per request; preempted: the times per request "
                    "the kernel took the CPU from the host process (involuntary context switches, "
                    "getrusage); signal call and irq to tasklet: "
                    "rvmbus's HvSignalEvent call and its interrupt to the channel's tasklet",
                    table(["test", "io", "requests", "period", "outside", "wake", "srb", "disk", "send",
                           "of it signal", "host", "woken", "signals", "preempted", "signal call", "irq to tasklet"], prof)))
    if copy:
        out.append((f"hv_storvsc with the host's disk I/O straight to and from guest RAM (direct) against "
                    f"through a host buffer (copy, vmbus-host's ``storage-io copy``), in turn in the same "
                    f"boot, {how} (the median of the runs; ratio: direct's speed over copy's)",
                    table(["test", "direct", "copy", "ratio", "spread direct / copy"], copy)))
    return out


def vtrace_rows(out, name):
    """The traced runs of bench-virtio (`name`): per test, device and pair
    of guest events that follow each other, the count and microseconds."""
    rows = []
    for line in bench_lines(out / name / "console.log"):
        if line.startswith("kind=vtrace"):
            rows.append(kv(line))
    return rows


def vtrace_table(rows, how):
    """The guest's events of each request in the traced runs."""
    if not rows:
        return []
    order = {"block_rq_issue": 0, "rvmbus_setevent": 1, "irq_handler_entry": 2, "rvmbus_on_event": 3,
             "block_rq_complete": 4}
    t = []
    for r in sorted(rows, key=lambda r: (r["test"], r["dev"] != "storvsc", order.get(r["from"], 9),
                                         order.get(r["to"], 9))):
        issued = r.get("issued") or 1
        if r["n"] < issued / 10:
            continue
        t.append([r["test"], r["dev"], f"{float(r['secs']) * 1e6 / issued:.1f}",
                  f"{r['from']} > {r['to']}", f"{r['n'] / issued:.2f}", f"{r['us'] / r['n']:.1f}",
                  f"{r['us'] / issued:.1f}"])
    return [(f"The guest's events of each request in one traced run per disk after the timed ones, {how} "
             "(tracefs: the block layer's issue and completion, the device's interrupt, rvmbus's signal to "
             "the host and its tasklet handing the event to the driver; period: the traced run's time over "
             "its requests, tracing included; per request: how often the pair follows each other; pairs "
             "seen in fewer than one request in ten left out)",
             table(["test", "driver", "period", "event > next event", "per request", "us each",
                    "us per request"], t))]


def virtio_tables(rows, event):
    """hv_storvsc and hv_netvsc on rvmbus against virtio in the same boot;
    `event`: the host's channels without monitor ids."""
    if not rows:
        return []
    how = ("channels signalled by HvSignalEvent (no monitor ids)" if event else
           "channels with monitor ids, as Hyper-V offers them; the host polls the monitor page each ms")
    by = {(r["test"], r["dev"]): r for r in rows}
    t, irq, dirq = [], [], []
    for test in ["disk-write", "disk-read", "disk-read4k", "disk-randread", "disk-randwrite",
                 "net-up", "net-down", "net-rtt"]:
        mine = by.get((test, "storvsc" if test.startswith("disk") else "netvsc"))
        base = by.get((test, "virtio"))
        if not mine or not base:
            continue
        if test == "net-rtt":
            a, b = f"{mine['rtt_ms'] * 1e3:.0f} us", f"{base['rtt_ms'] * 1e3:.0f} us"
        else:
            a, b = si(mine["speed"], mine["unit"]), si(base["speed"], base["unit"])
        t.append([test, mine["dev"], a, b, f"{mine['speed'] / base['speed']:.2f}",
                  f"{mine['spread'] * 100:.0f}% / {base['spread'] * 100:.0f}%"])
        if test.startswith("disk") and mine["requests"] and base["requests"]:
            dirq.append([test, f"{mine['requests']:.0f}", f"{base['requests']:.0f}",
                         f"{mine['guest_irqs'] / mine['requests']:.3f}",
                         f"{base['guest_irqs'] / base['requests']:.3f}",
                         f"{mine.get('host_signals_out', 0) / mine['requests']:.3f}",
                         f"{mine.get('host_signals_in', 0) / mine['requests']:.3f}",
                         f"{mine.get('host_monitor', 0) / mine['requests']:.3f}"])
        if test.startswith("net") and mine["packets"] and base["packets"]:
            irq.append([test, f"{mine['guest_irqs'] / mine['packets']:.3f}",
                        f"{base['guest_irqs'] / base['packets']:.3f}",
                        f"{mine.get('host_signals_out', 0) / mine['packets']:.3f}",
                        f"{mine.get('host_signals_in', 0) / mine['packets']:.3f}",
                        f"{mine.get('host_monitor', 0) / mine['packets']:.3f}"])
    runs = max(r["runs"] for r in rows)
    out = [(f"Linux's hv_storvsc and hv_netvsc on rvmbus against QEMU's virtio-blk and virtio-net in the "
            f"same boot, {how} (the median of {runs} runs each, in turn; disks: O_DIRECT, 1 MiB blocks, "
            f"4 KiB for read4k and the random ones, one at a time; ratio: rvmbus's speed over virtio's, above 1 faster; rtt: mean of 50 "
            f"adaptive pings)",
            table(["test", "driver", "rvmbus", "virtio", "ratio", "spread rvmbus / virtio"], t))]
    if dirq:
        out.append((f"Per request of each disk, {how}: the requests the block layer completed (its stat), "
                    "the guest's interrupts (rvmbus's line; virtio-blk's queue), the host's signals to the "
                    "guest and the guest's to the host (HvSignalEvent, monitor-page triggers; hv_storvsc only)",
                    table(["test", "storvsc requests", "virtio requests", "storvsc irqs", "virtio irqs",
                           "host signals", "guest signals", "guest monitor triggers"], dirq)))
    if irq:
        out.append((f"Per packet through each interface, {how}: the guest's interrupts (rvmbus's line; "
                    "virtio-net's queues), the host's signals to the guest and the guest's to the host "
                    "(HvSignalEvent, monitor-page triggers; hv_netvsc only)",
                    table(["test", "netvsc irqs", "virtio irqs", "host signals", "guest signals",
                           "guest monitor triggers"], irq)))
    return out + profile_tables(rows, how)


def si(v, unit):
    for div, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f} {p}{unit}"
    return f"{v:.1f} {unit}"


def table(header, rows):
    """A reStructuredText simple table."""
    cols = [header] + rows
    w = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    rule = "  ".join("=" * x for x in w)
    line = lambda r: "  ".join(str(c).ljust(x) for c, x in zip(r, w)).rstrip()
    return "\n".join([rule, line(header), rule] + [line(r) for r in rows] + [rule])


def paired(rows, before, after):
    """The rows measured both ways, by signal and size: (before row, after
    row, the first cells of their table line: size, signal, both medians,
    their ratio and both spreads)."""
    by = {(r["path"], r["signal"], r["size"]): r for r in rows}
    for (path, sig, size), b in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        a = by.get((after, sig, size)) if path == before else None
        if a:
            yield b, a, [size, sig, f"{b['rtt_p50_us']:.0f}", f"{a['rtt_p50_us']:.0f}",
                         f"{a['rtt_p50_us'] / b['rtt_p50_us']:.2f}",
                         f"{b['spread'] * 100:.0f}% / {a['spread'] * 100:.0f}%"]


PAIRED_HEADER = ["size", "signal", "RTT p50 us before", "after", "after/before", "spread before/after"]


def path_table(cmp):
    """The event paths side by side: single round trips with the events
    taken by the message work (irq_events=0) and in the interrupt handler
    with each channel's tasklet (irq_events=1), in turn in the same boot."""
    t = []
    for w, i, cells in paired(cmp, "cmp-work", "cmp-irq"):
        pw, pi = w["profile"], i["profile"]
        t.append(cells + [f"{pw['irq_to_work_per_packet']:.2f} / {pi['irq_to_work_per_packet']:.2f}",
                          f"{pi['irq_to_tasklet_per_packet']:.2f} x {pi['irq_to_tasklet_us']:.0f}",
                          f"{pw['kick_to_driver_per_packet']:.2f} / {pi['kick_to_driver_per_packet']:.2f}"])
    reps = max((r["repeats"] for r in cmp), default=0)
    return (f"Event paths in one run: the message work (irq_events=0, before) against the interrupt "
            f"handler and the channel's tasklet (irq_events=1, after); single round trips, the median "
            f"of {reps} runs each, in turn",
            table(PAIRED_HEADER + ["work items irq..channel before/after", "irq..tasklet (after)",
                                   "driver work items before/after"], t))


def callback_table(cb):
    """The Rust driver API's callback paths side by side: single round
    trips with the driver's packet and completion callbacks run from a work
    item per event (rust_cb_work=1, before) and in the channel's tasklet
    (rust_cb_work=0, after), loaded in turn in the same boot."""
    t = []
    for w, k, cells in paired(cb, "cb-work", "cb-tasklet"):
        pw, pk = w["profile"], k["profile"]
        t.append(cells + [f"{pw['kick_to_driver_per_packet']:.2f} x {pw['kick_to_driver_us']:.0f} / "
                          f"{pk['kick_to_driver_per_packet']:.2f}",
                          f"{pk['tasklet_dispatch_per_packet']:.2f} x {pk['tasklet_dispatch_us']:.0f}"])
    reps = max((r["repeats"] for r in cb), default=0)
    return (f"Rust driver callbacks in one run: a work item per event (rust_cb_work=1, before) against "
            f"the channel's tasklet (rust_cb_work=0, after); single round trips, the median of {reps} "
            f"runs each, in turn",
            table(PAIRED_HEADER + ["driver work items x us before / after", "tasklet deliveries x us (after)"], t))


def tables(data, scale):
    out = []
    cmp = [r for r in data if r["path"].startswith("cmp-")]
    data = [r for r in data if not r["path"].startswith("cmp-") and not r["path"].startswith("cb-")]
    if cmp:
        out.append(path_table(cmp))
    if data:
        t = []
        for r in data:
            if r["mode"].startswith("full"):
                continue
            t.append([r["size"], r["signal"], r["window"], si(r["packets_per_s"], "/s"),
                      f"{r['spread'] * 100:.0f}%", si(r["bytes_per_s"], "B/s"),
                      si(r["base_bytes_per_s"], "B/s"), f"{r['throughput_ratio'] * 100:.3f}%",
                      f"{r['rtt_p50_us']:.0f}", f"{r['rtt_p99_us']:.0f}", f"{r['base_rtt_us']:.2f}",
                      f"{r['rtt_ratio']:.0f}x"])
        reps = max(r["repeats"] for r in data)
        out.append((f"Echo round trips through rvmbus and the host (the median of {reps} runs; spread: "
                    "(max - min) / median of packets/s; ratio: to the copy baseline of the same run)",
                    table(["size", "signal", "window", "packets/s", "spread", "bytes/s", "copy bytes/s", "ratio",
                           "RTT p50 us", "RTT p99 us", "copy us", "RTT/copy"], t)))
        t = []
        for r in data:
            n = r["packets"]
            t.append([r["size"], r["signal"], r["mode"], r["window"], n,
                      f"{r['guest_signals'] / n:.3f}", f"{r['host_signals_seen'] / n:.3f}",
                      r["host_signals_unneeded"], f"{r['guest_interrupts'] / n:.3f}",
                      f"{r['host_signals_out'] / n:.3f}", f"{r['guest_ring_full'] / n:.3f}"])
        out.append(("Signals and interrupts per packet (full: 64 in flight fill the ring; no-pss: "
                     "without pending-send-size)",
                    table(["size", "signal", "mode", "window", "packets", "guest signals", "host saw",
                           "unneeded", "interrupts", "host signals", "ring full"], t)))
        t = []
        for r in data:
            if r["mode"] != "single":
                continue
            p = r["profile"]
            t.append([r["size"], r["signal"], f"{p['cycle_us']:.0f}",
                      f"{p['signal_calls_per_packet']:.2f} x {p['signal_call_us']:.0f}",
                      f"{p['host_signal_us']:.0f}", f"{p['mailbox_sleeps_per_call']:.2f}",
                      f"{p['irq_to_work_per_packet']:.2f} x {p['irq_to_work_us']:.0f}",
                      f"{p['irq_to_tasklet_per_packet']:.2f} x {p['irq_to_tasklet_us']:.0f}",
                      f"{p['kick_to_driver_per_packet']:.2f} x {p['kick_to_driver_us']:.0f}",
                      f"{p['rest_us']:.0f}"])
        out.append(("Where one request's time goes, one at a time (us; N x T: passes per packet x us per pass)",
                    table(["size", "signal", "per request", "signal call", "host in call", "mailbox sleeps",
                           "irq..work", "irq..tasklet", "kick..driver", "rest"], t)))
    if scale:
        t = [[r["channels"], f"{r['connect_to_probed_ms']:.1f}", f"{r['spread'] * 100:.0f}%",
              f"{r['bind_to_connected_ms']:.1f}",
              f"{r['connected_to_offers_ms']:.1f}", f"{r['offers_to_probed_ms']:.1f}",
              f"{r['ms_per_channel']:.2f}", f"{r['open_kib_per_channel']:.1f}",
              f"{r['beyond_ring_pages_kib']:.1f}",
              f"{r['slab_kib_per_channel']:.2f}", r.get("shared_page_allocations", "")]
             for r in scale]
        reps = max(len(r["connect_to_probed_ms_runs"]) for r in scale)
        out.append((f"Connect to all probed (the median of {reps} connects; spread: (max - min) / median; "
                    f"contact, offers and probe+open of the first), and memory per open channel "
                    f"({RING_PAGES * 4} KiB of ring pages)",
                    table(["channels", "connect..probed ms", "spread", "contact ms", "offers ms", "probe+open ms",
                           "ms/channel", "KiB/channel", "beyond ring pages",
                           "slab KiB/channel", "page allocations"], t)))
    return out


def linearity(scale):
    """How time and memory grow from each channel count to the next, and
    the time per channel against 16 channels' (the issue's bound: 1.5x)."""
    lines = []
    base = next((r for r in scale if r["channels"] == 16), None)
    if base:
        for r in scale:
            if r["channels"] > 16:
                lines.append(f"{r['channels']} channels: connect..probed per channel "
                             f"x{r['ms_per_channel'] / base['ms_per_channel']:.2f} of 16 channels' "
                             f"({r['ms_per_channel']:.2f} against {base['ms_per_channel']:.2f} ms, "
                             f"spreads {r['spread'] * 100:.0f}% and {base['spread'] * 100:.0f}%)")
    for a, b in zip(scale, scale[1:]):
        n = b["channels"] / a["channels"]
        t = b["connect_to_probed_ms"] / a["connect_to_probed_ms"]
        m = (b["open_kib_per_channel"] * b["channels"]) / (a["open_kib_per_channel"] * a["channels"])
        lines.append(f"{a['channels']} to {b['channels']} channels ({n:.0f}x): connect..probed x{t:.2f}, "
                     f"memory of the open channels x{m:.2f}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--json")
    ap.add_argument("--rst")
    args = ap.parse_args()
    out = Path(args.out)
    data, scale = aggregate(data_rows(out)), scale_rows(out)
    virtio, virtio_event = virtio_rows(out, "bench-virtio"), virtio_rows(out, "bench-virtio-event")
    vtrace, vtrace_event = vtrace_rows(out, "bench-virtio"), vtrace_rows(out, "bench-virtio-event")
    if not data and not scale and not virtio and not virtio_event:
        print(f"no @@BENCH lines under {out}", file=sys.stderr)
        return 1
    tabs = tables(data, scale)
    cb = [r for r in data if r["path"].startswith("cb-")]
    cbtabs = [callback_table(cb)] if cb else []
    vtabs = (virtio_tables(virtio, False)
             + vtrace_table(vtrace, "channels with monitor ids, as Hyper-V offers them")
             + virtio_tables(virtio_event, True)
             + vtrace_table(vtrace_event, "channels signalled by HvSignalEvent (no monitor ids)"))
    lin = linearity(scale)
    for title, t in cbtabs + tabs + vtabs:
        print(f"\n{title}\n{t}")
    for line in lin:
        print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"data": data, "scale": scale, "virtio": virtio,
                                               "virtio_event": virtio_event, "vtrace": vtrace,
                                               "vtrace_event": vtrace_event, "linearity": lin},
                                              indent=1) + "\n")
    if args.rst:
        p = Path(args.rst)
        text = p.read_text()
        # Each part's tables between its own markers, and only when this
        # run measured it: `make bench-virtio` keeps the echo tables.
        for begin, end, t, lines in [(RST_CB_BEGIN, RST_CB_END, cbtabs, []),
                                     (RST_BEGIN, RST_END, tabs, lin),
                                     (RST_VIRTIO_BEGIN, RST_VIRTIO_END, vtabs, [])]:
            if not t:
                continue
            b, e = text.find(begin), text.find(end)
            if b < 0 or e < b:
                print(f"{p}: no markers {begin!r}", file=sys.stderr)
                return 1
            gen = f"{begin} by ``make bench``; edits below are lost.\n\n"
            for title, tab in t:
                gen += f".. table:: {title}\n\n" + "".join(f"   {l}\n" for l in tab.splitlines()) + "\n"
            for line in lines:
                gen += f"- {line}\n"
            if lines:
                gen += "\n"
            text = text[:b] + gen + text[e:]
        p.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
