#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs each fuzz target of rust/vmbus_proto/fuzz for SECONDS and prints one
# line per target:
#
#   FUZZ <target>: <execs> execs, <cov> coverage
#
# With cargo-fuzz and a nightly toolchain, the targets run under libFuzzer
# and <cov> is libFuzzer's edge coverage ("cov:"). Without them, the plain
# runner (src/bin/fuzz-plain.rs) feeds random and mutated inputs; its <cov>
# counts distinct input classes, not code coverage. Exits non-zero if a
# target crashes.
#
# First, every input saved under rust/vmbus_proto/fuzz/regressions/TARGET/
# is replayed (a crash found earlier must stay fixed), and the runner checks
# that it saves and replays a crashing input. A crash found now is saved
# there as crash-HASH (the plain runner does it itself; libFuzzer's
# artifacts are copied), to be committed with its fix.
set -euo pipefail

SECS=${1:-10}
REPO=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$REPO/rust/vmbus_proto/fuzz
TARGETS=(decode ring state)
cd "$FUZZ"

use_libfuzzer=0
if [ "${RVMBUS_FUZZ_PLAIN:-0}" != 1 ] && cargo fuzz --version >/dev/null 2>&1 &&
	cargo +nightly --version >/dev/null 2>&1; then
	use_libfuzzer=1
fi

cargo build --release --bin fuzz-plain >/dev/null 2>&1 ||
	{ echo "fuzz: build of the plain runner failed" >&2; exit 1; }
"$FUZZ/target/release/fuzz-plain" --selftest
"$FUZZ/target/release/fuzz-plain" --replay

rc=0
if [ $use_libfuzzer = 1 ]; then
	cargo +nightly fuzz build --features libfuzzer >/dev/null 2>&1 ||
		{ echo "fuzz: cargo fuzz build failed" >&2; exit 1; }
	for t in "${TARGETS[@]}"; do
		mkdir -p "corpus/$t"
		log=$(mktemp)
		if cargo +nightly fuzz run --features libfuzzer "$t" "corpus/$t" -- \
			-max_total_time="$SECS" -print_final_stats=1 >"$log" 2>&1; then
			execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
			cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
			echo "FUZZ $t: ${execs:-0} execs, ${cov:-0} coverage"
		else
			echo "FUZZ $t: CRASH (log kept: $log)"
			grep -E 'panicked|ERROR|artifact' "$log" | head -5 || true
			mkdir -p "regressions/$t"
			for a in artifacts/"$t"/crash-*; do
				[ -f "$a" ] && cp "$a" "regressions/$t/" &&
					echo "FUZZ $t: input saved as rust/vmbus_proto/fuzz/regressions/$t/$(basename "$a")"
			done
			rc=1
			continue
		fi
		rm -f "$log"
	done
else
	for t in "${TARGETS[@]}"; do
		"$FUZZ/target/release/fuzz-plain" "$t" "$SECS" || rc=1
	done
fi
exit $rc
