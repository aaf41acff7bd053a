#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The body of `make test`, after the cloud-kernel modules and the host are
# built: cargo tests, the layout checks, make install and dkms, fuzzing and
# the QEMU scenarios on Debian's cloud kernel, the hyperv transport under
# nested Hyper-V emulation (tests/nested, `make test-hyperv`), then the
# scenarios on the debug kernel.
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
# rvmbus's hyperv transport on KVM's Hyper-V emulation and QEMU's VMBus
# server, nested under TCG (about 4 minutes; L0 runs trixie's QEMU 10, see
# scripts/nested-l0-qemu.sh).
m _test-hyperv

echo "[debug-kernel] waiting for the background build"
if ! wait "$bg"; then
	tail -n 30 "$log"
	echo "[debug-kernel] the build failed; see $log" >&2
	exit 1
fi
trap - EXIT
grep '^\[debug-kernel\]' "$log" || true
m test-debug
