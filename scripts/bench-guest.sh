#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The in-guest benchmarks: boots the guest under QEMU (one boot per
# scenario, tests/harness/run.py) with rvmbus, rvmbus_echo and the host,
# runs the bench-guest scenario (data path and signalling), the
# bench-scale-N scenarios (N = 1, 16, 64, 256, 1024 echo devices) and/or
# bench-virtio and bench-virtio-event (Linux's hv_storvsc and hv_netvsc
# against virtio-blk and virtio-net in one boot; the host's channels with
# monitor ids and without), then
# scripts/bench-guest.py prints the tables, writes build/bench/guest.json
# and regenerates the guest tables in Documentation/benchmarks.rst.
#
#   scripts/bench-guest.sh [data] [scale] [virtio] [callbacks] -- HARNESS-ARGS...
#
# callbacks runs only the Rust driver API's callback comparison of the
# bench-guest scenario (the tasklet against rust_cb_work=1); data runs it
# with the rest.
#
# HARNESS-ARGS: --kernel, --busybox, --host, --module and --linux-module as for the tests
# (the Makefile passes them). BENCH_COUNT (default 1000) is the number of
# requests of a windowed run; single-request runs send a quarter of it.
set -euo pipefail
cd "$(dirname "$0")/.."

what=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	what+=("$1")
	shift
done
[ $# -gt 0 ] && shift
[ ${#what[@]} -gt 0 ] || what=(data scale virtio)

out=build/bench
qemu=$out/qemu
mkdir -p "$qemu"
only=()
append=""
for w in "${what[@]}"; do
	case $w in
	data) only+=(--only bench-guest); rm -rf "$qemu/bench-guest" ;;
	callbacks)
		# Part of data's run when both are asked for.
		case " ${what[*]} " in *" data "*) continue ;; esac
		only+=(--only bench-guest)
		rm -rf "$qemu/bench-guest"
		append=" rvmbus.bench_only=callbacks"
		;;
	virtio)
		for v in bench-virtio bench-virtio-event; do
			only+=(--only $v)
			rm -rf "$qemu/$v"
		done
		;;
	scale)
		for n in 1 16 64 256 1024; do
			only+=(--only "bench-scale-$n")
			rm -rf "$qemu/bench-scale-$n"
		done
		;;
	*) echo "bench-guest.sh: unknown part $w (data, scale, virtio, callbacks)" >&2; exit 2 ;;
	esac
done
# The harness prints a FAIL line for a run that broke; the tables are made
# from whatever runs completed. The kernel log is made large enough for
# 1024 devices' lines: the scale scenarios count them after a mark.
status=0
python3 tests/harness/run.py "$@" --out "$qemu" "${only[@]}" \
	--append "rvmbus.bench_count=${BENCH_COUNT:-1000} log_buf_len=8M$append" || status=$?
python3 scripts/bench-guest.py "$qemu" --json "$out/guest.json" --rst Documentation/benchmarks.rst
exit $status
