# SPDX-License-Identifier: GPL-2.0
#
# rvmbus: the two commands that do everything from nothing are
#   make run    boot the guest under QEMU with rvmbus and the host; show it working
#   make test   set up, build, and run every test (cargo + QEMU scenarios)
#
# The kernel build environment (a Debian trixie chroot with Debian's cloud
# kernel source, headers, vmlinuz and toolchain) is cached in $(RVMBUS_CACHE).

SHELL := /bin/bash
RVMBUS_CACHE ?= $(HOME)/.cache/rvmbus
export RVMBUS_CACHE
ENV_MK := $(RVMBUS_CACHE)/env.mk
BUILD := build
SAMPLE_NAMES := echo heartbeat shutdown timesync
SAMPLES := $(foreach n,$(SAMPLE_NAMES),samples/rvmbus_$(n).ko)
KOS := rust/rvmbus/rvmbus.ko $(SAMPLES) tests/hv_iftest/hv_iftest.ko
# Linux's own VMBus drivers, built unchanged from the cached kernel source
# and retargeted at rvmbus (scripts/linux-modules.sh, linux-drivers/).
LINUX_KOS := $(foreach m,hv_utils hv_storvsc hv_netvsc uio_hv_generic hv_sock,build/linux/$(m)/$(m).ko) \
	build/linux/hyperv_keyboard/hyperv-keyboard.ko
# Linux's hv_fcopy_uio_daemon (tools/hv), for the hv-fcopy scenario, from the
# cached kernel source with the build chroot's gcc (scripts/build-fcopy-daemon.sh).
FCOPY_DAEMON := build/tools/hv_fcopy_uio_daemon
# hv_balloon for the nested Hyper-V tests (QEMU's hv-balloon device).
NESTED_KOS := build/linux/hv_balloon/hv_balloon.ko
HOST_BIN := target/release/vmbus-host
CARGO ?= cargo
PYTHON ?= python3

.PHONY: all modules fcopy-daemon setup host install test-dkms run run-hyperv test-hyperv _test-hyperv test test-cargo test-layout test-fuzz test-qemu fuzz stress check bench bench-ring bench-guest bench-scale bench-callbacks bench-virtio _bench-guest clean distclean
.PHONY: debug-kernel debug-modules _check-debug-linux test-debug _test-debug _stress
FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 600
FUZZ_PLATEAU_SECONDS ?= 60

all: modules

# Runs every time; a second run takes seconds (the script keeps a stamp keyed
# on its inputs).
setup:
	@bash scripts/setup-kenv.sh

-include $(ENV_MK)

# Built alone, the sample drivers link against rvmbus.ko's exports (its
# Module.symvers).
SAMPLE_KMAKE_ARGS = KBUILD_EXTRA_SYMBOLS=/src/$(1)/rust/rvmbus/Module.symvers

# rvmbus.ko and the samples in one pass from the top-level Kbuild, as
# `make -C $(KDIR) M=$(PWD)` builds them for anyone.
modules: setup
	@scripts/kmake.sh . modules
	@bash scripts/build-fcopy-daemon.sh
	@scripts/linux-modules.sh

fcopy-daemon: setup
	@bash scripts/build-fcopy-daemon.sh

host:
	$(CARGO) build --release -p vmbus-host

# QEMU arguments shared by run and test:
# $(call harness,KERNEL,MODULES[,LINUX_MODULES]).
harness = $(PYTHON) tests/harness/run.py --kernel "$(1)" \
	--busybox "$(KROOT)/usr/bin/busybox" --kexec "$(KROOT)/usr/sbin/kexec" --host $(HOST_BIN) \
	--python-root "$(KROOT)" --lsvmbus "$(KSRC)/tools/hv/lsvmbus" --fcopy-daemon $(FCOPY_DAEMON) \
	$(foreach k,$(2),--module $(k)) $(foreach k,$(3),--linux-module $(k))
HARNESS = $(call harness,$(VMLINUZ),$(KOS),$(LINUX_KOS))

run: modules host
	@$(MAKE) --no-print-directory _run

# rvmbus's hyperv transport under real Hyper-V emulation: L1 (TCG with
# emulated SVM) runs KVM, whose Hyper-V emulation and QEMU's VMBus server
# host L2 (Documentation/testing.rst, "Under real Hyper-V emulation").
# L1's root image is cached in $(RVMBUS_CACHE)/nested (scripts/setup-nested.sh).
NESTED = $(PYTHON) tests/nested/run.py --kernel "$(VMLINUZ)" --busybox "$(KROOT)/usr/bin/busybox" \
	--kexec "$(KROOT)/usr/sbin/kexec" --python-root "$(KROOT)" --lsvmbus "$(KSRC)/tools/hv/lsvmbus" \
	--rvmbus rust/rvmbus/rvmbus.ko --balloon $(NESTED_KOS)

# The debug boot (hyperv-debug, only when HYPERV_BOOTS names it) needs the
# debug kernel, rvmbus.ko built for it and that kernel's own hv_balloon.
NESTED_DEBUG = $(if $(and $(wildcard $(DEBUG_VMLINUZ)),$(wildcard $(DEBUG_OUT)/rust/rvmbus/rvmbus.ko)), \
	--debug-kernel $(DEBUG_VMLINUZ) --debug-rvmbus $(DEBUG_OUT)/rust/rvmbus/rvmbus.ko \
	--debug-balloon $(DEBUG_KBUILD)/drivers/hv/hv_balloon.ko)

test-hyperv: modules
	@$(if $(findstring debug,$(HYPERV_BOOTS)),$(MAKE) --no-print-directory debug-modules &&) \
		$(MAKE) --no-print-directory _test-hyperv

_test-hyperv:
	@img=$$(bash scripts/setup-nested.sh) && q=$$(bash scripts/nested-l0-qemu.sh "$$img") && \
		$(NESTED) --qemu "$$q" $(if $(L1_CPUS),--l1-cpus $(L1_CPUS)) $(NESTED_DEBUG) --root-image "$$img" --out $(BUILD)/nested \
		$(if $(HYPERV_BOOTS),--boots $(HYPERV_BOOTS))

# One L2 boot with rvmbus, shown as it goes: connect, the bus tree,
# lsvmbus, the balloon growing the guest.
run-hyperv: modules
	@img=$$(bash scripts/setup-nested.sh) && q=$$(bash scripts/nested-l0-qemu.sh "$$img") && \
		$(NESTED) --qemu "$$q" --root-image "$$img" --out $(BUILD)/nested-run \
		--boots rvmbus --demo

_run:
	@$(HARNESS) --out $(BUILD)/run --demo

# Cargo tests, layout, fuzzing, the cloud-kernel scenarios, then the
# debug-kernel scenarios; the debug kernel builds in the background
# meanwhile, at the lowest priority (scripts/test.sh).
test: modules host
	@MAKE="$(MAKE)" BUILD=$(BUILD) bash scripts/test.sh

# Unit, property, integration and doc tests of the cargo crates; the last
# line sums them up.
test-cargo:
	@mkdir -p $(BUILD)
	set -o pipefail; $(CARGO) test --workspace 2>&1 | tee $(BUILD)/cargo-test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "cargo tests: %d passed, %d failed\n", p, f }' $(BUILD)/cargo-test.log

# Wire structs against bindgen output of Linux's own headers; the glue's
# layers (each folder of rust/rvmbus imports only the layers below it); the
# sysfs ABI checker finds what it must (tests/abi/check_sysfs.py).
test-layout: setup
	@bash scripts/layout-check.sh
	@$(PYTHON) scripts/layer-check.py
	@mkdir -p $(BUILD)
	@$(PYTHON) tests/abi/check_sysfs.py --self-test > $(BUILD)/abi-self-test.log || \
		{ cat $(BUILD)/abi-self-test.log; exit 1; }
	@tail -1 $(BUILD)/abi-self-test.log

# Installs rvmbus.ko and the samples into a kernel's module tree as any
# out-of-tree module installs (kbuild's modules_install, then depmod):
# the running kernel's by default; KDIR and INSTALL_MOD_PATH as kbuild takes
# them. KDIR must be a prepared source tree (Documentation/running.rst).
KDIR ?= /lib/modules/$(shell uname -r)/build
# kbuild skips depmod when the tree has no System.map (a tree prepared with
# modules_prepare), so it runs here too.
install:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $$(cat $(KDIR)/include/config/kernel.release)

# make install and Debian's dkms in the build chroot (scripts/dkms-check.sh).
test-dkms: setup
	@BUILD=$(BUILD) bash scripts/dkms-check.sh

# Every fuzz target (vmbus_proto's and vmbus-host's parsers of the other
# side's input) under libFuzzer for FUZZ_SECONDS each; `make fuzz` runs
# each until FUZZ_PLATEAU_SECONDS pass without a new edge, at most
# FUZZ_LONG_SECONDS (scripts/fuzz.sh installs cargo-fuzz on first use).
test-fuzz:
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz:
	@FUZZ_PLATEAU_SECONDS=$(FUZZ_PLATEAU_SECONDS) bash scripts/fuzz.sh --plateau $(FUZZ_LONG_SECONDS)

# The lifecycle at full count: rescind/re-offer under traffic, S3
# suspend/resume and rmmod/insmod cycles (make test runs a few of each);
# the scenario prints its counts and the kernel memory before and after.
# Then the same on the debug kernel with fewer cycles, where kmemleak,
# KASAN and lockdep judge every cycle; the full sweep of allocation
# failures (fault-inject); and the scenarios of Linux's drivers on the debug
# kernel that make test leaves out for time (STRESS_DEBUG_LINUX: S3 and
# hibernation with a mounted disk and with eth0 up, MTU 9000 and back;
# about 2 to 6 minutes each there).
STRESS_REPEAT ?= 100,20,20
STRESS_DEBUG_REPEAT ?= 20,2,3
# fault-inject: fail every allocation of connect and open, one at a time
# (make test fails the first 40, then every 15 percent).
STRESS_FAULTS ?= 100000,0
STRESS_DEBUG_LINUX ?= storvsc-pm netvsc-mtu netvsc-pm
stress: modules host debug-modules
	@$(MAKE) --no-print-directory _stress

# A make of its own, for the debug kernel that debug-modules may have just
# built (debug-env.mk read afresh).
_stress:
	@$(HARNESS) --out $(BUILD)/stress --only lifecycle-repeat --timeout-scale 3 \
		--append "rvmbus.repeat=$(STRESS_REPEAT)"
	@grep -h "@@INFO" $(BUILD)/stress/lifecycle-repeat/console.log
	@$(call harness,$(DEBUG_VMLINUZ),$(DEBUG_KOS)) --debug-kernel --out $(BUILD)/stress-debug \
		--only lifecycle-repeat --timeout-scale 8 --append "rvmbus.repeat=$(STRESS_DEBUG_REPEAT)"
	@grep -h "@@INFO" $(BUILD)/stress-debug/lifecycle-repeat/console.log
	@$(call harness,$(DEBUG_VMLINUZ),$(DEBUG_KOS)) --debug-kernel --out $(BUILD)/stress-faults \
		--only fault-inject --timeout-scale 8 --append "rvmbus.faults=$(STRESS_FAULTS)"
	@grep -h "@@INFO" $(BUILD)/stress-faults/fault-inject/console.log
	$(if $(strip $(STRESS_DEBUG_LINUX)),@$(call harness,$(DEBUG_VMLINUZ),$(DEBUG_KOS),$(DEBUG_LINUX_KOS)) \
		--debug-kernel --out $(BUILD)/stress-debug-linux $(foreach s,$(STRESS_DEBUG_LINUX),--only $(s)))

test-qemu: modules host
	@$(MAKE) --no-print-directory _test-qemu

# ONLY="a b" runs just those scenarios (make _test-qemu ONLY=bus-qemu).
_test-qemu:
	@$(HARNESS) --out $(BUILD)/test $(foreach s,$(ONLY),--only $(s))

# The debug kernel (KASAN, lockdep, kmemleak, KUnit; scripts/debug-kernel.config):
# built once (about 20 minutes on 2 cores, measured), then cached in $(RVMBUS_CACHE).
DEBUG_ENV_MK := $(RVMBUS_CACHE)/debug-env.mk
-include $(DEBUG_ENV_MK)
DEBUG_OUT := $(BUILD)/debug
DEBUG_KOS := $(DEBUG_OUT)/rust/rvmbus/rvmbus.ko $(addprefix $(DEBUG_OUT)/,$(SAMPLES))
# The debug kernel's hv_vmbus is a module, so rvmbus.ko built for it exports
# hv_vmbus's own names, and that kernel's own driver modules, as its build
# made them, load against rvmbus.ko (rust/rvmbus/hv/retarget.h).
# uio_hv_generic needs the kernel's UIO core, uio.ko, which the harness
# finds beside it in the same build (kernel_module in tests/harness/run.py),
# as it finds Debian's for the cloud kernel.
DEBUG_LINUX_KOS := $(addprefix $(DEBUG_KBUILD)/,drivers/hv/hv_utils.ko drivers/scsi/hv_storvsc.ko \
	drivers/net/hyperv/hv_netvsc.ko drivers/uio/uio_hv_generic.ko)

debug-kernel: setup
	@bash scripts/build-debug-kernel.sh

# rvmbus.ko for the debug kernel, from a copy of the sources in $(DEBUG_OUT)
# (same layout: rvmbus_main.rs includes ../vmbus_proto/src/lib.rs), so its
# objects never mix with the normal build's in rust/rvmbus/.
debug-modules: debug-kernel
	@mkdir -p $(DEBUG_OUT)/rust/rvmbus $(DEBUG_OUT)/rust/vmbus_proto $(DEBUG_OUT)/rust/rvmbus_api $(DEBUG_OUT)/samples
	@cd rust/rvmbus && find . -name Kbuild -o -name '*.rs' -o -name '*.c' -o -name '*.h' | \
		grep -v '\.mod\.c$$' | cpio -pdmu --quiet ../../$(DEBUG_OUT)/rust/rvmbus
	@cp -rpu rust/vmbus_proto/src $(DEBUG_OUT)/rust/vmbus_proto/
	@cp -pu rust/rvmbus_api/*.rs $(DEBUG_OUT)/rust/rvmbus_api/
	@cp -pu samples/Kbuild samples/*.rs $(DEBUG_OUT)/samples/
	@KFLAVOUR=debug scripts/kmake.sh $(DEBUG_OUT)/rust/rvmbus modules
	@KFLAVOUR=debug scripts/kmake.sh $(DEBUG_OUT)/samples modules $(call SAMPLE_KMAKE_ARGS,$(DEBUG_OUT))
	@bash scripts/build-fcopy-daemon.sh
	@$(MAKE) --no-print-directory _check-debug-linux

# A make of its own, so that DEBUG_KBUILD is the one debug-env.mk names
# after the debug-kernel step above (this make read it before that step).
_check-debug-linux:
	@scripts/check-debug-linux-modules.sh $(DEBUG_KBUILD) $(DEBUG_OUT)/rust/rvmbus/Module.symvers $(DEBUG_LINUX_KOS)

# The QEMU scenarios on the debug kernel; they also fail on KASAN, lockdep,
# atomic-sleep and kmemleak reports and on failed KUnit cases.
test-debug: debug-modules host
	@$(MAKE) --no-print-directory _test-debug

# A debug-kernel boot takes about a minute under TCG, so `make test` runs
# the scenarios that exercise the most glue: the data path and
# sub-channels, the driver API (bind/unbind, unload under traffic, rescind
# and re-offer under traffic), rescind at every point, the pm_test levels
# and allocation failures (which only the debug kernel has), every
# hostile mode in one boot (with 17 loads and unloads and the heartbeat
# driver), and the ways out and the CPU paths: kexec, crash-unload,
# cpu-hotplug, and bus-azure's sysfs tree against Linux's ABI; and the
# kernel's own hv_utils, hv_storvsc, hv_netvsc and uio_hv_generic on
# rvmbus (load and unload, the IC services with the daemons, the disk, the
# network, the adapter's rescind under traffic, file copy through UIO).
# DEBUG_SCENARIOS=all runs them all.
DEBUG_SCENARIOS ?= echo-data driver-echo driver-rescind rescind-points pm-test hostile-all fault-inject \
	kexec crash-unload cpu-hotplug bus-azure \
	linux-drivers-load hv-utils hv-ic hv-fcopy storvsc-disk netvsc-nic netvsc-rescind
_test-debug:
	@$(call harness,$(DEBUG_VMLINUZ),$(DEBUG_KOS),$(DEBUG_LINUX_KOS)) --debug-kernel --out $(BUILD)/test-debug \
		$(if $(filter all,$(DEBUG_SCENARIOS)),,$(foreach s,$(DEBUG_SCENARIOS),--only $(s)))

check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	rustfmt --edition 2021 --check rust/rvmbus/rvmbus_main.rs samples/rvmbus_echo.rs \
		samples/rvmbus_heartbeat.rs samples/shutdown_main.rs samples/timesync_main.rs
	@touch rust/rvmbus/rvmbus_main.rs
	@scripts/kmake.sh rust/rvmbus modules CLIPPY=1
	@touch samples/*.rs
	@scripts/kmake.sh samples modules CLIPPY=1 $(call SAMPLE_KMAKE_ARGS,.)

# Benchmarks, one step each: the ring in userspace, then the in-guest data
# path, signalling and scale under QEMU (Documentation/benchmarks.rst).
# BENCH_ARGS go to criterion, e.g. BENCH_ARGS="--measurement-time 5";
# BENCH_COUNT sets the requests per in-guest run (default 1000).
bench: modules host
	@$(MAKE) --no-print-directory bench-ring
	@$(MAKE) --no-print-directory _bench-guest BENCH_PARTS="data scale virtio"

# The ring buffer against memcpy, per-packet costs and signal counts; prints
# the tables, writes $(BUILD)/bench/ring.json and updates
# Documentation/benchmarks.rst.
bench-ring:
	@bash scripts/bench.sh $(BENCH_ARGS)

# In the guest: echo round trips of 64 B to 8 KiB against a copy baseline
# of the same run, signals and interrupts per packet (bench-guest); time
# from connect to all probed and memory per channel for 1 to 256 channels
# (bench-scale). Each writes $(BUILD)/bench/guest.json and updates the
# guest tables of Documentation/benchmarks.rst.
bench-guest: modules host
	@$(MAKE) --no-print-directory _bench-guest BENCH_PARTS=data

bench-scale: modules host
	@$(MAKE) --no-print-directory _bench-guest BENCH_PARTS=scale

# Only the Rust driver API's callback comparison of bench-guest: echo round
# trips with the callbacks in the channel's tasklet against rust_cb_work=1.
bench-callbacks: modules host
	@$(MAKE) --no-print-directory _bench-guest BENCH_PARTS=callbacks

# Linux's hv_storvsc and hv_netvsc on rvmbus against virtio-blk and
# virtio-net in the same boot.
bench-virtio: modules host
	@$(MAKE) --no-print-directory _bench-guest BENCH_PARTS=virtio

# randio (tests/guest/tools/randio.c): random direct I/O for bench-virtio,
# static, from the build chroot's compiler.
RANDIO := $(BUILD)/bench/randio
$(RANDIO): tests/guest/tools/randio.c
	@mkdir -p $(@D)
	@scripts/in-chroot.sh "$(KROOT)" "$(CURDIR)" gcc -static -O2 -Wall -Wextra -o /src/$@ /src/$<

_bench-guest: $(RANDIO)
	@bash scripts/bench-guest.sh $(BENCH_PARTS) -- --kernel "$(VMLINUZ)" \
		--busybox "$(KROOT)/usr/bin/busybox" --host $(HOST_BIN) $(foreach k,$(KOS),--module $(k)) \
		$(foreach k,$(LINUX_KOS),--linux-module $(k)) --guest-tool $(RANDIO)

clean:
	-@[ -f $(ENV_MK) ] && scripts/kmake.sh . clean >/dev/null
	rm -rf $(BUILD)
	$(CARGO) clean

# Removes the cached kernel environment too (several GB; rebuilt by setup).
distclean: clean
	rm -rf $(RVMBUS_CACHE)
