#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ring benchmark: runs the criterion benchmark of vmbus_proto's ring
# (tools/ring-bench/benches/ring.rs) and then tools/ring-bench, which reads
# criterion's estimates, runs the
# signalling simulation, prints the tables, writes build/bench/ring.json and
# regenerates the tables in Documentation/benchmarks.rst.
#
#   scripts/bench.sh [criterion options]
#
# e.g. `scripts/bench.sh --measurement-time 5` for steadier numbers. cargo
# fetches criterion from crates.io on the first run.
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

"$CARGO" bench -p ring-bench --bench ring -- --noplot "$@"
"$CARGO" run --quiet --release -p ring-bench -- \
	--criterion "$target/criterion" --since "$stamp" \
	--json "$out/ring.json" --rst Documentation/benchmarks.rst
