#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ring benchmark: runs the criterion benchmark of vmbus_proto's ring,
# Linux's C ring (tools/hv/vmbus_bufring.c, compiled from the kernel source
# that `make setup` unpacks) and memcpy on the same workload
# (tools/ring-bench/benches/ring.rs), and then tools/ring-bench, which reads
# criterion's estimates, counts each workload's instructions under callgrind
# (when valgrind is installed), runs the signalling simulation, prints the
# tables, writes build/bench/ring.json and regenerates the tables in
# Documentation/benchmarks.rst.
#
#   scripts/bench.sh [criterion options]
#
# e.g. `scripts/bench.sh --measurement-time 5` for steadier numbers. cargo
# fetches criterion and cc from crates.io on the first run. Without the
# kernel source (RVMBUS_KSRC, by default env.mk's KSRC) the C ring is left
# out with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-target}
out=build/bench
mkdir -p "$out"

# Estimates older than this stamp are from an earlier run: ring-bench
# refuses them.
stamp=$out/.ring-start
touch "$stamp"

# The kernel source the C ring is compiled from (tools/ring-bench/build.rs).
env_mk=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}/env.mk
if [ -z "${RVMBUS_KSRC:-}" ] && [ -f "$env_mk" ]; then
	RVMBUS_KSRC=$(sed -n 's/^KSRC := //p' "$env_mk")
fi
export RVMBUS_KSRC=${RVMBUS_KSRC:-}
if [ ! -f "$RVMBUS_KSRC/tools/hv/vmbus_bufring.c" ]; then
	echo "bench: no kernel source (${RVMBUS_KSRC:-RVMBUS_KSRC unset}; run make setup):" \
		"Linux's C ring is left out" >&2
fi

# Instruction counts, which do not depend on the machine's load.
count=()
if command -v valgrind >/dev/null; then
	count=(--callgrind "$out/callgrind")
else
	echo "bench: valgrind not installed: no instruction counts" >&2
fi

"$CARGO" bench -p ring-bench --bench ring -- --noplot "$@"
"$CARGO" run --quiet --release -p ring-bench -- \
	--criterion "$target/criterion" --since "$stamp" "${count[@]}" \
	--json "$out/ring.json" --rst Documentation/benchmarks.rst
