#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""QEMU scenario harness for rvmbus.

Boots Debian's prebuilt cloud kernel under QEMU with software emulation
(TCG), with tools/vmbus-host attached through an ivshmem-doorbell device, runs
one guest scenario per boot and prints one line per scenario:

    SCENARIO <name>: PASS|FAIL <detail>

A scenario fails when the guest reports a failure, when the kernel log shows
an Oops, BUG, WARNING, panic or "Unknown symbol", when the host does not exit
cleanly, or on a timeout. The last line is "N passed, M failed"; the exit
status is non-zero if anything failed.

With --debug-kernel (make test-debug) it boots the self-built debug kernel
and also fails a scenario on KASAN, lockdep, atomic-sleep and kmemleak reports
and on failed KUnit cases (see debug_kernel_check).
"""

import argparse
import atexit
import gzip
import hashlib
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUEST = REPO / "tests" / "guest"

# A kernel log line's start ("[   29.810891] ..."), to cut off one that
# shares a console line with a harness request.
KMSG_TAIL = re.compile(r"\[\s*\d+\.\d+\].*$")

# Lines of the guest console that fail any scenario.
BAD = re.compile(
    r"(Oops|BUG:|WARNING:|Kernel panic|general protection fault|"
    r"Unknown symbol|UBSAN:|KASAN:|refcount_t:|list_add corruption|"
    r"INFO: task .* blocked for more than|rcu_sched self-detected stall|"
    r"watchdog: BUG: soft lockup|neither freed nor kept for the host)"
)


# The network namespace of netns scenarios (NetNs): its TAP device, that
# device's address and the port of its server.
NETNS_TAP = "rvnet0"
NETNS_ADDR = "10.99.0.1"
NETNS_PORT = 7777
# The host's network adapter on that TAP device, with the MAC the guest
# scripts expect (tests/guest/netvsc-lib.sh).
NIC_ARGS = ["--nic", f"tap={NETNS_TAP},mac=00:15:5d:42:00:07"]
# With Scenario.virtio_net: a second TAP device in the namespace, QEMU's
# virtio-net's, on a subnet of its own (the same server answers on both).
NETNS_VIRTIO_TAP = "rvnet1"
NETNS_VIRTIO_ADDR = "10.98.0.1"


# Seconds (times --timeout-scale) a boot may take to reach the guest's
# /init (@@GUEST-UP); the cloud kernel takes about 4 s, the debug kernel
# about 22 s (kernel time, measured under TCG).
UP_TIMEOUT = float(os.environ.get("RVMBUS_UP_TIMEOUT", "60"))
# How often a boot that hung or crashed before /init is booted again.
BOOT_RETRIES = 2


@dataclass
class Scenario:
    """One guest boot: the guest script's name and how to set up the boot."""

    name: str
    with_host: bool = True
    boot_timeout: int = 240
    host_args: list = field(default_factory=list)
    # Regular expressions that must each match a line of the host's trace.
    host_expect: list = field(default_factory=list)
    # Regular expressions that must match no line of the host's trace.
    host_reject: list = field(default_factory=list)
    # Regular expressions that must match lines of the host's trace in this
    # order (each on a line after the one the previous matched).
    host_order: list = field(default_factory=list)
    # The scenario ends with the guest powering itself off (its /sbin/poweroff
    # prints @@GUEST-POWEROFF); that is its PASS.
    powers_off: bool = False
    # Regular expressions that must each match a line of the guest console.
    console_expect: list = field(default_factory=list)
    # Needs what only the debug kernel has (CONFIG_PM_DEBUG's pm_test):
    # left out of runs on the cloud kernel unless named with --only.
    debug_only: bool = False
    # Needs what only Debian's cloud kernel has (CONFIG_VSOCKETS, which
    # scripts/debug-kernel.config leaves out): left out of runs on the
    # debug kernel unless named with --only.
    cloud_only: bool = False
    # A benchmark (make bench), not a test: left out of runs unless named
    # with --only. Its host keeps no trace (writing every packet's bytes
    # out as hex would be the host's largest cost per packet).
    bench_only: bool = False
    # A virtio-blk disk (a sparse file of this many MiB, /dev/vda in the
    # guest) for hibernation images; 0: none.
    disk_mb: int = 0
    # The guest's RAM in MiB; 0: --mem-mb (512). Hibernation needs about
    # half of it free for the image: on the debug kernel (KASAN's shadow,
    # lockdep) with hv_netvsc's 16 MiB receive buffer, 512 MiB was 2515
    # pages short, and hv-utils's restore once failed to allocate.
    mem_mb: int = 0
    # Disks of the host's storage controllers (tools/vmbus-host --disk):
    # (name, MiB, options) each, e.g. ("data", 64, "lun=0") or ("ro", 16,
    # "ro,lun=1,controller=1"). The harness makes each a sparse file
    # host-NAME.img in the scenario's directory and passes
    # --disk PATH[,options]; the guest sees them through hv_storvsc.
    host_disks: list = field(default_factory=list)
    # Hibernation across two QEMU processes: when the first powers off after
    # hibernating (it prints @@HIBERNATED), the harness runs the host
    # control commands of between_ctl and starts QEMU again with the same
    # disk and rvmbus.resume=1; the same host keeps running throughout.
    cycle: bool = False
    between_ctl: list = field(default_factory=list)
    # The host may exit with this status on its own (hostile die-mid-handshake).
    host_exit: int = 0
    # The host misbehaves on purpose and may write into guest memory after
    # the guest took it back (hostile modes); otherwise any such write
    # (gmem-write-after-unload in the trace) fails the scenario.
    host_may_write_after_unload: bool = False
    # Kernel log lines that BAD matches but that are not rvmbus's doing in
    # this scenario (each with its reason where the scenario is listed).
    allow_bad: list = field(default_factory=list)
    # The guest kexecs into a second kernel: its initramfs also holds
    # kexec-tools' kexec with the libraries it needs, and under /kexec the
    # vmlinuz and the plain initramfs for the second kernel.
    kexec: bool = False
    # The scenario ends in a kernel panic the guest asked for (sysrq c):
    # that panic is its PASS (the guest cannot report after it), provided
    # every other check holds; its panic line is not a failure.
    panics: bool = False
    # Needs Linux's own drivers built for rvmbus (--linux-module, in the
    # initramfs's /modules/linux/): left out of runs without them unless
    # named with --only.
    linux_modules: bool = False
    # Needs this module among --module (e.g. the test driver hv_iftest.ko,
    # which the debug kernel's module build does not make): left out of
    # runs without it unless named with --only.
    needs_module: str = ""
    # Boots with Python and Linux's tools/hv/lsvmbus in the initramfs
    # (python_overlay), for the sysfs ABI check.
    python: bool = False
    # The guest prints rvmbus's trace events (@@TRACE lines) after asking
    # for a trace-mark: its messages and packets must be those of the
    # host's trace up to the mark (compare_traces).
    trace_compare: bool = False
    # Boots with Debian's hyperv-daemons (hv_kvp_daemon, hv_vss_daemon,
    # their helper scripts and libraries, from the build chroot) and the
    # kernel's dummy.ko in the initramfs (daemons_overlay), for Linux's
    # hv_utils KVP and VSS services.
    hv_daemons: bool = False
    # The host runs inside a network namespace of its own (NetNs), made for
    # this boot and removed after it: a TAP device NETNS_TAP with address
    # NETNS_ADDR and the server tests/harness/netns_server.py on it. The
    # guest may ask for "ns-ping ADDR" (a ping from inside the namespace).
    netns: bool = False
    # With netns: QEMU runs in the namespace too and gives the guest a
    # virtio-net NIC on NETNS_VIRTIO_TAP (a baseline for hv_netvsc in the
    # same boot: bench-virtio).
    virtio_net: bool = False
    # A scenario that shows a bug not fixed yet: left out of the default
    # run (so `make test` holds what works), run with --only; the harness
    # names it and the reason at the end of every default run.
    known_failure: str = ""
    # QEMU's TCG threading: "multi" (one host thread per vCPU) or
    # "single" (one for both). QEMU 7.2 (bookworm's) drops the guest's
    # memory barriers and makes its locked instructions plain loads and
    # stores under single-threaded TCG (fixed in QEMU 8.1), so the guest's
    # side of the ring protocol against the host, a separate process,
    # loses its ordering: Linux's hv_end_read() stores the interrupt mask
    # and then reads write_index, the two could pass each other, and a
    # packet waited forever (netvsc-nic's upload stalled in 3 of 6 runs,
    # 0 of 8 with "multi"; driver-echo lost a window of 8 requests in a
    # full run). Every scenario runs multi-threaded; a boot that crashes
    # before /init (the kernel's boot-time code patching once Oopsed under
    # "multi") is booted again (SCENARIO-RETRY, BOOT_RETRIES).
    tcg_thread: str = "multi"



def nic_scenario(name: str, **kw) -> Scenario:
    """A scenario of Linux's hv_netvsc against the host's network adapter,
    whose TAP device is in the boot's namespace (NetNs)."""
    return Scenario(name, linux_modules=True, netns=True, host_args=NIC_ARGS, **kw)

SCENARIOS = {
    s.name: s
    for s in [
        Scenario("insmod-rmmod"),
        Scenario(
            "transport-roundtrip",
            host_expect=[r" g2h - mbox-PING ", r" h2g - mbox-PING-resp ", r" h2g - irq "],
        ),
        Scenario("no-host", with_host=False),
        Scenario("host-gone"),
        # Also the sysfs ABI check (tests/guest/bus-abi.sh): the shutdown
        # device has no monitor id, so that the tree has a channel without
        # monitor files.
        Scenario(
            "bus-azure",
            host_args=["--profile", "azure", "--device", "heartbeat", "--device", "shutdown:nomonitor",
                       "--device", "timesync", "--device", "echo"],
            host_expect=[r" g2h - INITIATE_CONTACT ", r" h2g - VERSION_RESPONSE ", r" h2g - ALL_OFFERS_DELIVERED ",
                         r" g2h - UNLOAD ", r" g2h \d+ OPEN_CHANNEL ", r" g2h 4 DATA_INBAND "],
            python=True,
        ),
        Scenario("bus-qemu", host_args=["--profile", "qemu"], host_expect=[r" h2g - ALL_OFFERS_DELIVERED "]),
        Scenario("bus-old", host_args=["--profile", "old"], host_expect=[r" h2g - ALL_OFFERS_DELIVERED "]),
        Scenario("hot-add"),
        Scenario(
            "echo-data",
            host_expect=[r" g2h 4 GPADL_HEADER ", r" h2g 4 GPADL_CREATED ", r" g2h 4 OPEN_CHANNEL ",
                         r" h2g 4 OPEN_CHANNEL_RESULT ", r" g2h 4 DATA_INBAND ", r" h2g 4 COMP ",
                         r" g2h 4 CLOSE_CHANNEL ", r" h2g - GPADL_TORNDOWN ", r" g2h - UNLOAD "],
        ),
        # The echo device is signalled with HvSignalEvent (not the monitor
        # page), so that the run with eight requests in flight needs the
        # host to find packets written while it reads a batch.
        Scenario(
            "driver-echo",
            host_args=["--device", "heartbeat", "--device", "shutdown", "--device", "timesync",
                       "--device", "echo:nomonitor"],
            host_expect=[r" g2h 4 OPEN_CHANNEL ", r" g2h 4 DATA_INBAND ", r" h2g 4 COMP ",
                         r" g2h 4 CLOSE_CHANNEL "],
        ),
        Scenario(
            "driver-ic",
            host_args=["--heartbeat-ms", "200", "--timesync-ms", "500"],
            host_expect=[r" g2h \d+ DATA_INBAND ", r" g2h \d+ CLOSE_CHANNEL "],
        ),
        Scenario(
            "driver-shutdown",
            powers_off=True,
            host_expect=[r" h2g \d+ DATA_INBAND "],
            console_expect=[r"@@SHUTDOWN flags 8 refused with HV_E_FAIL; guest up 3 s later",
                            r"rvmbus_shutdown: shutdown: the host asked for a power-off; powering off",
                            r"@@GUEST-POWEROFF orderly"],
        ),
        Scenario("driver-autoload", host_args=["--heartbeat-ms", "200"]),
        Scenario("driver-suspend", host_args=["--heartbeat-ms", "200"]),
        Scenario(
            "rescind-points",
            host_args=["--heartbeat-ms", "200"],
            boot_timeout=300,
            host_expect=[r" h2g \d+ RESCIND_CHANNEL_OFFER ", r" g2h \d+ GPADL_TEARDOWN ", r" g2h \d+ RELID_RELEASED "],
        ),
        Scenario(
            "unload-host",
            host_args=["--heartbeat-ms", "200"],
            host_expect=[r" g2h - UNLOAD "],
        ),
        Scenario("lifecycle-repeat", host_args=["--heartbeat-ms", "200"], boot_timeout=600),
        # rvmbus's trace events against the host's trace, kind by kind.
        Scenario("trace-events", trace_compare=True),
        Scenario("pm-test", host_args=["--heartbeat-ms", "200"], debug_only=True),
        # Needs failslab and fail_page_alloc, which only the debug kernel has.
        # When the forced failure hits the allocation of an MSI-X vector's
        # /proc/irq/N/effective_affinity entry, the IRQ core goes on without
        # it and warns when it frees the vector (unregister_irq_proc ->
        # remove_proc_entry, seen with pci_free_irq_vectors in the trace):
        # the kernel's own handling, not rvmbus's.
        Scenario("fault-inject", debug_only=True, boot_timeout=900,
                 allow_bad=[r"WARNING: fs/proc/generic\.c:\d+ at remove_proc_entry"]),
        Scenario(
            "cpu-move",
            host_args=["--profile", "azure"],
            host_expect=[r" g2h 4 MODIFY_CHANNEL ", r" h2g 4 MODIFY_CHANNEL_RESPONSE ", r" g2h 4 DATA_INBAND "],
        ),
        Scenario(
            "cpu-move-old",
            host_args=["--profile", "qemu"],
            host_expect=[r" g2h 4 OPEN_CHANNEL ", r" g2h 4 DATA_INBAND "],
            host_reject=[r" MODIFY_CHANNEL"],
        ),
        Scenario(
            "hibernate-test-resume",
            host_args=["--heartbeat-ms", "200", "--device", "heartbeat", "--device", "echo:2"],
            disk_mb=256,
            boot_timeout=420,
            host_expect=[r" g2h - UNLOAD ", r" h2g - UNLOAD_RESPONSE ", r" g2h - INITIATE_CONTACT ",
                         r" g2h - REQUEST_OFFERS ", r" g2h \d+ OPEN_CHANNEL "],
        ),
        Scenario(
            "hibernate-cycle",
            host_args=["--heartbeat-ms", "200", "--renumber-after-unload",
                       "--device", "heartbeat", "--device", "echo:2"],
            disk_mb=256,
            boot_timeout=600,
            cycle=True,
            # The second echo device goes while the guest is off.
            between_ctl=[["rescind-instance", "72766d62-0004-0001-8000-000000000000"]],
            host_expect=[r" g2h - UNLOAD ", r" h2g - UNLOAD_RESPONSE ", r" g2h - INITIATE_CONTACT ",
                         r" g2h - REQUEST_OFFERS ", r" g2h \d+ OPEN_CHANNEL "],
        ),
        # CPU 1 goes offline and comes back with channels open. The host
        # sees CPU 1's SynIC set up, turned off (all page addresses zero)
        # and set up again.
        Scenario(
            "cpu-hotplug",
            host_args=["--profile", "azure", "--heartbeat-ms", "200"],
            host_order=[r" g2h - mbox-SYNIC_SETUP [0-9a-f]{8}030000000100000000000000[0-9a-f][13579bdf]",
                        r" g2h 4 MODIFY_CHANNEL ", r" h2g 4 MODIFY_CHANNEL_RESPONSE ",
                        r" g2h - mbox-SYNIC_SETUP [0-9a-f]{8}03000000010000000{40}",
                        r" g2h - mbox-SYNIC_SETUP [0-9a-f]{8}030000000100000000000000[0-9a-f][13579bdf]"],
        ),
        # The guest kexecs into a second kernel with the echo channel open
        # and the heartbeat bound: UNLOAD goes before the jump, the host
        # writes nothing into guest memory after its answer (the trace's
        # gmem watch), and the second kernel's rvmbus connects again.
        Scenario(
            "kexec",
            host_args=["--heartbeat-ms", "200"],
            kexec=True,
            boot_timeout=300,
            host_order=[r" g2h - UNLOAD ", r" h2g - UNLOAD_RESPONSE ", r" h2g - gmem-sealed ",
                        # The host traces a mailbox request after serving it.
                        r" g2h - mbox-GOODBYE ", r" h2g - gmem-unsealed 0{16}$", r" g2h - mbox-HELLO ",
                        r" g2h - INITIATE_CONTACT ", r" h2g - ALL_OFFERS_DELIVERED "],
            console_expect=[r"way out \(kexec or restart\): the host answered UNLOAD; SynIC off on 2 CPUs \(0 left on\)",
                            r"ivshmem: way out: detached from the host"],
        ),
        # A panic with the echo channel open and the heartbeat bound: the
        # panic notifier unloads the connection on the way out.
        Scenario(
            "crash-unload",
            host_args=["--heartbeat-ms", "200"],
            panics=True,
            host_order=[r" g2h - UNLOAD ", r" h2g - UNLOAD_RESPONSE ", r" h2g - gmem-sealed ",
                        r" g2h - mbox-GOODBYE "],
            console_expect=[r"way out \(crash\): the host answered UNLOAD; SynIC off on 2 CPUs \(0 left on\)",
                            r"ivshmem: way out: detached from the host",
                            r"Kernel panic - not syncing: sysrq triggered crash"],
            allow_bad=[r"Kernel panic - not syncing: sysrq triggered crash"],
        ),
        # Linux's own hv_utils (linux-drivers/hv_utils) through the hv_vmbus
        # interface: the Rust samples are not loaded. The guest powers
        # itself off at the end, on the host's shutdown request.
        Scenario(
            "hv-utils",
            host_args=["--heartbeat-ms", "200", "--timesync-ms", "500"],
            linux_modules=True,
            python=True,
            powers_off=True,
            disk_mb=256,
            mem_mb=768,
            boot_timeout=300,
            host_expect=[r" g2h \d+ DATA_INBAND ", r" g2h \d+ CLOSE_CHANNEL ", r" h2g \d+ RESCIND_CHANNEL_OFFER ",
                         r" g2h \d+ RELID_RELEASED ", r" g2h - UNLOAD "],
            console_expect=[r"hv_utils: Shutdown request received - graceful shutdown initiated",
                            r"@@GUEST-POWEROFF orderly"],
        ),
        # Linux's hv_utils with every IC the host has (heartbeat, shutdown,
        # time sync, KVP, VSS) and Debian's daemons for KVP and VSS: the
        # host reads the guest's name and addresses and sets a key the
        # guest reads, reads a key the guest set, freezes and thaws the
        # guest's file system; each IC is rescinded and re-offered under
        # hv_utils.
        Scenario(
            "hv-ic",
            host_args=["--heartbeat-ms", "200", "--device", "heartbeat", "--device", "shutdown",
                       "--device", "timesync", "--device", "kvp", "--device", "vss"],
            linux_modules=True,
            hv_daemons=True,
            disk_mb=64,
            boot_timeout=300,
            host_expect=[r" h2g \d+ RESCIND_CHANNEL_OFFER ", r" g2h \d+ RELID_RELEASED ", r" g2h - UNLOAD "],
        ),
        # Linux's file copy as Linux 7.3 does it (tests/guest/hv-fcopy.sh):
        # Linux's own uio_hv_generic binds the file-copy device and Linux's
        # own hv_fcopy_uio_daemon (built from the kernel source; Debian
        # ships none) answers the host through /dev/uioN and the ring file;
        # the host's copies arrive byte-identical, before and after the
        # device is rescinded and re-offered under uio_hv_generic. The
        # device has no monitor id: uio_hv_generic signals the host
        # (vmbus_set_event, when the daemon writes /dev/uioN) only for a
        # channel without one, and the daemon never writes the monitor
        # page, so a monitored channel's answers would never be signalled.
        Scenario(
            "hv-fcopy",
            host_args=["--device", "fcopy:nomonitor"],
            linux_modules=True,
            hv_daemons=True,
            boot_timeout=300,
            host_expect=[r" g2h \d+ OPEN_CHANNEL ", r" h2g \d+ DATA_INBAND ", r" g2h \d+ DATA_INBAND ",
                         r" h2g \d+ RESCIND_CHANNEL_OFFER ", r" g2h \d+ RELID_RELEASED ",
                         r" g2h \d+ CLOSE_CHANNEL ", r" g2h - UNLOAD "],
        ),
        # Hyper-V sockets (tests/guest/hv-sock.sh): Linux's own hv_sock
        # (linux-drivers/hv_sock, after Debian's vsock.ko) against the
        # host's hvsocket services: a guest connect to the host's echo
        # service on port 5001 carries 1 MiB both ways byte-identical
        # through a channel the host offers for it (bound to hv_sock, of
        # the port's service class) and rescinds after the close; two more
        # connects in a row; the host connects to a guest listener on port
        # 5002 (control request hvsock-connect) and checks its echo; a
        # connect to a port nobody serves fails with a timeout. The debug
        # kernel has no AF_VSOCK (CONFIG_VSOCKETS is off there).
        Scenario(
            "hv-sock",
            host_args=["--hvsock-echo", "5001"],
            linux_modules=True,
            python=True,
            cloud_only=True,
            boot_timeout=360,
            host_expect=[r" g2h \S+ TL_CONNECT_REQUEST ", r" g2h \d+ OPEN_CHANNEL ", r" g2h \d+ DATA_INBAND ",
                         r" h2g \d+ RESCIND_CHANNEL_OFFER ", r" g2h \d+ RELID_RELEASED ", r" g2h - UNLOAD "],
        ),
        # The synthetic keyboard (tests/guest/hv-keyboard.sh): Linux's own
        # hyperv-keyboard (linux-drivers/hyperv_keyboard, after Debian's
        # evdev.ko) binds the host's keyboard (--device keyboard, the only
        # device offered), negotiates protocol 1.0, and atkbd's input device
        # on its serio port reads "hello" typed by the host (control
        # request keyboard-type hello) as five key presses and releases
        # through /dev/input/eventN. The debug kernel has no keyboard
        # driver (CONFIG_HYPERV_KEYBOARD is off there).
        Scenario(
            "hv-keyboard",
            host_args=["--device", "keyboard"],
            linux_modules=True,
            python=True,
            cloud_only=True,
            boot_timeout=300,
            host_expect=[r" g2h \d+ OPEN_CHANNEL ", r" g2h \d+ DATA_INBAND ", r" h2g \d+ KBD-PROTOCOL-ACCEPTED ",
                         r" h2g \d+ DATA_INBAND ", r" g2h \d+ CLOSE_CHANNEL ", r" g2h - UNLOAD "],
            # The request, its accepted answer, the keystrokes after it,
            # the close by rmmod.
            host_order=[r" g2h \d+ DATA_INBAND ", r" h2g \d+ KBD-PROTOCOL-ACCEPTED ", r" h2g \d+ DATA_INBAND ",
                        r" g2h \d+ CLOSE_CHANNEL "],
        ),
        # Linux's own hv_storvsc and hv_netvsc (linux-drivers/) load on
        # rvmbus with every symbol they import resolved, and unload
        # cleanly; the test host offers no storage or network device yet,
        # so neither binds.
        Scenario(
            "linux-drivers-load",
            linux_modules=True,
            console_expect=[r"rvmbus: hv_vmbus driver hv_storvsc unregistered; 0 channel structures",
                            r"rvmbus: hv_vmbus driver hv_netvsc unregistered; 0 channel structures"],
        ),
        # Linux's own hv_storvsc on rvmbus against the host's storage
        # backend (tests/guest/storvsc-disk.sh): a 256 MiB disk appears
        # with its size, holds known data through a file system and on
        # the raw device (checked in the host's file too), serves I/O
        # from both vCPUs over a sub-channel, a second disk is hot-added,
        # used and hot-removed, and storvsc and rvmbus unload and load
        # again.
        Scenario(
            "storvsc-disk",
            linux_modules=True,
            host_disks=[("data", 256, "lun=0")],
            boot_timeout=420,
            host_expect=[r" g2h \d+ DATA_USING_GPA_DIRECT ", r" h2g \d+ COMP "],
            console_expect=[r"rvmbus: hv_vmbus driver hv_storvsc unregistered; 0 channel structures"],
        ),
        # hv_storvsc across S3 and hibernation (test_resume) with a
        # mounted file system (tests/guest/storvsc-pm.sh).
        Scenario(
            "storvsc-pm",
            linux_modules=True,
            host_disks=[("data", 128, "lun=0")],
            disk_mb=256,
            mem_mb=768,
            boot_timeout=420,
            console_expect=[r"rvmbus: hv_vmbus driver hv_storvsc unregistered; 0 channel structures"],
        ),
        # Linux's own hv_netvsc on rvmbus against the host's network
        # adapter, whose TAP device lives in a namespace of the harness's
        # (NetNs): eth0 with the host-given MAC, link up, an address, ping
        # both ways, a TCP transfer each way with an MD5 check, link down
        # and up from the host, rmmod and insmod of hv_netvsc, then rvmbus.
        nic_scenario(
            "netvsc-nic",
            boot_timeout=900,
            host_expect=[r" h2g \d+ DATA_USING_XFER_PAGES ", r" g2h \d+ COMP ", r" g2h \d+ CLOSE_CHANNEL ",
                         r" g2h \d+ GPADL_TEARDOWN ", r" h2g - GPADL_TORNDOWN ", r" g2h - UNLOAD "],
        ),
        # The network adapter rescinded under a TCP upload and re-offered
        # (ctl reoffer): hv_netvsc lets go of it and binds the new offer.
        nic_scenario(
            "netvsc-rescind",
            host_expect=[r" h2g \d+ RESCIND_CHANNEL_OFFER ", r" g2h \d+ RELID_RELEASED ",
                         r" h2g \d+ DATA_USING_XFER_PAGES ", r" g2h - UNLOAD "],
        ),
        # MTU 9000 and back: hv_netvsc reopens every channel each time.
        nic_scenario(
            "netvsc-mtu",
            boot_timeout=600,
            host_expect=[r" g2h \d+ CLOSE_CHANNEL ", r" h2g \d+ DATA_USING_XFER_PAGES ", r" g2h - UNLOAD "],
        ),
        # hv_netvsc across S3 and hibernation (test_resume) with eth0 up.
        nic_scenario(
            "netvsc-pm",
            disk_mb=256,
            mem_mb=768,
            boot_timeout=600,
            host_expect=[r" g2h \d+ CLOSE_CHANNEL ", r" h2g \d+ DATA_USING_XFER_PAGES ", r" g2h - UNLOAD "],
            console_expect=[r"rvmbus: hv_vmbus driver hv_netvsc unregistered; 0 channel structures"],
        ),
        # The hv_vmbus interface functions that the echo device can
        # exercise, through tests/hv_iftest: packet iteration, GPA-direct
        # packets, the request-id table, the ring fields, a driver GPADL.
        Scenario(
            "hv-iface",
            needs_module="hv_iftest.ko",
            host_expect=[r" g2h \d+ DATA_USING_GPA_DIRECT ", r" g2h \d+ GPADL_TEARDOWN ",
                         r" h2g - GPADL_TORNDOWN "],
            console_expect=[r"hv_iftest: all ok"],
        ),
        Scenario(
            "driver-rescind",
            host_expect=[r" h2g 4 RESCIND_CHANNEL_OFFER ", r" g2h 4 GPADL_TEARDOWN ", r" g2h 4 RELID_RELEASED ",
                         r" h2g - GPADL_TORNDOWN "],
        ),
    ]
}

# The hostile modes of tools/vmbus-host (`vmbus-host ctl hostile list`),
# each a scenario of tests/guest/hostile.sh; hostile-all runs them all in
# one boot, for the debug kernel.
HOSTILE_MODES = [
    "corrupt-ring-indices", "oversized-packet", "truncated-packet", "misaligned-packet",
    "bogus-offer", "duplicate-relid", "out-of-range-monitor-id", "unknown-message-type",
    "wrong-message-size", "message-flood", "interrupt-flood", "silent", "die-mid-handshake",
    "rescind-mid-open", "gpadl-fail", "open-fail", "rescind-on-close", "pending-race",
    "slot-flood", "post-busy", "post-refuse", "reject-versions", "ic-garbage", "keep-gpadls",
    "bad-ring-at-open", "hold-ring-space", "ignore-gpa-direct",
]
HOSTILE_HOST = ["--heartbeat-ms", "200", "--device", "heartbeat", "--device", "echo"]
for _m in HOSTILE_MODES:
    SCENARIOS[f"hostile-{_m}"] = Scenario(
        f"hostile-{_m}", host_args=HOSTILE_HOST, host_exit=3 if _m == "die-mid-handshake" else 0,
        host_may_write_after_unload=True)
# The victim of a single-mode boot is relid 3 (after the heartbeat and the
# echo): the guest closes the channel it cannot use, and tears its GPADL
# down, after the host's answer to the open.
SCENARIOS["hostile-bad-ring-at-open"].host_order = [
    r" g2h 3 OPEN_CHANNEL ", r" h2g 3 OPEN_CHANNEL_RESULT ", r" g2h 3 CLOSE_CHANNEL ",
    r" g2h 3 GPADL_TEARDOWN ", r" h2g - GPADL_TORNDOWN "]
SCENARIOS["hostile-all"] = Scenario("hostile-all", host_args=HOSTILE_HOST, boot_timeout=600,
                                    debug_only=True, host_exit=3, host_may_write_after_unload=True)

# A guest's verdict on one hostile mode: "@@HOSTILE MODE held ..." or
# "@@HOSTILE MODE FAILED ...".
HOSTILE_LINE = re.compile(r"@@HOSTILE (\S+) (held|FAILED)\b(.*)")

# Benchmarks (scripts/bench-guest.sh): they print @@BENCH lines and pass
# unless something broke; make test does not run them.
SCALE_COUNTS = (1, 16, 64, 256, 1024)
for _sc in [
    # One echo device signalled through the monitor page, one through
    # HvSignalEvent; no other devices, so that the host's counters are
    # theirs.
    Scenario("bench-guest", host_args=["--device", "echo", "--device", "echo:nomonitor"],
             boot_timeout=900, bench_only=True),
    # Linux's hv_storvsc and hv_netvsc on rvmbus against QEMU's virtio-blk
    # and virtio-net in the same boot: the host's disk and QEMU's, both
    # files here; the host's adapter and QEMU's NIC, both TAP devices in
    # the namespace, to the same server (tests/guest/bench-virtio.sh).
    # bench-virtio-event: the same with every channel offered without a
    # monitor id, signalled by HvSignalEvent (vmbus-host --no-monitor).
    *[Scenario(name, linux_modules=True, netns=True, virtio_net=True,
               disk_mb=256, host_disks=[("bench", 256, "lun=0")],
               host_args=NIC_ARGS + extra,
               boot_timeout=900, bench_only=True)
      for name, extra in [("bench-virtio", []), ("bench-virtio-event", ["--no-monitor"])]],
] + [
    # Event-signalled echo devices: the host polls every monitored channel
    # each millisecond, which at 1024 open channels takes the CPU from the
    # guest under TCG and would time the host, not the guest's connect.
    Scenario(f"bench-scale-{n}", host_args=["--device", f"echo:{n}:nomonitor"],
             boot_timeout=600 + n, bench_only=True)
    for n in SCALE_COUNTS
]:
    SCENARIOS[_sc.name] = _sc

# make run (tests/guest/demo.sh): the sample drivers, then Linux's
# hv_storvsc with a data disk and hv_netvsc with the adapter's TAP device
# in a namespace (as storvsc-disk and netvsc-nic), the host's shutdown
# last.
DEMO = Scenario(
    "demo",
    host_args=["--heartbeat-ms", "500"] + NIC_ARGS,
    host_disks=[("data", 64, "lun=0")],
    netns=True,
    linux_modules=True,
    boot_timeout=600,
    powers_off=True,
    console_expect=[r"rvmbus_shutdown: shutdown: the host asked for a power-off; powering off"],
)

# Debug kernel (--debug-kernel): reports of its checks that fail a scenario,
# whether or not BAD matched them too.
DEBUG_FINDINGS = re.compile(
    r"(BUG: KASAN|WARNING: possible|possible circular locking|inconsistent lock state|"
    r"\blockdep\b|turning off the locking correctness validator|DEBUG_LOCKS_WARN_ON|"
    r"bad unlock balance|held lock freed|suspicious RCU usage|"
    r"BUG: sleeping function called from invalid context|scheduling while atomic|"
    r"unreferenced object)"
)
# Lines of the debug kernel's boot banner that name lockdep.
DEBUG_BANNER = re.compile(r"RCU lockdep checking is enabled")
# A KTAP result line printed by KUnit: "[ time] ok 1 suite" for a suite,
# indented further for its cases.
KTAP_RESULT = re.compile(r"^\[\s*\d+\.\d+\]( +)(not ok|ok) \d+ (.*)$")


def debug_kernel_check(console: Path):
    """Scans a debug-kernel console log; returns (findings, KUnit cases passed).

    The guest's /init prints kmemleak's report after the scenario when the
    kernel command line has rvmbus.kmemleak=1 (see tests/guest/init)."""
    findings, kunit_passed = [], 0
    for line in console.read_text(errors="replace").splitlines():
        if DEBUG_FINDINGS.search(line) and not DEBUG_BANNER.search(line):
            findings.append(line.strip()[:160])
        m = KTAP_RESULT.match(line)
        if m and m.group(2) == "not ok":
            findings.append("KUnit: " + line.strip()[:160])
        elif m and len(m.group(1)) > 1 and "# SKIP" not in m.group(3):
            kunit_passed += 1
    return findings, kunit_passed


def log(msg):
    print(msg, flush=True)


# Debian's own modules that Linux's drivers of --linux-module need
# (hv_storvsc: the SCSI midlayer and its FC transport; sd_mod, the SCSI
# disk driver, for its disks to become block devices), in load order;
# put decompressed in the initramfs's /modules/linux/deps/.
LINUX_MODULE_DEPS = ["drivers/scsi/scsi_common", "drivers/scsi/scsi_mod",
                     "drivers/scsi/scsi_transport_fc", "drivers/scsi/sd_mod"]


def kernel_module(kernel: Path, rel: str):
    """The module rel (a path in the source tree, without .ko) of the kernel
    whose image is `kernel`, as bytes, or None: Debian's compressed one in
    the modules directory beside its vmlinuz, or the plain one of the build
    tree whose arch/x86/boot/bzImage it is (the debug kernel)."""
    kernel = Path(kernel)
    xz = kernel.parent / "kernel" / f"{rel}.ko.xz"
    if xz.exists():
        import lzma
        return lzma.decompress(xz.read_bytes())
    if kernel.name == "bzImage" and len(kernel.parents) > 3:
        plain = kernel.parents[3] / f"{rel}.ko"
        if plain.exists():
            return plain.read_bytes()
    return None


def write_modules(kernel: Path, rels: list, into: Path):
    """Writes the modules of `rels` that the kernel has as modules
    (kernel_module; the debug kernel builds most of them in) into the
    directory `into`, numbered in the order given so that a glob loads
    them in order (0-scsi_common.ko, ...)."""
    mods = [(Path(r).name, kernel_module(kernel, r)) for r in rels]
    mods = [(n, b) for n, b in mods if b is not None]
    if mods:
        into.mkdir(parents=True, exist_ok=True)
    for i, (n, b) in enumerate(mods):
        (into / f"{i}-{n}.ko").write_bytes(b)


# Debian's modules of virtio-net, in load order (the debug kernel builds
# them in).
VIRTIO_NET_MODULES = ["net/core/failover", "drivers/net/net_failover", "drivers/net/virtio_net"]

# Debian's vsock core (AF_VSOCK), which Linux's hv_sock needs loaded
# first; in the initramfs's /modules/vsock/ (the debug kernel has none).
VSOCK_MODULES = ["net/vmw_vsock/vsock"]

# Debian's evdev (/dev/input/eventN), through which the hv-keyboard
# scenario reads the synthetic keyboard's key events; in the initramfs's
# /modules/evdev/ (the debug kernel has none).
EVDEV_MODULES = ["drivers/input/evdev"]


def pack(root: Path, img: Path) -> Path:
    """Writes the tree at root to img as a gzip-compressed newc cpio."""
    files = subprocess.run(
        ["find", ".", "-print0"], cwd=root, check=True, capture_output=True
    ).stdout
    cpio = subprocess.run(
        ["cpio", "--null", "-o", "-H", "newc", "--quiet", "--owner=0:0"],
        cwd=root,
        input=files,
        check=True,
        capture_output=True,
    ).stdout
    with gzip.open(img, "wb", compresslevel=1) as f:
        f.write(cpio)
    return img


# What Debian's python3 needs to run Linux's tools/hv/lsvmbus and
# tests/abi/check_sysfs.py: the interpreter, its libraries, and the
# standard modules they import that are not frozen into the binary (seen
# with python3 -v in the build chroot). Each module goes in as its source
# and its compiled file, so the guest does not compile it.
PY_VERSION = "3.13"
PY_FILES = ["usr/bin/python3.13", "lib64/ld-linux-x86-64.so.2"] + [
    f"lib/x86_64-linux-gnu/{lib}" for lib in ("libc.so.6", "libm.so.6", "libz.so.1", "libexpat.so.1")
]
PY_MODULES = [
    "os", "encodings/__init__", "encodings/aliases", "encodings/utf_8", "optparse", "textwrap",
    "re/__init__", "re/_compiler", "re/_parser", "re/_constants", "re/_casefix", "enum", "functools",
    "collections/__init__", "keyword", "operator", "reprlib", "types", "copyreg", "gettext", "locale",
    # For readable tracebacks.
    "traceback", "linecache", "warnings", "contextlib", "_colorize", "__future__", "tokenize", "token",
    "ast",
    # For the hv-sock scenario's AF_VSOCK sockets (tests/guest/hv-sock.py).
    "socket", "selectors",
]


def python_overlay(out: Path, chroot: Path, lsvmbus: Path) -> Path:
    """A second cpio archive with Python and lsvmbus (/abi/lsvmbus); the
    kernel unpacks archives that follow each other in the initrd one over
    the other. About 5 MiB compressed, so only the boots that need it
    carry it."""
    root = out / "initramfs-python"
    if root.exists():
        shutil.rmtree(root)
    lib = f"usr/lib/python{PY_VERSION}"
    for f in PY_FILES:
        dst = root / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(chroot / f, dst, follow_symlinks=True)
    os.symlink(f"python{PY_VERSION}", root / "usr" / "bin" / "python3")
    for m in PY_MODULES:
        d, name = os.path.split(m)
        src = chroot / lib / d
        (root / lib / d / "__pycache__").mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / f"{name}.py", root / lib / d / f"{name}.py")
        pyc = src / "__pycache__" / f"{name}.cpython-{PY_VERSION.replace('.', '')}.pyc"
        if pyc.exists():
            shutil.copy2(pyc, root / lib / d / "__pycache__" / pyc.name)
    (root / lib / "lib-dynload").mkdir(parents=True, exist_ok=True)
    (root / "abi").mkdir()
    shutil.copy2(lsvmbus, root / "abi" / "lsvmbus")
    return pack(root, out / "initramfs-python.cpio.gz")


# Debian's hyperv-daemons in the build chroot: the daemons and the helper
# scripts hv_kvp_daemon runs for an adapter's DNS and DHCP settings.
# Debian's package (trixie) has no hv_fcopy_uio_daemon, the file-copy
# daemon of Linux 6.10 and later: scripts/build-fcopy-daemon.sh builds it
# from the kernel source, and --fcopy-daemon names it (FCOPY_DAEMON).
HV_DAEMONS = ["usr/sbin/hv_kvp_daemon", "usr/sbin/hv_vss_daemon"]
HV_DAEMON_HELPERS = "usr/libexec/hypervkvpd"
FCOPY_DAEMON = "usr/sbin/hv_fcopy_uio_daemon"


def daemons_overlay(out: Path, chroot: Path, kernel: Path, fcopy_daemon: Path = None) -> Path:
    """A cpio archive to append to the initramfs: Debian's hyperv-daemons
    with their libraries (add_with_libraries), and the kernel's dummy.ko
    (/modules/dummy.ko, a network adapter for KVP to report); with
    fcopy_daemon (Linux's hv_fcopy_uio_daemon, built in the chroot), also
    that as /usr/sbin/hv_fcopy_uio_daemon with its libraries and the
    kernel's UIO core, which uio_hv_generic needs (/modules/uio.ko)."""
    root = out / "initramfs-daemons"
    if root.exists():
        shutil.rmtree(root)
    for d in HV_DAEMONS:
        src = chroot / d
        if not src.exists():
            raise RuntimeError(f"no {src}: scripts/setup-kenv.sh installs hyperv-daemons in the chroot")
        (root / d).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, root / d)
        add_with_libraries(root, chroot, src)
    helpers = chroot / HV_DAEMON_HELPERS
    if helpers.is_dir():
        shutil.copytree(helpers, root / HV_DAEMON_HELPERS)
    (root / "modules").mkdir(parents=True, exist_ok=True)
    dummy = kernel_module(kernel, "drivers/net/dummy")
    if dummy:
        (root / "modules" / "dummy.ko").write_bytes(dummy)
    if fcopy_daemon and Path(fcopy_daemon).exists():
        shutil.copy2(fcopy_daemon, root / FCOPY_DAEMON)
        add_with_libraries(root, chroot, Path(fcopy_daemon))
        uio = kernel_module(kernel, "drivers/uio/uio")
        if uio:
            (root / "modules" / "uio.ko").write_bytes(uio)
    return pack(root, out / "initramfs-daemons.cpio.gz")


def build_initramfs(out: Path, busybox: Path, modules: list, kernel: Path = None,
                    kexec: Path = None, name: str = "initramfs", linux_modules: list = (),
                    tools: list = ()) -> Path:
    """Packs busybox, /init, the guest scenarios, the sysfs ABI check
    (/abi) and the modules (Linux's
    own drivers built for rvmbus in /modules/linux, where a depmod of
    /modules does not see them); with
    kexec (kexec-tools' binary in the build chroot), also that binary with
    its libraries, and under /kexec the kernel and the plain initramfs
    (out/initramfs.cpio.gz, built first) for the second kernel."""
    root = out / name
    if root.exists():
        shutil.rmtree(root)
    for d in ("bin", "sbin", "proc", "sys", "dev", "tmp", "scenarios", "modules", "modules/linux", "root", "abi"):
        (root / d).mkdir(parents=True)
    for f in (REPO / "tests" / "abi").glob("*"):
        if f.suffix in (".txt", ".py"):
            shutil.copy2(f, root / "abi" / f.name)
    shutil.copy2(busybox, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    shutil.copy2(GUEST / "init", root / "init")
    os.chmod(root / "init", 0o755)
    # The kernel's orderly power-off runs /sbin/poweroff (poweroff_cmd).
    shutil.copy2(GUEST / "poweroff", root / "sbin" / "poweroff")
    os.chmod(root / "sbin" / "poweroff", 0o755)
    for f in [*GUEST.glob("*.sh"), *GUEST.glob("*.py")]:
        shutil.copy2(f, root / "scenarios" / f.name)
    for m in modules:
        shutil.copy2(m, root / "modules" / Path(m).name)
    for m in linux_modules:
        shutil.copy2(m, root / "modules" / "linux" / Path(m).name)
    # Static programs the scenarios may use (bench-virtio's randio).
    for t in tools:
        shutil.copy2(t, root / "bin" / Path(t).name)
    if linux_modules and kernel:
        # The directory is there even when empty (the debug kernel).
        (root / "modules" / "linux" / "deps").mkdir()
        write_modules(kernel, LINUX_MODULE_DEPS, root / "modules" / "linux" / "deps")
    vblk = kernel_module(kernel, "drivers/block/virtio_blk") if kernel else None
    if vblk:
        (root / "modules" / "virtio_blk.ko").write_bytes(vblk)
    if kernel:
        write_modules(kernel, VIRTIO_NET_MODULES, root / "modules" / "virtio-net")
        write_modules(kernel, VSOCK_MODULES, root / "modules" / "vsock")
        write_modules(kernel, EVDEV_MODULES, root / "modules" / "evdev")
    if kexec:
        add_kexec(root, kexec, kernel, out / "initramfs.cpio.gz")
    return pack(root, out / f"{name}.cpio.gz")


def add_with_libraries(root: Path, chroot: Path, binary: Path):
    """Puts the shared libraries binary (a program of the build chroot)
    needs, as the chroot's own loader resolves them, and the loader into
    the initramfs tree at root."""
    loader = chroot / "lib64" / "ld-linux-x86-64.so.2"
    libpath = ":".join(str(chroot / d) for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"))
    listing = subprocess.run([str(loader), "--library-path", libpath, "--list", str(binary)],
                             check=True, capture_output=True, text=True).stdout
    needed = {"lib64/ld-linux-x86-64.so.2": loader}
    for line in listing.splitlines():
        m = re.search(r"=> (\S+) \(", line)
        if m:
            lib = Path(m.group(1))
            needed[f"lib/x86_64-linux-gnu/{lib.name}"] = lib
    for rel, src in needed.items():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.resolve(), dst)
        os.chmod(dst, 0o755)


def add_kexec(root: Path, kexec: Path, kernel: Path, initrd: Path):
    """Puts kexec and the shared libraries it needs into the initramfs tree
    at root, and the second kernel's vmlinuz and initramfs under /kexec."""
    add_with_libraries(root, kexec.resolve().parents[2], kexec)
    shutil.copy2(kexec, root / "sbin" / "kexec")
    (root / "kexec").mkdir()
    shutil.copyfile(kernel, root / "kexec" / "vmlinuz")
    shutil.copyfile(initrd, root / "kexec" / "initrd.cpio.gz")


class NetNs:
    """A network namespace for one boot's host: a persistent TAP device with
    an address, up, and the harness's server on it. Nothing outside the
    namespace is touched; remove() deletes it all."""

    # Namespaces not yet removed: the harness removes them when it exits,
    # also on SIGTERM (main), so that none outlives it.
    live = set()

    def __init__(self, work: Path, virtio: bool = False):
        self.name = f"rvmbus-nic-{os.getpid()}"
        NetNs.live.add(self)
        self.server = None
        self.log = open(work / "netns-server.log", "w")
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
        try:
            for cmd in (["ip", "netns", "add", self.name],
                        ["ip", "link", "set", "lo", "up"],
                        ["ip", "tuntap", "add", "dev", NETNS_TAP, "mode", "tap"],
                        ["ip", "addr", "add", f"{NETNS_ADDR}/24", "dev", NETNS_TAP],
                        # Jumbo frames pass (netvsc-mtu); TCP's MSS keeps
                        # frames at the guest's MTU otherwise.
                        ["ip", "link", "set", NETNS_TAP, "mtu", "9000"],
                        ["ip", "link", "set", NETNS_TAP, "up"],
                        *([["ip", "tuntap", "add", "dev", NETNS_VIRTIO_TAP, "mode", "tap"],
                           ["ip", "addr", "add", f"{NETNS_VIRTIO_ADDR}/24", "dev", NETNS_VIRTIO_TAP],
                           ["ip", "link", "set", NETNS_VIRTIO_TAP, "up"]] if virtio else [])):
                if cmd[1] != "netns":
                    cmd = self.prefix() + cmd
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
            self.server = subprocess.Popen(
                self.prefix() + [sys.executable, str(REPO / "tests" / "harness" / "netns_server.py"),
                                 "0.0.0.0" if virtio else NETNS_ADDR, str(NETNS_PORT)],
                stdout=subprocess.PIPE, stderr=self.log, text=True)
            if self.server.stdout.readline().strip() != "ready":
                raise RuntimeError("the namespace's server did not start; see netns-server.log")
        except Exception:
            self.remove()
            raise

    def prefix(self) -> list:
        return ["ip", "netns", "exec", self.name]

    def ping(self, busybox: str, addr: str) -> str:
        # busybox's ping: the harness machine need not have one of its own.
        r = subprocess.run(self.prefix() + [busybox, "ping", "-c", "3", "-W", "5", addr],
                           capture_output=True, text=True, timeout=60)
        last = ((r.stdout + r.stderr).strip().splitlines() or [""])[-2:]
        return ("ok " if r.returncode == 0 else "error ") + " ".join(" ".join(last).split())

    def remove(self):
        NetNs.live.discard(self)
        if self.server:
            self.server.kill()
            self.server.wait(10)
            self.server = None
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
        self.log.close()


class Host:
    """A vmbus-host process serving one guest."""

    def __init__(self, binary: Path, work: Path, mem: Path, vectors: int, extra: list, trace: bool = True,
                 prefix: list = ()):
        self.sock = work / "ivshmem.sock"
        self.ctl = work / "control.sock"
        self.trace = work / "host-trace.txt"
        self.logf = open(work / "host.log", "w")
        cmd = list(prefix) + [
            str(binary), "serve",
            "--socket", str(self.sock),
            "--guest-mem", str(mem),
            "--vectors", str(vectors),
            "--control", str(self.ctl),
            "--log-level", "info",
        ] + (["--trace", str(self.trace)] if trace else []) + extra
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        self.killed = False
        deadline = time.time() + 20
        while not self.sock.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"vmbus-host exited early (rc {self.proc.returncode}); see {work}/host.log")
            if time.time() > deadline:
                raise RuntimeError("vmbus-host did not create its socket within 20 s")
            time.sleep(0.05)

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self.killed = True

    def stop(self, may_exit: int = 0) -> str:
        """Stops the host with SIGTERM; returns a problem, or '' if it exited
        cleanly (or on its own with status may_exit, when not 0)."""
        problem = ""
        if self.killed:
            pass
        elif may_exit and self.proc.poll() == may_exit:
            pass
        elif self.proc.poll() is not None:
            problem = f"host died during the scenario (rc {self.proc.returncode})"
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
                if rc != 0:
                    problem = f"host exited with rc {rc} on SIGTERM"
                elif self.sock.exists():
                    problem = "host left its socket behind"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                problem = "host did not exit within 10 s of SIGTERM"
        self.logf.close()
        return problem


class Boot:
    """One QEMU boot running one guest scenario."""

    def __init__(self, args, sc: Scenario, initrd: Path, work: Path, echo: bool):
        self.args, self.sc, self.work, self.echo = args, sc, work, echo
        self.initrd = initrd
        self.mem = Path("/dev/shm") / f"rvmbus-{os.getpid()}-{sc.name}"
        self.ctl_path = work / "serial1.sock"
        self.console = open(work / "console.log", "w")
        self.host = None
        self.result = None
        self.problems = []
        self.notes = []
        self.hibernated = False
        # Whether the guest's /init ran (@@GUEST-UP), and whether the boot
        # was given up before it did: not there by UP_TIMEOUT, or the
        # kernel crashed on its way (`why_not_up` says which).
        self.up = False
        self.stuck_before_init = False
        self.why_not_up = ""
        # Lines of the host's trace when the guest asked for trace-mark.
        self.trace_mark = None
        self.mem_mb = sc.mem_mb or args.mem_mb
        with open(self.mem, "wb") as f:
            f.truncate(self.mem_mb << 20)
        self.disk = work / "disk.img"
        if sc.disk_mb:
            with open(self.disk, "wb") as f:
                f.truncate(sc.disk_mb << 20)
        disk_args = []
        for name, mib, opts in sc.host_disks:
            path = work / f"host-{name}.img"
            with open(path, "wb") as f:
                f.truncate(mib << 20)
            disk_args += ["--disk", f"{path},{opts}" if opts else str(path)]
        self.netns = NetNs(work, sc.virtio_net) if sc.netns else None
        try:
            if sc.with_host:
                self.host = Host(Path(args.host), work, self.mem, args.vectors, sc.host_args + disk_args,
                                 trace=not sc.bench_only, prefix=self.netns.prefix() if self.netns else ())
            self._start_qemu("")
        except Exception:
            if self.host and self.host.proc.poll() is None:
                self.host.kill()
            if self.netns:
                self.netns.remove()
            raise

    def _start_qemu(self, more_append: str):
        args, sc, work = self.args, self.sc, self.work
        # no_timer_check: under TCG on a loaded machine the guest's early
        # IO-APIC timer check can miss its ticks and panic the boot ("IO-APIC
        # + timer doesn't work!", seen with the debug kernel building beside
        # the scenarios); the timer is QEMU's and works.
        append = f"console=ttyS0 panic=-1 loglevel=7 no_timer_check rvmbus.scenario={sc.name} {args.append.strip()} {more_append}"
        cmd = [
            args.qemu,
            "-machine", "pc,memory-backend=mem",
            # Single- or multi-threaded TCG as the scenario says
            # (Scenario.tcg_thread says why); the guest has two vCPUs
            # either way.
            "-accel", f"tcg,thread={args.tcg_thread or sc.tcg_thread}",
            "-cpu", "max",
            "-smp", str(args.smp),
            "-m", f"{self.mem_mb}M",
            "-object", f"memory-backend-file,id=mem,size={self.mem_mb}M,mem-path={self.mem},share=on",
            "-display", "none", "-vga", "none",
            # The monitor wakes the guest from S3 (system_wakeup).
            "-monitor", f"unix:{work / 'monitor.sock'},server=on,wait=off",
            "-no-reboot",
            "-kernel", str(args.kernel),
            "-initrd", str(self.initrd),
            "-append", " ".join(append.split()),
            "-serial", "stdio",
            "-chardev", f"socket,id=ctl,path={self.ctl_path},server=on,wait=off",
            "-serial", "chardev:ctl",
        ]
        if self.host:
            cmd += [
                "-chardev", f"socket,path={self.host.sock},id=ivs",
                "-device", f"ivshmem-doorbell,chardev=ivs,vectors={args.vectors}",
            ]
        if sc.disk_mb:
            cmd += ["-drive", f"file={self.disk},if=virtio,format=raw"]
        if sc.virtio_net and self.netns:
            # QEMU opens the TAP device in the namespace: it runs there.
            cmd = self.netns.prefix() + cmd + [
                "-netdev", f"tap,id=vnet,ifname={NETNS_VIRTIO_TAP},script=no,downscript=no",
                "-device", "virtio-net-pci,netdev=vnet,mac=52:54:00:42:00:08",
            ]
        self.qemu = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.ctl = None

    def _ctl(self):
        if self.ctl is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(self.ctl_path))
            self.ctl = s
        return self.ctl

    def _harness(self, req: str):
        if req == "kill-host" and self.host:
            self.host.kill()
            answer = "done"
        elif req.startswith("wake-after "):
            # Wakes the guest from suspend-to-RAM SECONDS from now.
            secs = float(req.split()[1])
            threading.Timer(secs, self._wakeup).start()
            answer = "ok"
        elif req == "trace-mark" and self.host:
            # The host's trace so far is what the guest's trace covers.
            text = self.host.trace.read_text() if self.host.trace.exists() else ""
            self.trace_mark = len(text.splitlines())
            answer = f"ok {self.trace_mark}"
        elif req.startswith("ns-ping ") and self.netns:
            answer = self.netns.ping(self.args.busybox, req.split()[1])
        elif req == "time":
            # The harness machine's clock (the host's), in seconds.
            answer = f"{time.time():.0f}"
        elif req.startswith("make-disk "):
            # A sparse file host-NAME.img of MIB MiB in the scenario's
            # directory, for the host's disk-add; the answer is its path.
            words = req.split()
            name, mib = words[1], int(words[2])
            if not re.fullmatch(r"[a-z0-9-]+", name):
                answer = "error bad name"
            else:
                path = self.work / f"host-{name}.img"
                with open(path, "wb") as f:
                    f.truncate(mib << 20)
                answer = f"ok {path}"
        elif req.startswith("make-file "):
            # A file host-NAME.bin of BYTES pseudo-random bytes (seeded by
            # NAME and BYTES, so the same on every run) in the scenario's
            # directory, for the host to send (fcopy); the answer is its
            # path and SHA-256.
            words = req.split()
            name, size = words[1], int(words[2])
            if not re.fullmatch(r"[a-z0-9-]+", name) or not 0 <= size <= 64 << 20:
                answer = "error bad name or size"
            else:
                path = self.work / f"host-{name}.bin"
                data = random.Random(f"{name}:{size}").randbytes(size)
                path.write_bytes(data)
                answer = f"ok {path} {hashlib.sha256(data).hexdigest()}"
        elif req.startswith("disk-sha256 "):
            # The SHA-256 of LEN bytes at OFFSET of the host's file
            # host-NAME.img, as the host's backend left them.
            words = req.split()
            name, off, ln = words[1], int(words[2]), int(words[3])
            path = self.work / f"host-{name}.img"
            if not re.fullmatch(r"[a-z0-9-]+", name) or not path.exists():
                answer = "error no such disk"
            else:
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    f.seek(off)
                    left = ln
                    while left:
                        b = f.read(min(left, 1 << 20))
                        if not b:
                            break
                        h.update(b)
                        left -= len(b)
                answer = f"ok {h.hexdigest()}" if not left else f"error short file ({left} bytes missing)"
        elif req.startswith("ctl ") and self.host:
            # A control command for the host; the answer is one line.
            answer = self._host_ctl(req.split()[1:])
        elif req.startswith("ctl-after ") and self.host:
            # A control command SECONDS from now (while the guest sleeps,
            # say); its answer goes to the console log only.
            words = req.split()
            secs, cmd = float(words[1]), words[2:]
            threading.Timer(secs, lambda: self.console_note("ctl-after: " + self._host_ctl(cmd))).start()
            answer = "ok"
        else:
            answer = f"unknown-request {req}"
        self._ctl().sendall((answer + "\n").encode())

    def _host_ctl(self, words):
        r = subprocess.run(
            [str(self.args.host), "ctl", "--control", str(self.host.ctl)] + words,
            capture_output=True, text=True, timeout=30,
        )
        out = " ".join((r.stdout + r.stderr).split())
        return ("ok " if r.returncode == 0 else "error ") + out

    def console_note(self, text):
        with open(self.work / "harness-notes.txt", "a") as f:
            f.write(text + "\n")

    def _wakeup(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as m:
                m.connect(str(self.work / "monitor.sock"))
                m.sendall(b"system_wakeup\n")
                time.sleep(0.5)
        except OSError as e:
            self.problems.append(f"system_wakeup failed: {e}")

    def run(self):
        deadline = time.time() + self.sc.boot_timeout * self.args.timeout_scale
        timed_out = self._pump(deadline, time.time() + UP_TIMEOUT * self.args.timeout_scale)
        if self.stuck_before_init:
            self.problems.append(self.why_not_up)
        if self.sc.cycle and not timed_out and self.result is None:
            self.qemu.wait(30)
            if not self.hibernated:
                self.problems.append("the first boot ended without @@HIBERNATED")
            else:
                self._between()
                if self.ctl:
                    self.ctl.close()
                    self.ctl = None
                self.console.write("@@HARNESS-RESTART QEMU with rvmbus.resume=1\n")
                self._start_qemu("rvmbus.resume=1")
                timed_out = self._pump(deadline)
        self._finish(timed_out)

    def _between(self):
        """Host control commands while the guest is off."""
        for c in self.sc.between_ctl:
            if c[0] == "rescind-instance":
                # The relid of instance c[1] now (the host may have renumbered).
                r = subprocess.run(
                    [str(self.args.host), "ctl", "--control", str(self.host.ctl), "list"],
                    capture_output=True, text=True, timeout=30,
                )
                m = re.search(r"relid=(\d+) [^\n]*instance=\{?" + re.escape(c[1]), r.stdout)
                if not m:
                    self.problems.append(f"host list has no instance {c[1]}: {r.stdout.strip()[:200]}")
                    continue
                c = ["rescind", m.group(1)]
            r = subprocess.run(
                [str(self.args.host), "ctl", "--control", str(self.host.ctl)] + c,
                capture_output=True, text=True, timeout=30,
            )
            out = " ".join((r.stdout + r.stderr).split())
            self.console.write(f"@@HARNESS-CTL {' '.join(c)}: rc {r.returncode} {out}\n")
            if r.returncode != 0:
                self.problems.append(f"host ctl {' '.join(c)} failed: {out}")

    def _pump(self, deadline, up_by=None) -> bool:
        """Reads the console until QEMU exits; true on timeout, or when
        /init has not run by `up_by` (then `stuck_before_init` is set)."""
        buf = b""
        fd = self.qemu.stdout.fileno()
        timed_out = False
        while True:
            left = deadline - time.time()
            if left <= 0:
                timed_out = True
                break
            if up_by is not None and not self.up and (self.why_not_up or time.time() > up_by):
                # Hung, or crashed (an Oops may leave the boot stuck, or
                # QEMU gone after the panic): given up at once.
                self.why_not_up = self.why_not_up or (
                    f"the kernel did not reach /init in {UP_TIMEOUT * self.args.timeout_scale:.0f} s")
                self.stuck_before_init = True
                timed_out = True
                break
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not r:
                if self.qemu.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                if up_by is not None and not self.up:
                    # QEMU ended before /init ran (a panic, -no-reboot).
                    self.why_not_up = self.why_not_up or "QEMU exited before /init"
                    self.stuck_before_init = True
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._line(line.decode(errors="replace").rstrip("\r"))
        return timed_out

    def _finish(self, timed_out):
        if timed_out:
            if not self.stuck_before_init:
                self.problems.append(f"timeout after {self.sc.boot_timeout * self.args.timeout_scale:.0f} s")
            self.qemu.kill()
        self.qemu.wait(30)
        if self.ctl:
            self.ctl.close()
        if self.host:
            p = self.host.stop(self.sc.host_exit)
            if p:
                self.problems.append(p)
            trace = self.host.trace.read_text() if self.host.trace.exists() else ""
            for pat in self.sc.host_expect:
                if not re.search(pat, trace, re.M):
                    self.problems.append(f"host trace lacks /{pat}/")
            for pat in self.sc.host_reject:
                if re.search(pat, trace, re.M):
                    self.problems.append(f"host trace has /{pat}/")
            if not self.sc.host_may_write_after_unload:
                m = re.search(r"^.* gmem-write-after-unload .*$", trace, re.M)
                if m:
                    self.problems.append(f"the host wrote into guest memory after the guest took it back: {m.group(0)[:120]}")
            if self.sc.trace_compare:
                problems, summary = compare_traces(trace, self.trace_mark, self.work / "console.log",
                                                   self.work / "trace-compare.txt")
                self.problems += problems
                self.notes.append(summary)
            lines, at = trace.splitlines(), 0
            for pat in self.sc.host_order:
                at = next((i + 1 for i in range(at, len(lines)) if re.search(pat, lines[i])), None)
                if at is None:
                    self.problems.append(f"host trace lacks /{pat}/ after the lines before it ({' -> '.join(self.sc.host_order)})")
                    break
        if self.netns:
            self.netns.remove()
            self.netns = None
        self.console.close()
        text = (self.work / "console.log").read_text(errors="replace")
        for pat in self.sc.console_expect:
            if not re.search(pat, text, re.M):
                self.problems.append(f"guest console lacks /{pat}/")
        for f in (self.mem, self.disk):
            try:
                f.unlink()
            except FileNotFoundError:
                pass

    def _line(self, line: str):
        self.console.write(line + "\n")
        self.console.flush()
        if self.echo and not line.startswith("@@") and (
            not line.startswith("[") or "rvmbus" in line
        ):
            print("  guest| " + line, flush=True)
        if BAD.search(line) and not any(re.search(a, line) for a in self.sc.allow_bad):
            self.problems.append(f"kernel log: {line.strip()[:160]}")
            if not self.up and not self.why_not_up:
                self.why_not_up = f"the kernel crashed before /init: {line.strip()[:100]}"
        if line.startswith("@@GUEST-POWEROFF") and self.sc.powers_off and self.result is None:
            self.result = ("PASS", "the guest powered itself off")
        if self.sc.panics and self.result is None and "Kernel panic - not syncing" in line:
            self.result = ("PASS", "the guest panicked as asked: " + line.split("not syncing:", 1)[-1].strip())
        if line.startswith("@@GUEST-UP"):
            self.up = True
        if line.startswith("@@HIBERNATED"):
            self.hibernated = True
        # What a scenario that ends by powering off measured on its way.
        if line.startswith("@@NOTE "):
            self.notes.append(line[len("@@NOTE "):].strip())
        # A kernel message printed while the guest writes a request can
        # land on the same console line, before or after it.
        if "@@HARNESS " in line:
            req = line[line.index("@@HARNESS ") + len("@@HARNESS "):]
            self._harness(KMSG_TAIL.sub("", req).strip())
        elif line.startswith("@@RESULT "):
            parts = line.split(" ", 3)
            self.result = (parts[2] if len(parts) > 2 else "FAIL", parts[3] if len(parts) > 3 else "")

    def verdict(self):
        if self.result is None:
            self.problems.insert(0, "guest reported no result")
        ok = not self.problems and self.result is not None and self.result[0] == "PASS"
        detail = self.result[1] if self.result else ""
        if self.notes and self.result and self.result[0] == "PASS":
            detail = "; ".join([detail] + self.notes)
        if self.result and self.result[0] != "PASS":
            self.problems.insert(0, "guest: " + detail)
        return ok, (detail if ok else "; ".join(self.problems))


# VMBus message types (vmbus_proto's MessageType) by number, as the
# host's trace names them.
MSG_NAMES = {
    1: "OFFER_CHANNEL", 2: "RESCIND_CHANNEL_OFFER", 3: "REQUEST_OFFERS", 4: "ALL_OFFERS_DELIVERED",
    5: "OPEN_CHANNEL", 6: "OPEN_CHANNEL_RESULT", 7: "CLOSE_CHANNEL", 8: "GPADL_HEADER",
    9: "GPADL_BODY", 10: "GPADL_CREATED", 11: "GPADL_TEARDOWN", 12: "GPADL_TORNDOWN",
    13: "RELID_RELEASED", 14: "INITIATE_CONTACT", 15: "VERSION_RESPONSE", 16: "UNLOAD",
    17: "UNLOAD_RESPONSE", 21: "TL_CONNECT_REQUEST", 22: "MODIFY_CHANNEL", 23: "TL_CONNECT_RESULT",
    24: "MODIFY_CHANNEL_RESPONSE",
}
# The events of messages from the host that name a relid, and the message
# each stands for (the host's trace names the relid of these only).
IN_RELID_EVENTS = {
    "rvmbus_onoffer": "OFFER_CHANNEL", "rvmbus_onoffer_rescind": "RESCIND_CHANNEL_OFFER",
    "rvmbus_onopen_result": "OPEN_CHANNEL_RESULT", "rvmbus_ongpadl_created": "GPADL_CREATED",
    "rvmbus_onmodifychannel_response": "MODIFY_CHANNEL_RESPONSE",
}
# One event in the guest's trace output: "... rvmbus_NAME: FIELDS".
TRACE_EVENT = re.compile(r"^@@TRACE .*?: (rvmbus_\w+): (.*)$")


def compare_traces(host_trace: str, mark, console: Path, report: Path) -> list:
    """Compares the guest's trace events (the @@TRACE lines of the console)
    with the host's trace up to the guest's trace-mark: the same number of
    each message kind with each relid in each direction (messages posted,
    rvmbus_post_message with ret 0, against the host's g2h lines; messages
    taken from the SynIC slot, rvmbus_on_msg_dpc, and the relids of the
    events that name one, against its h2g lines), and the same number of
    packets written to each channel's ring (rvmbus_send_packet with ret 0)
    as the host read from it. Writes both sides' counts to report; returns
    the problems found and a one-line summary."""
    if mark is None:
        return ["the guest never asked for a trace-mark"], ""
    text = console.read_text(errors="replace") if console.exists() else ""
    if "@@TRACE-END" not in text:
        return ["the guest's trace output has no @@TRACE-END"], ""
    guest, host = Counter(), Counter()
    dpc, host_kinds = Counter(), Counter()
    events = 0
    for line in text.splitlines():
        m = TRACE_EVENT.match(line)
        if not m:
            continue
        events += 1
        name, fields = m.group(1), m.group(2)
        relid = re.search(r"(?:child_relid|relid) 0x([0-9a-f]+)", fields)
        relid = str(int(relid.group(1), 16)) if relid else "-"
        ret = re.search(r"ret (-?\d+)", fields)
        ok = ret is None or ret.group(1) == "0"
        if name == "rvmbus_post_message" and ok:
            t = int(re.search(r"msgtype=(\d+)", fields).group(1))
            guest[("g2h", MSG_NAMES.get(t, f"msg-{t}"), "-" if relid == "0" else relid)] += 1
        elif name == "rvmbus_on_msg_dpc":
            t = int(re.search(r"msgtype=(\d+)", fields).group(1))
            dpc[MSG_NAMES.get(t, f"msg-{t}")] += 1
        elif name in IN_RELID_EVENTS:
            guest[("h2g", IN_RELID_EVENTS[name], relid)] += 1
        elif name == "rvmbus_on_message":
            t = MSG_NAMES.get(int(re.search(r"msgtype=(\d+)", fields).group(1)))
            if t not in IN_RELID_EVENTS.values():
                guest[("h2g", t, "-")] += 1
        elif name == "rvmbus_send_packet" and ok:
            guest[("g2h", "packet", relid)] += 1
    names = set(MSG_NAMES.values())
    for line in host_trace.splitlines()[:mark]:
        f = line.split(" ")
        if len(f) < 4:
            continue
        direction, relid, kind = f[1], f[2], f[3]
        if kind in names:
            host[(direction, kind, relid)] += 1
            if direction == "h2g":
                host_kinds[kind] += 1
        elif direction == "g2h" and relid != "-" and not kind.startswith(("msg-", "mbox")):
            host[("g2h", "packet", relid)] += 1
    problems = []
    rows = []
    for k in sorted(set(guest) | set(host)):
        rows.append(f"{' '.join(k):40} guest {guest[k]:5} host {host[k]:5}")
        if guest[k] != host[k]:
            problems.append(f"trace: {' '.join(k)}: guest {guest[k]}, host {host[k]}")
    for k in sorted(set(dpc) | set(host_kinds)):
        rows.append(f"{'h2g ' + k + ' (slot)':40} guest {dpc[k]:5} host {host_kinds[k]:5}")
        if dpc[k] != host_kinds[k]:
            problems.append(f"trace: h2g {k} taken from the slot: guest {dpc[k]}, host {host_kinds[k]}")
    report.write_text(f"{events} guest events; host trace up to line {mark}\n" + "\n".join(rows) + "\n")
    if not guest:
        problems.append("trace: the guest's trace has no messages")
    out = sum(n for k, n in guest.items() if k[0] == "g2h" and k[1] != "packet")
    summary = (f"trace against the host's: {out} messages out, {sum(dpc.values())} in, "
               f"{sum(n for k, n in guest.items() if k[1] == 'packet')} packets, "
               f"{len(set(guest) | set(host)) + len(set(dpc) | set(host_kinds))} counts compared")
    return problems, summary


def count_hostile(name: str, console: Path, ok: bool, totals: list):
    """Adds a hostile scenario's modes to totals (held, run). A mode holds
    when the guest said so and the harness found nothing wrong with the
    boot (no Oops, no debug-kernel finding); a mode the guest never reached
    (it crashed, or the boot timed out) ran and did not hold."""
    modes = HOSTILE_MODES if name == "hostile-all" else [name[len("hostile-"):]]
    said = {}
    if console.exists():
        for line in console.read_text(errors="replace").splitlines():
            m = HOSTILE_LINE.search(line)
            if m:
                said[m.group(1)] = m.group(2) == "held"
                if m.group(2) != "held" or len(modes) > 1:
                    log(f"  hostile {m.group(1)}: {m.group(2)}{m.group(3)[:200]}")
    for m in modes:
        totals[1] += 1
        if ok and said.get(m):
            totals[0] += 1


def debug_verdict(work: Path, ok: bool, detail: str, totals: list):
    """Adds the debug kernel's findings in work/console.log to a verdict."""
    findings, kunit_passed = debug_kernel_check(work / "console.log")
    totals[0] += len(findings)
    totals[1] += kunit_passed
    note = f"(debug-kernel findings: {len(findings)}, KUnit cases passed: {kunit_passed})"
    if findings:
        return False, "; ".join([detail] + ["debug kernel: " + f for f in findings[:5]]) + " " + note
    return ok, f"{detail} {note}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", required=True, help="the vmlinuz to boot")
    ap.add_argument("--busybox", required=True, help="a static busybox binary")
    ap.add_argument("--host", required=True, help="the vmbus-host binary")
    ap.add_argument("--module", action="append", default=[], help="a .ko to put in the initramfs")
    ap.add_argument("--linux-module", action="append", default=[],
                    help="one of Linux's own drivers built for rvmbus, for /modules/linux")
    ap.add_argument("--guest-tool", action="append", default=[],
                    help="a static program for the guest's /bin (bench-virtio's randio)")
    ap.add_argument("--kexec", help="kexec-tools' kexec in the build chroot (for the kexec scenario)")
    ap.add_argument("--out", default=str(REPO / "build" / "test"), help="logs and images go here")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--tcg-thread", choices=["single", "multi"],
                    help="TCG threading for every boot (default: each scenario's own, Scenario.tcg_thread)")
    ap.add_argument("--mem-mb", type=int, default=512)
    ap.add_argument("--vectors", type=int, default=4)
    ap.add_argument("--only", action="append", default=[], help="run only these scenarios")
    ap.add_argument("--demo", action="store_true", help="run the demo scenario, echoing the guest console")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--append", default="", help="more kernel command line")
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="multiplies the boot timeouts")
    ap.add_argument("--debug-kernel", action="store_true",
                    help="the kernel is the debug kernel: scan kmemleak, fail on its checks' reports")
    ap.add_argument("--python-root", help="a Debian root with python3 (the build chroot), for the "
                    "scenarios that check the sysfs ABI; also where the hv-ic scenario takes "
                    "hyperv-daemons from")
    ap.add_argument("--lsvmbus", help="Linux's tools/hv/lsvmbus, for the same scenarios")
    ap.add_argument("--fcopy-daemon", help="Linux's hv_fcopy_uio_daemon built in the chroot "
                    "(scripts/build-fcopy-daemon.sh), for the hv-fcopy scenario")
    args = ap.parse_args()
    # SIGTERM (a `timeout` around make, say) ends the harness through
    # SystemExit, so that the network namespaces still up are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(lambda: [n.remove() for n in list(NetNs.live)])
    if args.debug_kernel:
        # no5lvl: with 5-level paging (-cpu max has LA57), most boots of the
        # debug kernel under TCG reported a KASAN wild-memory-access in
        # handle_edge_irq during identify_boot_cpu, long before any module.
        # slub_debug=U: any slub_debug flag turns off SLUB's per-CPU sheaves,
        # whose arrays keep stale pointers to allocated objects that kmemleak
        # scans; with them, it missed most planted leaks.
        args.append += " rvmbus.kmemleak=1 no5lvl slub_debug=U"
        if args.timeout_scale == 1.0:
            args.timeout_scale = 4.0

    if args.list:
        for n in SCENARIOS:
            print(n)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    initrd = build_initramfs(out, Path(args.busybox), args.module, Path(args.kernel),
                             linux_modules=args.linux_module, tools=args.guest_tool)

    if args.demo:
        chosen = [DEMO]
    elif args.only:
        unknown = [n for n in args.only if n not in SCENARIOS]
        if unknown:
            log(f"unknown scenarios: {' '.join(unknown)}")
            return 2
        chosen = [SCENARIOS[n] for n in args.only]
    else:
        chosen = [sc for sc in SCENARIOS.values()
                  if (args.debug_kernel or not sc.debug_only) and not sc.bench_only
                  and not (args.debug_kernel and sc.cloud_only)
                  and (args.linux_module or not sc.linux_modules)
                  and (not sc.needs_module
                       or any(Path(m).name == sc.needs_module for m in args.module))
                  and not sc.known_failure]

    initrd_python = None
    if any(sc.python for sc in chosen):
        if not (args.python_root and args.lsvmbus):
            log("the sysfs ABI scenarios need --python-root and --lsvmbus")
            return 2
        overlay = python_overlay(out, Path(args.python_root), Path(args.lsvmbus))
        initrd_python = out / "initramfs-with-python.cpio.gz"
        initrd_python.write_bytes(initrd.read_bytes() + overlay.read_bytes())

    initrd_daemons = None
    if any(sc.hv_daemons for sc in chosen):
        if not args.python_root:
            log("the hv-ic scenarios need --python-root (the build chroot, with hyperv-daemons)")
            return 2
        overlay = daemons_overlay(out, Path(args.python_root), Path(args.kernel),
                                  Path(args.fcopy_daemon) if args.fcopy_daemon else None)
        initrd_daemons = out / "initramfs-with-daemons.cpio.gz"
        initrd_daemons.write_bytes(initrd.read_bytes() + overlay.read_bytes())

    passed = failed = 0
    failures = []  # (FAIL line, console log) of each scenario that did not hold
    debug_totals = [0, 0]  # findings, KUnit cases passed
    hostile = [0, 0]  # modes held, modes run
    for sc in chosen:
        work = out / sc.name
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        t0 = time.time()
        try:
            if sc.kexec and not args.kexec:
                raise RuntimeError("the kexec scenario needs --kexec (kexec-tools in the build chroot)")
            img = initrd_python if sc.python else initrd_daemons if sc.hv_daemons else initrd
            if sc.kexec:
                img = build_initramfs(out, Path(args.busybox), args.module, Path(args.kernel),
                                      kexec=Path(args.kexec), name="initramfs-kexec")
            boot = Boot(args, sc, img, work, echo=args.demo)
            boot.run()
            tries = 1
            while boot.stuck_before_init and tries <= BOOT_RETRIES:
                # No rvmbus code has run before /init (the scenario loads
                # the module): a kernel that hangs there under TCG (seen
                # once in SMP bring-up on the debug kernel) or crashes
                # there (an Oops in boot-time code patching under
                # multi-threaded TCG: "Oops: int3" right after
                # "sched_clock: Marking stable", 4 of about 190 boots) is
                # booted again, at most BOOT_RETRIES times, and the line
                # says so.
                stuck = (work / "console.log").read_text(errors="replace").splitlines()[-1:]
                log(f"SCENARIO-RETRY {sc.name}: {boot.why_not_up} (last console line: "
                    f"{stuck[0].strip()[:100] if stuck else 'none'}); booting it again")
                # A clean directory for the next boot (its sockets are
                # waited for by name); the stuck console log is kept.
                text = (work / "console.log").read_text(errors="replace")
                shutil.rmtree(work)
                work.mkdir(parents=True)
                (work / f"console-stuck-{tries}.log").write_text(text)
                boot = Boot(args, sc, img, work, echo=args.demo)
                boot.run()
                tries += 1
            ok, detail = boot.verdict()
            if args.debug_kernel:
                ok, detail = debug_verdict(work, ok, detail, debug_totals)
        except Exception as e:  # the harness itself failed: the scenario did not hold
            ok, detail = False, f"harness error: {e}"
        dt = time.time() - t0
        if args.demo and (work / "host-trace.txt").exists():
            kinds = {}
            for tl in (work / "host-trace.txt").read_text().splitlines():
                f = tl.split()
                if len(f) >= 4:
                    kinds[f"{f[1]} {f[3]}"] = kinds.get(f"{f[1]} {f[3]}", 0) + 1
            log("  host| trace summary: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
        line = f"SCENARIO {sc.name}: {'PASS' if ok else 'FAIL'} {detail} [{dt:.0f} s, logs in {work}]"
        log(line)
        if not ok:
            failures.append((line, work / "console.log"))
        if sc.name.startswith("hostile-"):
            count_hostile(sc.name, work / "console.log", ok, hostile)
        if ok:
            passed += 1
        else:
            failed += 1
    # CI keeps only the tail of the output: the failures again, each with
    # the end of its guest console, come last.
    for line, console in failures:
        log(line)
        if console.exists():
            tail = console.read_text(errors="replace").splitlines()[-25:]
            for t in tail:
                log(f"  | {t}")
    if not (args.only or args.demo):
        for sc in SCENARIOS.values():
            if sc.known_failure:
                log(f"not run (a known failure, run it with --only): {sc.name}: {sc.known_failure}")
    if args.debug_kernel:
        log(f"debug-kernel findings: {debug_totals[0]}; KUnit cases passed: {debug_totals[1]}")
    if hostile[1]:
        log(f"hostile scenarios: {hostile[0]} held / {hostile[1]} run")
    log(f"scenarios: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
