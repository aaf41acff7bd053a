#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""rvmbus under real Hyper-V emulation: nested KVM under QEMU's TCG.

L0 (this machine) boots L1 under TCG with emulated AMD SVM; L1 is Debian's
cloud kernel with kvm_amd and a cached trixie root with QEMU 10
(scripts/setup-nested.sh); L1 boots L2, the same kernel, as a Hyper-V
guest of KVM's Hyper-V emulation with QEMU's VMBus server (vmbus-bridge)
and Dynamic Memory device (hv-balloon). One L1 boot runs every L2 boot in
turn (tests/nested/l1-init); each L2 boot runs a script of
tests/nested/ and reports on its second serial port, which L1 passes on
to L0 through its kernel log on its console (l1-console.log under --out;
results.txt there keeps L1's lines). An L1 that stops passing lines on
gets one more try, in a fresh L1, for the L2 boots it did not finish.

Prints one line per scenario, as tests/harness/run.py does:

    SCENARIO <name>: PASS|FAIL <detail>

and "scenarios: N passed, M failed" last; the exit status is non-zero if
anything failed. hyperv-sysfs compares rvmbus's /sys/bus/vmbus tree and
lsvmbus -vv with those of the kernel's C hv_vmbus in the same L2 (the
cdriver boot); a
difference fails unless Documentation/testing.rst lists it with its
reason. With --demo (make run-hyperv) it also shows L2's kernel log lines
of rvmbus, lsvmbus, rvmbus's counters and the balloon's progress as they
come.
"""

import argparse
import importlib.util
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "nested"

_spec = importlib.util.spec_from_file_location("harness", REPO / "tests" / "harness" / "run.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

# The L2 boots of L1's /init, and the scenarios each must report.
BOOTS = {
    "cdriver": ["hyperv-c-reference"],
    "rvmbus": ["hyperv-connect", "hyperv-rmmod", "hyperv-balloon"],
    "smp": ["hyperv-smp", "hyperv-kexec"],
    "crash": ["hyperv-crash"],
    "debug": ["hyperv-debug"],
}

# What rvmbus's kexec and crash handlers must have logged on L2's console
# on the way out of the first kernel (with the balloon channel open on CPU
# 1). A crash turns off only the crashing CPU's SynIC: no other CPU can be
# asked.
WAY_OUT = {
    "hyperv-kexec": re.compile(r"way out \(kexec or restart\): the host answered UNLOAD; "
                               r"SynIC off on 2 CPUs \(0 left on\)"),
    "hyperv-crash": re.compile(r"way out \(crash\): the host answered UNLOAD; "
                               r"SynIC off on 1 CPUs \(1 left on\)"),
}

# The list of sysfs/lsvmbus differences rvmbus may have from the C driver
# sits in Documentation/testing.rst between these two lines, one
# "- ``PATTERN``: reason" item each (PATTERN a shell-style glob on the
# path below the device, or "lsvmbus: LINE").
DIFF_START = ".. nested-sysfs-differences-start"
DIFF_END = ".. nested-sysfs-differences-end"


def log(msg):
    print(msg, flush=True)


def kmod(kernel: Path, rel: str) -> bytes:
    """A module of Debian's modules package next to the vmlinuz, decompressed."""
    return lzma.decompress((kernel.parent / "kernel" / rel).read_bytes())


def l2_initramfs(out: Path, args) -> tuple:
    """Packs L2's initramfs: busybox, tests/nested's /init and boots,
    rvmbus.ko, hv_balloon.ko and msr.ko (the plain image); returns the
    plain image with Python and lsvmbus, and the plain image with kexec and
    a copy of itself for the second kernel."""
    root = out / "l2-root"
    if root.exists():
        shutil.rmtree(root)
    for d in ("bin", "sbin", "proc", "sys", "dev", "tmp", "nested", "modules", "abi"):
        (root / d).mkdir(parents=True)
    shutil.copy2(args.busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    shutil.copy2(HERE / "l2-init", root / "init")
    os.chmod(root / "init", 0o755)
    shutil.copy2(REPO / "tests" / "guest" / "poweroff", root / "sbin" / "poweroff")
    os.chmod(root / "sbin" / "poweroff", 0o755)
    for n in BOOTS:
        shutil.copy2(HERE / f"{n}.sh", root / "nested" / f"{n}.sh")
    shutil.copy2(HERE / "l2-lib.sh", root / "nested" / "lib.sh")
    (root / "nested" / "bad.re").write_text(harness.BAD.pattern + "\n")
    shutil.copy2(args.rvmbus, root / "modules" / "rvmbus.ko")
    shutil.copy2(args.balloon, root / "modules" / "hv_balloon.ko")
    (root / "modules" / "msr.ko").write_bytes(kmod(args.kernel, "arch/x86/kernel/msr.ko.xz"))
    # Debian's own hv_balloon, for the C driver's reference boot.
    (root / "modules" / "hv_balloon-c.ko").write_bytes(kmod(args.kernel, "drivers/hv/hv_balloon.ko.xz"))
    plain = harness.pack(root, out / "l2-plain.cpio.gz")
    overlay = harness.python_overlay(out, Path(args.python_root), Path(args.lsvmbus))
    with_python = out / "l2-python.cpio.gz"
    with_python.write_bytes(plain.read_bytes() + overlay.read_bytes())
    # The second kernel of a kexec gets the plain image: with the Python
    # overlay (8.6 MB instead of 3.2 MB) the kexec'd kernel never reported
    # in 3 of 3 tries (twice L2 ran into L1's time limit, once L1 itself
    # hung), while with the plain image it passed.
    harness.add_kexec(root, Path(args.kexec), args.kernel, plain)
    return with_python, harness.pack(root, out / "l2-kexec.cpio.gz")


def l2_debug_initramfs(out: Path, args) -> Path:
    """Packs L2's initramfs for the debug kernel: the plain image's files
    with rvmbus.ko built for the debug kernel and that kernel's own
    hv_balloon.ko (its msr driver is built in)."""
    root = out / "l2-root-debug"
    if root.exists():
        shutil.rmtree(root)
    src = out / "l2-root"

    def kexec_parts(d, names):
        """What add_kexec put in: kexec, its libraries, the next kernel."""
        if Path(d) == src:
            return [n for n in names if n in ("kexec", "lib", "lib64", "usr")]
        return ["kexec"] if Path(d) == src / "sbin" else []
    shutil.copytree(src, root, symlinks=True, ignore=kexec_parts)
    for f in (root / "modules").iterdir():
        f.unlink()
    shutil.copy2(args.debug_rvmbus, root / "modules" / "rvmbus.ko")
    shutil.copy2(args.debug_balloon, root / "modules" / "hv_balloon.ko")
    return harness.pack(root, out / "l2-debug.cpio.gz")


def l1_initramfs(out: Path, args, l2_python: Path, l2_kexec: Path, l2_debug) -> Path:
    root = out / "l1-root"
    if root.exists():
        shutil.rmtree(root)
    for d in ("bin", "sbin", "proc", "sys", "dev", "tmp", "modules", "l2"):
        (root / d).mkdir(parents=True)
    shutil.copy2(args.busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    shutil.copy2(HERE / "l1-init", root / "init")
    os.chmod(root / "init", 0o755)
    for name, rel in (("virtio_blk", "drivers/block/virtio_blk.ko.xz"), ("irqbypass", None),
                      ("kvm", "arch/x86/kvm/kvm.ko.xz"), ("kvm-amd", "arch/x86/kvm/kvm-amd.ko.xz")):
        if name == "irqbypass":
            p = next((args.kernel.parent / "kernel").rglob("irqbypass.ko.xz"))
            data = lzma.decompress(p.read_bytes())
        else:
            data = kmod(args.kernel, rel)
        (root / "modules" / f"{name}.ko").write_bytes(data)
    shutil.copyfile(args.kernel, root / "l2" / "vmlinuz")
    shutil.copyfile(l2_python, root / "l2" / "initrd-python.img")
    shutil.copyfile(l2_kexec, root / "l2" / "initrd-kexec.img")
    if l2_debug:
        shutil.copyfile(args.debug_kernel, root / "l2" / "vmlinuz-debug")
        shutil.copyfile(l2_debug, root / "l2" / "initrd-debug.img")
    return harness.pack(root, out / "l1.cpio.gz")


def allowed_differences(suffix=""):
    """The documented differences: (glob, reason) pairs; suffix "-bound"
    reads the list for the trees with hv_balloon bound."""
    text = (REPO / "Documentation" / "testing.rst").read_text()
    start, end = DIFF_START + suffix + "\n", DIFF_END + suffix + "\n"
    if start not in text or end not in text:
        return []
    block = text.split(start, 1)[1].split(end, 1)[0]
    return re.findall(r"^- ``([^`]+)``: (.+)$", block, re.M)


def compare_trees(lines, suffix=""):
    """Compares the C driver's and rvmbus's dumps tagged c<suffix> and
    rvmbus<suffix>; returns (ok, detail). The bound dumps (suffix
    "-bound") have no lsvmbus output and take their documented differences
    from the second list."""
    import fnmatch

    trees = {"c": {}, "rvmbus": {}}
    ls = {"c": [], "rvmbus": []}
    tag = re.compile(rf"@@(SYSFS|LSVMBUS) (c|rvmbus){re.escape(suffix)}(?: (.*))?$")
    for line in lines:
        m = tag.match(line)
        if not m:
            continue
        if m.group(1) == "SYSFS":
            f = re.match(r"(\S+) = ?(.*)$", m.group(3) or "")
            if f:
                # The path below the device directory (its name is the GUID).
                path = f.group(1).split("/", 1)[1] if "/" in f.group(1) else f.group(1)
                trees[m.group(2)][path] = f.group(2)
        else:
            ls[m.group(2)].append((m.group(3) or "").strip())
    if not trees["c"] or not trees["rvmbus"]:
        return False, f"missing a dump (C driver: {len(trees['c'])} files, rvmbus: {len(trees['rvmbus'])})"
    allowed = allowed_differences(suffix)

    def excused(key):
        return any(fnmatch.fnmatchcase(key, pat) for pat, _ in allowed)

    diffs, excused_n = [], 0
    for path in sorted(set(trees["c"]) | set(trees["rvmbus"])):
        a, b = trees["c"].get(path), trees["rvmbus"].get(path)
        if a == b:
            continue
        if excused(path):
            excused_n += 1
            continue
        if a is None:
            diffs.append(f"{path}: only with rvmbus ({b})")
        elif b is None:
            diffs.append(f"{path}: only with the C driver ({a})")
        else:
            diffs.append(f"{path}: C '{a}', rvmbus '{b}'")
    if not suffix:
        if ls["c"] != ls["rvmbus"] and not excused("lsvmbus: *"):
            diffs.append(f"lsvmbus -vv: C {ls['c']} != rvmbus {ls['rvmbus']}")
        if not ls["c"]:
            diffs.append("no lsvmbus output")
    if diffs:
        return False, f"{len(diffs)} undocumented differences: " + "; ".join(diffs[:8])
    return True, (f"{len(trees['c'])} files of the C driver's tree, {len(trees['rvmbus'])} of rvmbus's; "
                  f"{excused_n} documented differences"
                  + ("" if suffix else f"; lsvmbus -vv the same ({len(ls['c'])} lines)"))


class ModuleSymbols:
    """Names addresses in the modules L2 loaded: the sections' addresses
    come from L2's @@MODBASE lines, the symbols from the .ko files."""

    def __init__(self, kos: dict):
        self.kos = kos
        self.cache = {}

    def _table(self, mod):
        if mod not in self.cache:
            syms, sizes = {}, {}
            ko = self.kos.get(mod)
            if ko and Path(ko).exists():
                h = subprocess.run(["objdump", "-h", str(ko)], capture_output=True, text=True).stdout
                for m in re.finditer(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s", h, re.M):
                    sizes[m.group(1)] = int(m.group(2), 16)
                t = subprocess.run(["objdump", "-t", "-C", str(ko)], capture_output=True, text=True).stdout
                for m in re.finditer(r"^([0-9a-f]{16}) .{6}F (\S+)\t[0-9a-f]+ (.*)$", t, re.M):
                    syms.setdefault(m.group(2), []).append((int(m.group(1), 16), m.group(3)))
                for v in syms.values():
                    v.sort()
            self.cache[mod] = (syms, sizes)
        return self.cache[mod]

    def name(self, addr: int, bases: dict) -> str:
        """bases: {module: {section: address}} as L2 said last."""
        for mod, secs in bases.items():
            syms, sizes = self._table(mod)
            for sec, base in secs.items():
                if base <= addr < base + sizes.get(sec, 0):
                    off = addr - base
                    best = None
                    for a, n in syms.get(sec, []):
                        if a <= off:
                            best = (a, n)
                    if best:
                        return f"{best[1]}+{off - best[0]:#x} [{mod}]"
                    return f"{sec}+{off:#x} [{mod}]"
        return ""


def module_bases(lines) -> dict:
    """The last @@MODBASE of each module among lines."""
    bases = {}
    for line in lines:
        m = re.match(r"@@MODBASE (\S+) (.*)$", line)
        if m:
            bases[m.group(1)] = {k: int(v, 16) for k, v in re.findall(r"(\S+)=(?:0x)?([0-9a-f]+)", m.group(2))}
    return bases


def name_probe(line: str, bases: dict, syms: ModuleSymbols) -> str:
    """A @@PROBE line with the module addresses in it named."""
    def sub(m):
        n = syms.name(int(m.group(1), 16), bases)
        return f"{m.group(1)}={n}" if n else m.group(0)
    return re.sub(r"\b(ffffffffc[0-9a-f]{7})\b(?!=)", sub, line)


class Hmp:
    """QEMU's human monitor on a Unix socket (L1's QEMU, here on L0)."""

    PROMPT = b"(qemu) "

    def __init__(self, path: Path):
        import socket
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(str(path))
        self._until_prompt()

    def _until_prompt(self) -> str:
        buf = b""
        while not buf.endswith(self.PROMPT):
            chunk = self.s.recv(65536)
            if not chunk:
                break
            buf += chunk
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", buf.decode(errors="replace")).replace("\r", "")
        return text[: -len(self.PROMPT)] if text.endswith("(qemu) ") else text

    def cmd(self, c: str) -> str:
        self.s.sendall(c.encode() + b"\n")
        out = self._until_prompt()
        # The first line is the command's echo.
        return out.split("\n", 1)[1] if "\n" in out else ""

    def close(self):
        self.s.close()


class KernelSymbols:
    """L1's kallsyms (text symbols, kernel and modules), as L1 wrote it at
    boot to its scratch disk; names L1's addresses, and L2's kernel
    addresses moved by the two kernels' _text (the same vmlinuz)."""

    def __init__(self, image: Path):
        self.syms, self.text, self.etext = [], 0, 0
        try:
            data = image.read_bytes()[: 64 << 20]
        except OSError:
            return
        body = data.split(b"\0", 1)[0].decode(errors="replace")
        if "@@KSYMS" not in body:
            return
        import bisect
        self._bisect = bisect
        for line in body.split("@@KSYMS", 1)[1].splitlines():
            f = line.split()
            if len(f) >= 2 and re.fullmatch(r"[0-9a-f]{16}", f[0]):
                a = int(f[0], 16)
                name = f[1] + (f" {f[2]}" if len(f) > 2 else "")
                self.syms.append((a, name))
                if f[1] == "_text":
                    self.text = a
                if f[1] == "_etext":
                    self.etext = a
        self.syms.sort()
        self.addrs = [a for a, _ in self.syms]

    def name(self, a: int, kernel_only=False) -> str:
        if not self.syms:
            return ""
        if kernel_only and not self.text <= a < self.etext:
            return ""
        i = self._bisect.bisect_right(self.addrs, a) - 1
        if i < 0:
            return ""
        base, n = self.syms[i]
        if a - base > 0x10000:
            return ""
        return f"{n.split()[0]}+{a - base:#x}" + (f" {n.split()[1]}" if " " in n else "")

    def name_l2(self, a: int, l2_text: int) -> str:
        if not l2_text or not self.text:
            return ""
        return self.name(a - l2_text + self.text, kernel_only=True)


def probe_l1(sock: Path, ksyms: KernelSymbols, lines: list, out: Path) -> list:
    """L1's state through its QEMU's monitor when it has stopped passing
    lines on: its registers three times, 2 s apart (in L1's kernel, or in
    L2 while L1 runs it: EFER.SVME is set in L1 only), the code addresses
    on the stack, named; then an NMI, which makes L1 (unknown_nmi_panic)
    print its backtraces on its console. Returns report lines."""
    rep = []
    try:
        h = Hmp(sock)
    except OSError as e:
        return [f"L1's monitor: {e}"]
    l2_text = 0
    for x in lines:
        m = re.match(r"@@KBASE _text=([0-9a-f]+)", x)
        if m:
            l2_text = int(m.group(1), 16)
    bases = module_bases(lines)
    boot = next((m.group(1) for m in (re.match(r"@@BOOT (\S+) ", x) for x in reversed(lines)) if m), "")
    msyms = ModuleSymbols({"rvmbus": REPO / "rust" / "rvmbus" / "rvmbus.ko",
                           "msr": out / "l2-root" / "modules" / "msr.ko",
                           "hv_balloon": out / "l2-root" / "modules" /
                           ("hv_balloon-c.ko" if boot == "cdriver" else "hv_balloon.ko")})

    def name(a: int, l2: bool) -> str:
        if l2:
            return ksyms.name_l2(a, l2_text) or msyms.name(a, bases)
        return ksyms.name(a)

    try:
        regs = ""
        for i in range(3):
            if i:
                time.sleep(2)
            regs = h.cmd("info registers")
            rip = re.search(r"RIP=([0-9a-f]+) RFL=([0-9a-f]+) \S+ CPL=(\d) .*HLT=(\d)", regs)
            efer = re.search(r"EFER=([0-9a-f]+)", regs)
            cr3 = re.search(r"CR3=([0-9a-f]+)", regs)
            if not rip:
                rep.append(f"sample {i + 1}: {regs.strip()[:200]}")
                continue
            a = int(rip.group(1), 16)
            l2 = bool(efer) and not int(efer.group(1), 16) & 0x1000
            rep.append(f"sample {i + 1}: {'L2 (L1 runs it)' if l2 else 'L1'} RIP={rip.group(1)} {name(a, l2)} "
                       f"RFL={rip.group(2)} IF={int(rip.group(2), 16) >> 9 & 1} CPL={rip.group(3)} "
                       f"HLT={rip.group(4)} CR3={cr3.group(1) if cr3 else '?'} EFER={efer.group(1) if efer else '?'}")
        rsp = re.search(r"RSP=([0-9a-f]+)", regs)
        efer = re.search(r"EFER=([0-9a-f]+)", regs)
        l2 = bool(efer) and not int(efer.group(1), 16) & 0x1000
        if rsp:
            words = re.findall(r"0x(ffffffff[89abc][0-9a-f]{7})", h.cmd(f"x /96gx 0x{rsp.group(1)}"))
            named = [f"{w}={name(int(w, 16), l2)}" for w in words if name(int(w, 16), l2)]
            rep.append(f"stack ({'L2' if l2 else 'L1'}): " + " ".join(named[:40]))
        h.cmd("nmi")
    except OSError as e:
        rep.append(f"L1's monitor: {e}")
    h.close()
    return rep


# A line L1 passes on: a record of its kernel log on its console, maybe
# with the printk time in front.
L1_LINE = re.compile(r"^(?:\[\s*\d+\.\d+\] )?(@@.*)$")


def run_l1(args, out: Path, l1: Path, boots: list, suffix: str):
    """Boots L1 once for the given L2 boots; returns L1's lines, whether
    the whole-run limit was hit, QEMU's own output, and why L1 stopped
    early ("" if it did not)."""
    console = out / f"l1-console{suffix}.log"
    console.write_bytes(b"")
    # L1 writes its kallsyms here at boot (names for a stopped L1's
    # addresses) and L0 asks L1's QEMU for L1's state on the socket.
    ksyms_img = out / f"l1-ksyms{suffix}.img"
    with open(ksyms_img, "wb") as f:
        f.truncate(32 << 20)
    sock = out / f"l1-mon{suffix}.sock"
    sock.unlink(missing_ok=True)
    accel = "tcg,thread=multi" if args.l1_cpus > 1 else "tcg"
    cmd = [args.qemu, "-accel", accel, "-cpu", "qemu64,+svm,+npt", "-m", "2048", "-smp", str(args.l1_cpus),
           "-M", "pc", "-nodefaults", "-display", "none", "-no-reboot",
           "-serial", f"file:{console}",
           "-kernel", str(args.kernel), "-initrd", str(l1),
           "-append", "console=ttyS0 panic=-1 mitigations=off quiet printk.devkmsg=on "
           "unknown_nmi_panic=1 panic_sys_info=all_bt,blocked_tasks "
           f"nested.boots={','.join(boots)}",
           "-drive", f"file={args.root_image},if=virtio,format=raw,readonly=on",
           "-drive", f"file={ksyms_img},if=virtio,format=raw",
           "-monitor", f"unix:{sock},server=on,wait=off"]
    log(f"[nested] L1{suffix} boots {', '.join(boots)}")
    t0 = time.time()
    q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    shown, timed_out, hung, last = 0, False, "", time.time()
    lines = []

    def cpu_s():
        """CPU seconds L1's QEMU has had so far."""
        try:
            f = Path(f"/proc/{q.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    last_cpu = 0.0
    while q.poll() is None:
        time.sleep(0.5)
        text = console.read_text(errors="replace")
        new = text[shown:]
        cut = new.rfind("\n") + 1
        for raw in new[:cut].splitlines():
            m = L1_LINE.match(raw.strip())
            if not m:
                continue
            line = m.group(1)
            lines.append(line)
            last = time.time()
            last_cpu = cpu_s()
            if line.startswith(("@@BOOT", "@@RETRY", "@@L1", "@@RESULT", "@@KEXEC", "@@STEP", "@@PROBE")) or \
                    (args.demo and not line.startswith("@@SYSFS")):
                log(f"  nested| {line}")
        shown += cut
        # L1 passes on a line of L2's at least every 90 s, or probes an L2
        # that said nothing for 90 s and says so: 150 s without a line
        # means L1 itself has stopped.
        if time.time() - last > args.stall:
            hung = f"no line from L1 for {args.stall} s"
        elif time.time() - t0 > args.timeout:
            timed_out, hung = True, f"the limit of {args.timeout} s"
        if hung:
            if not timed_out:
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                log(f"[nested] L1 stopped ({hung}); L1's QEMU had {cpu_s() - last_cpu:.1f} CPU seconds in "
                    f"those {time.time() - last:.0f} s (load average {load}); its state through its QEMU's monitor:")
                lines.append(f"@@L1-PROBE L1's QEMU had {cpu_s() - last_cpu:.1f} CPU seconds in the last "
                             f"{time.time() - last:.0f} s without a line; load average {load}")
                before = console.stat().st_size
                for r in probe_l1(sock, KernelSymbols(ksyms_img), lines, out):
                    log(f"  L1-PROBE {r}")
                    lines.append(f"@@L1-PROBE {r}")
                # What the NMI made L1 print (it panics and QEMU ends).
                size, t1 = -1, time.time()
                while time.time() - t1 < 60 and q.poll() is None:
                    time.sleep(3)
                    now = console.stat().st_size
                    if now == size and now > before:
                        break
                    size = now
                with open(console, "rb") as f:
                    f.seek(before)
                    for raw in f.read().decode(errors="replace").splitlines()[:200]:
                        log(f"  L1-CONSOLE {raw}")
                        lines.append(f"@@L1-CONSOLE {raw}")
            q.kill()
            q.wait()
            break
    qemu_out = q.stdout.read().decode(errors="replace") if q.stdout else ""
    return lines, timed_out, qemu_out, hung


def l2_attempts(lines) -> list:
    """Every L2 boot attempt: (boot, try, its lines, its @@BOOT-END line)."""
    attempts, cur = [], None
    for line in lines:
        m = re.match(r"@@BOOT (\S+) try=(\d+)$", line)
        if m:
            cur = (m.group(1), int(m.group(2)), [], [""])
            attempts.append(cur)
        elif cur is not None:
            if line.startswith("@@BOOT-END "):
                cur[3][0] = line
            else:
                cur[2].append(line)
    return attempts


def classify(got, syms: "ModuleSymbols") -> tuple:
    """Why an L2 boot attempt did not finish, from what L1 and L0 found
    (its @@PROBE and @@L1-PROBE lines, and the backtraces an NMI drew on
    L2's console): ("rvmbus", evidence) when a vCPU's RIP lay in
    rvmbus.ko or a backtrace runs through it (a hang of rvmbus: the
    scenario fails even if a retry passes); ("starved", ...) when L1's
    QEMU had almost no CPU during the silence; ("emulation", ...)
    otherwise (L2 or L1 stuck outside rvmbus: a fault of the nested
    emulation, retried)."""
    bases = module_bases(got)
    named = [name_probe(x, bases, syms) for x in got if x.startswith(("@@PROBE ", "@@L1-PROBE "))]
    rips = [x for x in named if " rip cpu" in x or x.startswith("@@L1-PROBE sample")]
    hit = [x for x in rips if "[rvmbus]" in x]
    if hit:
        return "rvmbus", "a vCPU's RIP in rvmbus: " + hit[-1].split(" ", 1)[1][:300]
    con = [x.split(" ", 2)[2] if x.startswith("@@CONSOLE ") and x.count(" ") >= 2 else x[len("@@L1-CONSOLE "):]
           for x in got if x.startswith(("@@CONSOLE ", "@@L1-CONSOLE "))]
    trace = False
    for x in con:
        if "Call Trace:" in x:
            trace = True
        elif "</TASK>" in x:
            trace = False
        elif trace and "[rvmbus]" in x:
            return "rvmbus", f"a backtrace on L2's console runs through rvmbus: {x.strip()[:200]}"
    for x in got:
        m = re.match(r"@@L1-PROBE L1's QEMU had ([\d.]+) CPU seconds in the last (\d+) s", x)
        if m and float(m.group(1)) < 0.1 * int(m.group(2)):
            return "starved", x[len("@@L1-PROBE "):]
    where = "; ".join(x.split(" ", 1)[1][:160] for x in rips[-2:]) or "no probe"
    return "emulation", where


def report_probes(attempts, args, out: Path):
    """Prints what L1 found in each L2 that went silent or stopped without
    finishing (its @@PROBE lines, module addresses named) and the panic an
    NMI drew from it (L2's console), and keeps them in probes.txt."""
    text = []
    for boot, tri, got, end in attempts:
        probe = [x for x in got if x.startswith("@@PROBE ")]
        if not probe:
            continue
        kos = {"rvmbus": args.rvmbus, "msr": out / "l2-root" / "modules" / "msr.ko",
               "hv_balloon": out / "l2-root" / "modules" / ("hv_balloon-c.ko" if boot == "cdriver" else "hv_balloon.ko")}
        syms = ModuleSymbols(kos)
        bases = module_bases(got)
        text.append(f"[nested] L2 boot {boot} try={tri} did not finish; {end}")
        text.append(f"  modules: " + "; ".join(f"{m} " + " ".join(f"{k}={v:x}" for k, v in b.items())
                                                for m, b in bases.items()))
        text += [f"  {name_probe(x, bases, syms)}" for x in probe]
        con = [x.split(" ", 2)[2] if x.count(" ") >= 2 else "" for x in got if x.startswith("@@CONSOLE ")]
        start = next((i for i, x in enumerate(con) if re.search(
            r"Kernel panic|NMI backtrace|Uhhuh|soft lockup|blocked for more|BUG:|rcu.*stall", x)), None)
        if start is None:
            text.append("  L2's console shows no panic, lockup or stall report (last lines follow)")
            start = max(0, len(con) - 8)
        text += [f"  console| {x}" for x in con[start:start + 120]]
    if text:
        (out / "probes.txt").write_text("\n".join(text) + "\n")
        for t in text:
            log(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", required=True, type=Path)
    ap.add_argument("--busybox", required=True)
    ap.add_argument("--kexec", required=True)
    ap.add_argument("--python-root", required=True)
    ap.add_argument("--lsvmbus", required=True)
    ap.add_argument("--rvmbus", required=True)
    ap.add_argument("--balloon", required=True, help="Linux's hv_balloon.ko built for rvmbus")
    ap.add_argument("--root-image", required=True, help="L1's root (scripts/setup-nested.sh)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="L0's QEMU, which runs L1 under TCG")
    ap.add_argument("--l1-cpus", type=int, default=2, help="L1's vCPUs (more than 1: multi-threaded TCG)")
    ap.add_argument("--out", default=str(REPO / "build" / "nested"))
    ap.add_argument("--debug-kernel", type=Path, help="the debug kernel's bzImage, for the debug boot")
    ap.add_argument("--debug-rvmbus", type=Path, help="rvmbus.ko built for the debug kernel")
    ap.add_argument("--debug-balloon", type=Path, help="the debug kernel's own hv_balloon.ko")
    ap.add_argument("--boots", help="L2 boots to run, in order (default: all but debug)")
    ap.add_argument("--timeout", type=int, default=900, help="limit for one L1 boot (s)")
    ap.add_argument("--stall", type=int, default=150, help="L1 counts as hung after this long without a line (s)")
    ap.add_argument("--demo", action="store_true", help="show L2's results as they come")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    has_debug = bool(args.debug_kernel and args.debug_rvmbus and args.debug_balloon)
    if args.boots is None:
        # The debug boot only when asked for: under TCG's SVM emulation it
        # stopped L1 in 2 of 2 tries (Documentation/testing.rst).
        boots = [b for b in BOOTS if b != "debug"]
    else:
        boots = [b for b in args.boots.split(",") if b]
    unknown = [b for b in boots if b not in BOOTS]
    if unknown:
        log(f"unknown boots: {unknown}")
        return 2
    if "debug" in boots and not has_debug:
        log("the debug boot needs --debug-kernel, --debug-rvmbus and --debug-balloon")
        return 2

    t0 = time.time()
    l2_python, l2_kexec = l2_initramfs(out, args)
    l2_debug = l2_debug_initramfs(out, args) if "debug" in boots else None
    l1 = l1_initramfs(out, args, l2_python, l2_kexec, l2_debug)
    log(f"[nested] initramfs packed in {time.time() - t0:.0f} s")
    lines, timed_out, qemu_out, l1_hung = run_l1(args, out, l1, boots, "")
    # An L1 that stopped (TCG's SVM emulation has hung it) gets one more
    # try, in a fresh L1, for the L2 boots it did not finish.
    done = {m.group(1) for m in (re.match(r"@@BOOT-END (\S+) ", x) for x in lines) if m}
    left = [b for b in boots if b not in done]
    rerun = []
    if l1_hung and left:
        log(f"[nested] L1 stopped ({l1_hung}); once more in a fresh L1 for: {', '.join(left)}")
        more, timed_out, qemu_out, l1_hung = run_l1(args, out, l1, left, "-2")
        lines = [x for x in lines if not x.startswith(("@@L1-UP", "@@L1-DONE", "@@L1-FAIL"))] + more
        rerun = left
    total = time.time() - t0
    results = out / "results.txt"
    results.write_text("\n".join(lines) + "\n")
    attempts = l2_attempts(lines)
    report_probes(attempts, args, out)

    # Each boot's lines from its last attempt.
    per_boot, cur, tries, secs, bad = {}, None, {}, {}, {}
    pending = []
    for line in lines:
        m = re.match(r"@@BOOT (\S+) try=(\d+)$", line)
        if m:
            cur = m.group(1)
            tries[cur] = int(m.group(2))
            per_boot[cur] = []
            bad[cur] = []
            continue
        m = re.match(r"@@BOOT-END (\S+) try=(\d+) seconds=(\S+)", line)
        if m:
            b = m.group(1)
            secs[b] = secs.get(b, "") + ("+" if b in secs else "") + m.group(3)
            continue
        if cur is not None:
            per_boot[cur].append(line)
            if line.startswith("@@BAD "):
                bad[cur].append(line[6:].strip()[:160])
        else:
            pending.append(line)

    passed = failed = 0
    failures = []
    for b in boots:
        got = per_boot.get(b, [])
        res = {}
        for line in got:
            m = re.match(r"@@RESULT (\S+) (PASS|FAIL) ?(.*)$", line)
            if m:
                res[m.group(1)] = (m.group(2) == "PASS", m.group(3))
        retried = " (L2 retried once after an environment fault: reset or hang)" if tries.get(b, 1) > 1 else ""
        if b in rerun:
            retried += " (rerun in a fresh L1 after L1 stopped: an environment fault)"
        # What stopped each unfinished attempt: a hang in rvmbus fails the
        # boot's scenarios whatever a retry did.
        kinds = []
        for ab, tri, agot, _ in attempts:
            if ab != b or any(x.startswith("@@L2-DONE") for x in agot):
                continue
            kos = {"rvmbus": args.rvmbus, "msr": out / "l2-root" / "modules" / "msr.ko",
                   "hv_balloon": out / "l2-root" / "modules" /
                   ("hv_balloon-c.ko" if b == "cdriver" else "hv_balloon.ko")}
            kinds.append(classify(agot, ModuleSymbols(kos)))
        rvmbus_hang = next((e for k, e in kinds if k == "rvmbus"), None)
        if kinds:
            retried += " [why: " + "; ".join(f"{k}: {e[:200]}" for k, e in kinds) + "]"
        when = f"[L2 boot {b}: {secs.get(b, '?')} s]"
        for sc in BOOTS[b]:
            if sc in res:
                ok, detail = res[sc]
            elif b not in per_boot:
                ok, detail = False, "L2 boot never ran" + (f" (L1 stopped: {l1_hung})" if l1_hung else "")
            else:
                ok, detail = False, "no result from L2"
            if ok and sc in WAY_OUT and not any(WAY_OUT[sc].search(x) for x in got if x.startswith("@@L2CON")):
                ok, detail = False, f"L2's console lacks /{WAY_OUT[sc].pattern}/ from the first kernel; {detail}"
            if ok and bad.get(b):
                ok, detail = False, f"kernel log: {'; '.join(bad[b][:3])}; {detail}"
            if ok and rvmbus_hang:
                ok, detail = False, f"an earlier attempt hung in rvmbus ({rvmbus_hang}); {detail}"
            line = f"SCENARIO {sc}: {'PASS' if ok else 'FAIL'} {detail}{retried} {when}"
            log(line)
            (passed, failed) = (passed + 1, failed) if ok else (passed, failed + 1)
            if not ok:
                failures.append((line, [x for x in got if x.startswith(("@@CONSOLE", "@@DMESG", "@@QEMU"))]))
    if "cdriver" in boots and "rvmbus" in boots:
        for suffix in ("", "-bound"):
            ok, detail = compare_trees(per_boot.get("cdriver", []) + per_boot.get("rvmbus", []), suffix)
            line = f"SCENARIO hyperv-sysfs{suffix}: {'PASS' if ok else 'FAIL'} {detail}"
            log(line)
            (passed, failed) = (passed + 1, failed) if ok else (passed, failed + 1)
            if not ok:
                failures.append((line, []))
    l1_fail = [x for x in lines if x.startswith("@@L1-FAIL")]
    if l1_fail or "@@L1-DONE" not in lines:
        failed += 1
        line = f"SCENARIO hyperv-l1: FAIL {'; '.join(l1_fail) or 'L1 did not finish'}" + \
               (f" ({l1_hung})" if l1_hung else "")
        log(line)
        console = out / ("l1-console-2.log" if rerun else "l1-console.log")
        tail = console.read_text(errors="replace").splitlines()[-20:] if console.exists() else []
        failures.append((line, tail + qemu_out.splitlines()[-5:]))
    for line, ctx in failures:
        log(line)
        for c in ctx[-30:]:
            log(f"  | {c}")
    log(f"[nested] whole run {total:.0f} s; logs in {out}")
    log(f"scenarios: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
