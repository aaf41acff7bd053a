#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Holds a /sys/bus/vmbus tree against tests/abi/sysfs-bus-vmbus.txt.

Every entry of the tree must be one the description lists for the
situation at hand, and every entry the description lists for it must be
there, with its kind, its mode and a value of its format (both directions:
no missing entry, no extra entry). What is true of the situation comes
from elsewhere than the tree: the host's list of channels (relid, class,
instance, monitor id, open or not, sub-channel index), the drivers loaded
and the devices bound to them, whether the platform can hibernate, and
whether the kernel has CONFIG_PM_ADVANCED_DEBUG (seen outside the tree).

    check_sysfs.py --abi FILE --root /sys/bus/vmbus --host-list TEXT
                   [--driver NAME]... [--bound RELID=NAME]...
                   --hibernation 0|1 [--pm-advanced-debug 0|1]
                   [--lsvmbus-output FILE]
    check_sysfs.py --self-test

--host-list takes the host's `list` answer (vmbus-host ctl list), on one
line or many. --lsvmbus-output takes what Linux's tools/hv/lsvmbus -vv
printed for the same tree; it must name every device with its relid, class
and instance and every channel with its relid. One line per problem, then
a summary; the exit status is 1 if there was a problem.

The guest runs this with the Python of its initramfs, which carries only
the few standard modules this file and lsvmbus import (see
tests/harness/run.py): keep the imports to os, sys, re, errno and stat.
"""

import errno
import os
import re
import stat
import sys

UNKNOWN_ERRNO = -1

# In the self-test, a regular file with this content reads as EINVAL, as a
# ring attribute of a closed channel does in sysfs.
EINVAL_MARK = "<EINVAL>\n"
SELF_TEST = False


class Entry:
    """One line of the description."""

    def __init__(self, path, kind, mode, value, when, line):
        self.path, self.kind, self.value, self.when, self.line = path, kind, value, when, line
        self.mode = None if mode == "-" else int(mode, 8)


def parse_abi(path):
    """The entries and the devtype table of the description at path."""
    entries, devtypes, unknown = [], {}, None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            w = line.split()
            if w[0] == "devtype" and len(w) == 3:
                devtypes[w[1].lower()] = int(w[2])
            elif w[0] == "devtype-unknown" and len(w) == 2:
                unknown = int(w[1])
            elif len(w) == 5 and w[1] in ("file", "dir", "link", "bin"):
                entries.append(Entry(w[0], w[1], w[2], w[3], w[4], n))
            else:
                raise SystemExit(f"{path}:{n}: cannot parse: {raw.rstrip()}")
    if unknown is None:
        raise SystemExit(f"{path}: no devtype-unknown line")
    return entries, devtypes, unknown


def parse_host_list(text):
    """The channels of the host's list answer: dicts with relid, cls,
    instance, monitor (None if none), open and sub."""
    chans = []
    for part in re.split(r"(?=\brelid=\d)", text):
        kv = dict(re.findall(r"\b(\w+)=(\S+)", part))
        if "relid" not in kv:
            continue
        if kv.get("state") == "rescinded":
            continue
        chans.append({
            "relid": int(kv["relid"]),
            "cls": kv["class"].strip("{}").lower(),
            "instance": kv["instance"].strip("{}").lower(),
            "monitor": None if kv.get("monitor", "-") == "-" else int(kv["monitor"]),
            "open": kv.get("state") == "open",
            "sub": int(kv.get("sub", "0")),
        })
    return chans


def guid_bytes_hex(g):
    """The 16 bytes of GUID string g as they lie in memory, in hex."""
    p = g.split("-")
    le = lambda s: "".join(reversed([s[i:i + 2] for i in range(0, len(s), 2)]))
    return le(p[0]) + le(p[1]) + le(p[2]) + p[3] + p[4]


class Situation:
    """What is true of the tree, from outside it."""

    def __init__(self, chans, drivers, bound, devtypes, unknown):
        self.devices = {}  # instance -> {"primary": chan, "chans": {relid: chan}}
        for c in chans:
            d = self.devices.setdefault(c["instance"], {"primary": None, "chans": {}})
            d["chans"][c["relid"]] = c
            if c["sub"] == 0:
                d["primary"] = c
        for inst, d in list(self.devices.items()):
            if d["primary"] is None:
                del self.devices[inst]
        self.drivers = set(drivers)
        self.bound = {}  # instance -> driver
        by_relid = {d["primary"]["relid"]: inst for inst, d in self.devices.items()}
        for relid, drv in bound:
            if relid in by_relid:
                self.bound[by_relid[relid]] = drv
            self.drivers.add(drv)
        self.devtypes, self.unknown = devtypes, unknown
        self.hibernation = None
        # The kernel has CONFIG_PM_ADVANCED_DEBUG (more files in power/).
        self.pmdebug = False

    def devtype(self, cls):
        return self.devtypes.get(cls, self.unknown)


def instantiate(entries, sit):
    """Every path the description names for the situation: {path: (entry,
    shown, context)}; shown is false where Linux would not show it."""
    out = {}
    for e in entries:
        if e.path.startswith("devices/{dev}"):
            for inst, d in sit.devices.items():
                dev_path = e.path.replace("{dev}", inst)
                if "{relid}" in dev_path:
                    for relid, c in d["chans"].items():
                        p = dev_path.replace("{relid}", str(relid))
                        out[p] = (e, shown(e, c, inst, sit), {"inst": inst, "chan": c})
                else:
                    out[dev_path] = (e, shown(e, d["primary"], inst, sit), {"inst": inst, "chan": d["primary"]})
        elif e.path.startswith("drivers/{drv}"):
            for drv in sit.drivers:
                p = e.path.replace("{drv}", drv)
                if "{bound}" in p:
                    for inst, b in sit.bound.items():
                        if b == drv:
                            out[p.replace("{bound}", inst)] = (e, True, {"inst": inst, "drv": drv})
                else:
                    out[p] = (e, e.when == "always", {"drv": drv})
        else:
            out[e.path] = (e, e.when == "always", {})
    return out


def shown(e, chan, inst, sit):
    if e.when == "always":
        return True
    if e.when == "monitored":
        return chan["monitor"] is not None
    if e.when == "bound":
        return inst in sit.bound
    if e.when == "pmdebug":
        return sit.pmdebug
    return False


def walk(root):
    """The tree under root: {relative path: (kind, mode)}. The devices/
    links are followed once, to their directories; no other link is."""
    tree = {}

    def add(rel, full):
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            tree[rel] = ("link", None)
        elif stat.S_ISDIR(st.st_mode):
            tree[rel] = ("dir", None)
            for name in sorted(os.listdir(full)):
                add(rel + "/" + name, os.path.join(full, name))
        else:
            kind = "file"
            tree[rel] = (kind, stat.S_IMODE(st.st_mode))

    for name in sorted(os.listdir(root)):
        full = os.path.join(root, name)
        if name == "devices":
            tree["devices"] = ("dir", None)
            for dev in sorted(os.listdir(full)):
                link = os.path.join(full, dev)
                tree["devices/" + dev] = ("link" if os.path.islink(link) else "dir", None)
                target = os.path.realpath(link)
                for n2 in sorted(os.listdir(target)):
                    add("devices/" + dev + "/" + n2, os.path.join(target, n2))
        else:
            add(name, full)
    return tree


def read(path):
    """(text, None) or (None, errno)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        return None, e.errno
    if SELF_TEST and text == EINVAL_MARK:
        return None, errno.EINVAL
    return text, None


NUM = {"u": r"[0-9]+", "d": r"-?[0-9]+", "hex": r"0x[0-9a-f]+", "bool": r"[01]",
       "guid": r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"}


def expected_fact(fact, ctx, sit, tree_vals):
    c = ctx.get("chan")
    if fact == "relid":
        return str(c["relid"])
    if fact == "class":
        return "{" + c["cls"] + "}"
    if fact == "instance":
        return "{" + ctx["inst"] + "}"
    if fact == "state":
        return "3" if c["open"] else "2"
    if fact == "devtype":
        return "0x%x" % sit.devtype(c["cls"])
    if fact == "vendor":
        return "0x1414"
    if fact == "monitor":
        return str(c["monitor"])
    if fact == "sub":
        return str(c["sub"])
    if fact == "cpu":
        return tree_vals.get(("cpu", ctx["inst"], c["relid"]))
    if fact == "hibernation":
        return sit.hibernation
    raise SystemExit(f"unknown fact {fact}")


def check_value(path, rel, e, ctx, sit, problems, tree_vals):
    spec = e.value
    if spec in ("-", "target"):
        return
    at_open = spec.endswith("@open")
    if at_open:
        spec = spec[: -len("@open")]
    text, err = read(path)
    if at_open and not ctx["chan"]["open"]:
        if err != errno.EINVAL:
            problems.append(f"{rel}: reads {text!r} (errno {err}) while the channel is closed; Linux fails with EINVAL")
        return
    if err is not None:
        problems.append(f"{rel}: read fails with errno {err}")
        return
    kind, _, fact = spec.partition(":")
    val = text[:-1]
    if kind not in ("vpmap", "uevent") and (not text.endswith("\n") or "\n" in val):
        problems.append(f"{rel}: {text!r} is not one line")
        return
    if kind in NUM:
        if not re.fullmatch(NUM[kind], val):
            problems.append(f"{rel}: {val!r} is not of format {kind}")
            return
        if fact:
            want = expected_fact(fact, ctx, sit, tree_vals)
            if val != want:
                problems.append(f"{rel}: {val!r}, want {want!r} ({fact})")
    elif kind == "modalias":
        want = "vmbus:" + guid_bytes_hex(ctx["chan"]["cls"])
        if val != want:
            problems.append(f"{rel}: {val!r}, want {want!r}")
    elif kind == "vpmap":
        lines = text.splitlines()
        got = {}
        for ln in lines:
            m = re.fullmatch(r"([0-9]+):([0-9]+)", ln)
            if not m:
                problems.append(f"{rel}: line {ln!r} is not RELID:CPU")
                return
            got[int(m.group(1))] = m.group(2)
        want = set(sit.devices[ctx["inst"]]["chans"])
        if set(got) != want:
            problems.append(f"{rel}: relids {sorted(got)}, want {sorted(want)}")
        for r, cpu in got.items():
            tree_vals[("cpu", ctx["inst"], r)] = cpu
    elif kind == "uevent":
        keys = {}
        for ln in text.splitlines():
            k, eq, v = ln.partition("=")
            if not eq:
                problems.append(f"{rel}: line {ln!r} is not KEY=VALUE")
                continue
            keys[k] = v
        want = {"MODALIAS": "vmbus:" + guid_bytes_hex(ctx["chan"]["cls"])}
        if ctx["inst"] in sit.bound:
            want["DRIVER"] = sit.bound[ctx["inst"]]
        for k in sorted(set(keys) - set(want)):
            problems.append(f"{rel}: key {k}={keys[k]} that Linux's uevent does not have")
        for k in sorted(want):
            if keys.get(k) != want[k]:
                problems.append(f"{rel}: {k}={keys.get(k)!r}, want {want[k]!r}")
    else:
        raise SystemExit(f"line {e.line}: unknown value format {e.value}")


def check(root, entries, sit):
    """The problems of the tree at root; also the number of entries checked."""
    problems = []
    tree = walk(root)
    want = instantiate(entries, sit)
    # Which devices and drivers exist at all is a fact, not a pattern.
    got_devs = {p.split("/")[1] for p in tree if p.startswith("devices/") and p.count("/") == 1}
    for d in sorted(got_devs - set(sit.devices)):
        problems.append(f"devices/{d}: a device the host did not offer (or rescinded)")
    got_drvs = {p.split("/")[1] for p in tree if p.startswith("drivers/") and p.count("/") == 1}
    for d in sorted(got_drvs - sit.drivers):
        problems.append(f"drivers/{d}: a driver that should not be registered")
    for p in sorted(tree):
        if p in want:
            e, show, _ = want[p]
            if not show:
                why = {"monitored": "for a channel with a monitor id",
                       "bound": "while a driver is bound",
                       "never": "once a driver asks for it (hv_create_ring_sysfs)",
                       "pmdebug": "with CONFIG_PM_ADVANCED_DEBUG"}.get(e.when, e.when)
                problems.append(f"{p}: extra: Linux shows it only {why} (line {e.line})")
        elif not any(p == d or p.startswith(d + "/") for d in
                     ["devices/" + x for x in got_devs - set(sit.devices)] +
                     ["drivers/" + x for x in got_drvs - sit.drivers]):
            problems.append(f"{p}: extra: not in Linux's tree")
    tree_vals = {}
    checked = 0
    # vp mappings first: they give the channels' CPUs.
    order = sorted(want, key=lambda p: (not p.endswith("channel_vp_mapping"), p))
    for p in order:
        e, show, ctx = want[p]
        if not show:
            continue
        if p not in tree:
            problems.append(f"{p}: missing (line {e.line})")
            continue
        kind, mode = tree[p]
        want_kind = "file" if e.kind == "bin" else e.kind
        if kind != want_kind:
            problems.append(f"{p}: a {kind}, want a {e.kind}")
            continue
        if e.mode is not None and mode != e.mode:
            problems.append(f"{p}: mode {mode:04o}, want {e.mode:04o}")
        checked += 1
        full = os.path.join(root, p)
        if e.value == "target":
            t = os.path.realpath(full)
            if os.path.basename(t) != ctx["inst"] or not os.path.isdir(t):
                problems.append(f"{p}: points to {t}, not to the device's directory")
            continue
        check_value(full, p, e, ctx, sit, problems, tree_vals)
    return problems, checked


def check_lsvmbus(text, sit):
    """Problems of lsvmbus -vv's output for the situation."""
    problems = []
    devs, cur = {}, None
    for ln in text.splitlines():
        m = re.match(r"VMBUS ID\s+(\d+): Class_ID = (\{[^}]*\}) - (.*)$", ln)
        if m:
            cur = {"relid": int(m.group(1)), "cls": m.group(2), "desc": m.group(3), "chans": set(), "inst": None}
            devs[cur["relid"]] = cur
            continue
        m = re.match(r"\s+Device_ID = (\S+)$", ln)
        if m and cur:
            cur["inst"] = m.group(1)
            continue
        m = re.match(r"\s+Rel_ID=(\d+), target_cpu=(\d+)$", ln)
        if m and cur:
            cur["chans"].add(int(m.group(1)))
    want = {d["primary"]["relid"]: (inst, d) for inst, d in sit.devices.items()}
    if set(devs) != set(want):
        problems.append(f"lsvmbus: devices {sorted(devs)}, want {sorted(want)}")
    for relid in sorted(set(devs) & set(want)):
        inst, d = want[relid]
        got = devs[relid]
        if got["cls"] != "{" + d["primary"]["cls"] + "}":
            problems.append(f"lsvmbus: relid {relid}: class {got['cls']}, want {{{d['primary']['cls']}}}")
        if got["inst"] != "{" + inst + "}":
            problems.append(f"lsvmbus: relid {relid}: Device_ID {got['inst']}, want {{{inst}}}")
        if got["chans"] != set(d["chans"]):
            problems.append(f"lsvmbus: relid {relid}: channels {sorted(got['chans'])}, want {sorted(d['chans'])}")
    return problems, len(devs)


def main(argv):
    args = {"--driver": [], "--bound": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--self-test":
            return self_test()
        if i + 1 >= len(argv):
            raise SystemExit(f"{a} needs a value")
        if a in ("--driver", "--bound"):
            args[a].append(argv[i + 1])
        else:
            args[a] = argv[i + 1]
        i += 2
    entries, devtypes, unknown = parse_abi(args["--abi"])
    chans = parse_host_list(args["--host-list"])
    bound = []
    for b in args["--bound"]:
        r, _, d = b.partition("=")
        bound.append((int(r), d))
    sit = Situation(chans, args["--driver"], bound, devtypes, unknown)
    sit.hibernation = args["--hibernation"]
    sit.pmdebug = args.get("--pm-advanced-debug", "0") == "1"
    problems, checked = check(args.get("--root", "/sys/bus/vmbus"), entries, sit)
    summary = (f"{checked} entries of {len(sit.devices)} devices, "
               f"{sum(len(d['chans']) for d in sit.devices.values())} channels, {len(sit.drivers)} drivers")
    if "--lsvmbus-output" in args:
        with open(args["--lsvmbus-output"]) as f:
            p2, n = check_lsvmbus(f.read(), sit)
        problems += p2
        summary += f"; lsvmbus named {n} devices"
    for p in problems:
        print("ABI: " + p)
    print(f"ABI: {'PASS' if not problems else 'FAIL'} {summary}, {len(problems)} problems")
    return 1 if problems else 0


# ---- Self-test: the checker fails where it must ---------------------------

def self_test():
    """Builds a tree as Linux would show it from the description, checks
    that it passes, then breaks it in one way at a time and checks that
    each break is found."""
    global SELF_TEST
    import shutil
    import tempfile

    SELF_TEST = True
    here = os.path.dirname(os.path.abspath(__file__))
    entries, devtypes, unknown = parse_abi(os.path.join(here, "sysfs-bus-vmbus.txt"))
    hb, ec = "57164f39-9115-4e78-ab55-382f3bd5422d", "2e1c0f5a-8b1d-4a8e-9c3f-72766d627573"
    i1, i4 = "72766d62-0001-0001-8000-000000000000", "72766d62-0004-0001-8000-000000000000"
    host = (f"ok relid=1 type=heartbeat class={hb} instance={i1} monitor=- state=open "
            f"relid=4 type=echo class={ec} instance={i4} monitor=3 state=offered "
            f"relid=5 type=echo class={ec} instance={i4} monitor=4 state=open sub=1")
    sit = Situation(parse_host_list(host), ["rvmbus_heartbeat"], [(1, "rvmbus_heartbeat")],
                    devtypes, unknown)
    sit.hibernation = "1"

    def build(root):
        os.makedirs(root)
        real = os.path.join(root, "..", "devices-real")
        os.makedirs(real)
        vals = {}
        for p, (e, show, ctx) in sorted(instantiate(entries, sit).items()):
            if not show:
                continue
            if p.startswith("devices/") and p.count("/") == 1:
                os.makedirs(os.path.join(real, ctx["inst"]), exist_ok=True)
                os.symlink(os.path.join(real, ctx["inst"]), os.path.join(root, p))
                continue
            full = os.path.join(root, p) if not p.startswith("devices/") else \
                os.path.join(real, p.split("/", 2)[1], p.split("/", 2)[2])
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if e.kind == "dir":
                os.makedirs(full, exist_ok=True)
            elif e.kind == "link":
                target = os.path.join(real, ctx["inst"]) if e.value == "target" else real
                os.symlink(target, full)
            else:
                with open(full, "w") as f:
                    f.write(fake_value(e, ctx, sit))
                os.chmod(full, e.mode)
        return vals

    def fake_value(e, ctx, sit):
        spec = e.value
        if spec == "-":
            return ""
        if spec.endswith("@open"):
            if not ctx["chan"]["open"]:
                return EINVAL_MARK
            spec = spec[:-5]
        kind, _, fact = spec.partition(":")
        if fact == "cpu":
            return "0\n"
        if fact:
            return expected_fact(fact, ctx, sit, {}) + "\n"
        if kind in ("u", "d", "bool"):
            return "0\n"
        if kind == "modalias":
            return "vmbus:" + guid_bytes_hex(ctx["chan"]["cls"]) + "\n"
        if kind == "vpmap":
            return "".join(f"{r}:0\n" for r in sorted(sit.devices[ctx["inst"]]["chans"]))
        if kind == "uevent":
            s = "MODALIAS=vmbus:" + guid_bytes_hex(ctx["chan"]["cls"]) + "\n"
            if ctx["inst"] in sit.bound:
                s = "DRIVER=" + sit.bound[ctx["inst"]] + "\n" + s
            return s
        raise SystemExit(f"self-test: no fake value for {e.value}")

    dev1 = f"devices-real/{i1}"
    dev4 = f"devices-real/{i4}"
    breaks = [
        ("nothing broken", None, 0),
        ("a missing device file", lambda t: os.unlink(f"{t}/{dev1}/state"), 1),
        ("an extra device file", lambda t: open(f"{t}/{dev1}/extra", "w").close(), 1),
        ("a monitor file on an unmonitored channel",
         lambda t: open(f"{t}/{dev1}/channels/1/pending", "w").close(), 1),
        ("a missing monitor file", lambda t: os.unlink(f"{t}/{dev4}/channels/5/latency"), 1),
        ("a wrong mode", lambda t: os.chmod(f"{t}/{dev4}/channels/4/cpu", 0o444), 1),
        ("a wrong state", lambda t: write(f"{t}/{dev4}/state", "1\n"), 1),
        ("a wrong device type", lambda t: write(f"{t}/{dev4}/device", "0x0\n"), 1),
        ("a closed ring that reads", lambda t: write(f"{t}/{dev4}/in_read_index", "0\n"), 1),
        ("an extra uevent key", lambda t: write(f"{t}/{dev4}/uevent",
                                                "MODALIAS=vmbus:" + guid_bytes_hex(ec) + "\nDEVICE_ID={x}\n"), 1),
        ("a ring file", lambda t: open(f"{t}/{dev4}/channels/4/ring", "w").close(), 1),
        ("a driver without new_id", lambda t: os.unlink(f"{t}/tree/drivers/rvmbus_heartbeat/new_id"), 1),
        ("a missing channel in the vp mapping", lambda t: write(f"{t}/{dev4}/channel_vp_mapping", "4:0\n"), 1),
        ("an extra bus file", lambda t: open(f"{t}/tree/extra", "w").close(), 1),
        ("hibernation said to be impossible", lambda t: write(f"{t}/tree/hibernation", "0\n"), 1),
        ("a debug-only power file", lambda t: open(f"{t}/{dev4}/power/async", "w").close(), 1),
    ]
    failed = 0
    tmp = tempfile.mkdtemp(prefix="abi-self-test-")
    try:
        for name, brk, want in breaks:
            top = os.path.join(tmp, "t")
            shutil.rmtree(top, ignore_errors=True)
            os.makedirs(top)
            build(os.path.join(top, "tree"))
            if brk:
                brk(top)
            problems, _ = check(os.path.join(top, "tree"), entries, sit)
            ok = (len(problems) >= want) if want else not problems
            print(f"self-test {name}: {'ok' if ok else 'WRONG'} ({len(problems)} problems)")
            for p in problems[:3]:
                print("    " + p)
            failed += not ok
        lsv = ("VMBUS ID  1: Class_ID = {%s} - [Heartbeat]\n\tDevice_ID = {%s}\n\tSysfs path: x\n"
               "\tRel_ID=1, target_cpu=0\n\n"
               "VMBUS ID  4: Class_ID = {%s} - Unknown\n\tDevice_ID = {%s}\n\tSysfs path: y\n"
               "\tRel_ID=4, target_cpu=0\n\tRel_ID=5, target_cpu=1\n\n") % (hb, i1, ec, i4)
        for name, text, want in [("lsvmbus as it should be", lsv, 0),
                                 ("lsvmbus missing a channel", lsv.replace("\tRel_ID=5, target_cpu=1\n", ""), 1),
                                 ("lsvmbus with a wrong class", lsv.replace("[Heartbeat]", "x").replace(hb, ec, 1), 1)]:
            problems, _ = check_lsvmbus(text, sit)
            ok = (len(problems) >= want) if want else not problems
            print(f"self-test {name}: {'ok' if ok else 'WRONG'} ({len(problems)} problems)")
            failed += not ok
    finally:
        shutil.rmtree(tmp)
    print(f"self-test: {'PASS' if not failed else 'FAIL'} ({failed} wrong)")
    return 1 if failed else 0


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
