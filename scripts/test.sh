#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The body of `make test`, after the cloud-kernel modules and the host are
# built: cargo tests, the layout checks, make install and dkms, fuzzing and
# the QEMU scenarios on Debian's cloud kernel, then the scenarios on the
# debug kernel. The hyperv transport under nested Hyper-V emulation
# (tests/nested, `make test-hyperv`) is not part of it yet: see below.
#
# The debug kernel (about 20 minutes on 2 cores from nothing, cached after)
# builds in the background from the start, at the lowest CPU priority
# (scripts/build-debug-kernel.sh runs make under nice 19), so that it uses
# the time the guests leave the CPUs idle while they wait on the host and
# on timers. Its output goes to build/debug-kernel.log; a failed build
# fails the test after the cloud-kernel part, with the log's tail.
#
# Called by the Makefile with MAKE set; not meant to be run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
BUILD=${BUILD:-build}
mkdir -p "$BUILD"
log=$BUILD/debug-kernel.log

# Its own process group (job control), so that an early exit can stop the
# whole build, make and compilers included.
set -m
nice -n 19 bash scripts/build-debug-kernel.sh >"$log" 2>&1 &
bg=$!
set +m
trap 'kill -- -$bg 2>/dev/null || true' EXIT
echo "[debug-kernel] building or checking in the background; log: $log"

m() { "$MAKE" --no-print-directory "$@"; }
m test-cargo
m test-layout
m test-dkms
m test-fuzz
m _test-qemu
# Not here yet: the hyperv transport under KVM's Hyper-V emulation, nested
# under TCG (`make test-hyperv`, 3.5 to 8 minutes measured). In the last
# two runs on main, 3 of 6 rvmbus L2 boots went silent for good (2 right
# after insmod rvmbus, 1 in the kexec step) and passed when rerun in a
# fresh L1; the C driver's boots never did. Until that is understood (an
# rvmbus hang on the hyperv path or a fault of the emulation), one rerun
# per boot is not enough to keep `make test` reliable.

echo "[debug-kernel] waiting for the background build"
if ! wait "$bg"; then
	tail -n 30 "$log"
	echo "[debug-kernel] the build failed; see $log" >&2
	exit 1
fi
trap - EXIT
grep '^\[debug-kernel\]' "$log" || true
m test-debug
