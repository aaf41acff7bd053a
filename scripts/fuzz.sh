#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Coverage-guided fuzzing of every target of rust/vmbus_proto/fuzz (the
# parsers of the other side's input in vmbus_proto and tools/vmbus-host)
# under libFuzzer, on the machine's stable toolchain.
#
#   scripts/fuzz.sh SECONDS            each target for SECONDS (make test)
#   scripts/fuzz.sh --plateau SECONDS  each target until it has found no
#                                      new edge for FUZZ_PLATEAU_SECONDS
#                                      (default 60), at most SECONDS
#                                      (make fuzz)
#
# One line per target:
#
#   FUZZ <target>: <execs> execs, <edges> edges (libFuzzer)
#
# and with --plateau also when the last new edge came and why the run
# stopped. <edges> is libFuzzer's edge coverage ("cov:") of the
# instrumented code (vmbus_proto, vmbus-host and the targets).
#
# Set-up, by itself: cargo-fuzz $CARGO_FUZZ_VERSION is installed from
# crates.io into $RVMBUS_CACHE/cargo-fuzz-VERSION (once, about a minute
# on 2 cores), and the targets are built by `cargo fuzz build -s none`:
# without a sanitizer cargo-fuzz needs no nightly flag, and libfuzzer-sys
# builds libFuzzer itself with the C++ compiler. Where that cannot be
# done, the plain random-input runner (src/bin/fuzz-plain.rs) runs
# instead, says so loudly, and counts input classes, not code.
#
# First, the fuzz crate's tests run (the seeds in git must be what
# src/seeds.rs makes), every input saved under regressions/TARGET/ and
# every seed under seeds/TARGET/ is replayed (a crash found earlier must
# stay fixed), and the runner checks that it saves and replays a crashing
# input. libFuzzer starts from the seeds, the regressions and its
# own corpus of earlier runs (corpus/TARGET/, not in git). A crash found
# now is saved under regressions/TARGET/ (libFuzzer's artifact copied), to
# be committed with its fix, and makes the script fail.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
PLATEAU=0
if [ "${1:-}" = --plateau ]; then
	PLATEAU=${FUZZ_PLATEAU_SECONDS:-60}
	shift
fi
SECS=${1:-10}
REPO=$(cd "$(dirname "$0")/.." && pwd)
FUZZ=$REPO/rust/vmbus_proto/fuzz
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
TARGETS=(decode ring state gpadl packet ic ivshmem
	host-mailbox host-vmbus host-gpadl host-ring host-devices
	storage host-storage net host-net hv-iface)
cd "$FUZZ"

# The fuzz crate's own tests: the seeds in git are what the generator
# makes, and the host sessions among them get as deep as they should.
tlog=$FUZZ/target/fuzz-test.log
mkdir -p "$FUZZ/target"
if ! cargo test --release >"$tlog" 2>&1; then
	tail -n 30 "$tlog"
	echo "fuzz: cargo test of the fuzz crate failed (log: $tlog)" >&2
	exit 1
fi
awk '/^test result:/ { p += $4; f += $6 } END { printf "FUZZ crate tests: %d passed, %d failed\n", p, f }' "$tlog"
cargo build --release --bin fuzz-plain >/dev/null 2>&1 ||
	{ echo "fuzz: build of the plain runner failed" >&2; exit 1; }
"$FUZZ/target/release/fuzz-plain" --selftest
"$FUZZ/target/release/fuzz-plain" --replay

loud() {
	echo "FUZZ: ******************************************************************"
	echo "FUZZ: NO COVERAGE-GUIDED FUZZING: $1"
	echo "FUZZ: falling back to the plain random-input runner; its counts are"
	echo "FUZZ: input classes, NOT code coverage."
	echo "FUZZ: ******************************************************************"
}

# cargo-fuzz, installed once per version.
why=""
CF=$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION
if [ "${RVMBUS_FUZZ_PLAIN:-0}" = 1 ]; then
	why="RVMBUS_FUZZ_PLAIN=1"
elif [ ! -x "$CF/bin/cargo-fuzz" ]; then
	mkdir -p "$CACHE"
	echo "FUZZ: installing cargo-fuzz $CARGO_FUZZ_VERSION into $CF"
	t0=$(date +%s)
	if ! cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
		--root "$CF" >"$CACHE/cargo-fuzz-install.log" 2>&1; then
		tail -n 5 "$CACHE/cargo-fuzz-install.log"
		why="cargo install cargo-fuzz failed (log: $CACHE/cargo-fuzz-install.log)"
	else
		echo "FUZZ: cargo-fuzz installed in $(($(date +%s) - t0)) s"
	fi
fi

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=$FUZZ/target/$TRIPLE/release
if [ -z "$why" ]; then
	export PATH=$CF/bin:$PATH
	blog=$FUZZ/target/fuzz-build.log
	mkdir -p "$FUZZ/target"
	t0=$(date +%s)
	# The plain runner and the seed generator (feature "tools") link no
	# libFuzzer, so they stay out of the instrumented build.
	if ! cargo fuzz build -s none --target "$TRIPLE" --no-default-features \
		--features libfuzzer >"$blog" 2>&1; then
		tail -n 20 "$blog"
		why="cargo fuzz build failed (log: $blog)"
	else
		echo "FUZZ: ${#TARGETS[@]} targets built with libFuzzer in $(($(date +%s) - t0)) s"
	fi
fi

if [ -n "$why" ]; then
	loud "$why"
	[ "$PLATEAU" = 0 ] || echo "FUZZ: (the plain runner has no coverage: each target runs $SECS s)"
	rc=0
	for t in "${TARGETS[@]}"; do
		"$FUZZ/target/release/fuzz-plain" "$t" "$SECS" || rc=1
	done
	loud "$why"
	exit $rc
fi

# Runs target $1 for at most $SECS seconds (less at a plateau) and prints
# its line; returns non-zero if it crashed.
run() {
	local t=$1 log pid start now elapsed cov best=0 last=0 stopped=cap rc
	local dirs=("corpus/$t")
	mkdir -p "corpus/$t" "artifacts/$t"
	[ -d "seeds/$t" ] && dirs+=("seeds/$t")
	[ -d "regressions/$t" ] && dirs+=("regressions/$t")
	log=$(mktemp)
	"$BIN/$t" "${dirs[@]}" -max_total_time="$SECS" -print_final_stats=1 \
		-timeout=10 -artifact_prefix="artifacts/$t/" >"$log" 2>&1 &
	pid=$!
	start=$(date +%s)
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		now=$(date +%s)
		elapsed=$((now - start))
		cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
		if [ -n "$cov" ] && [ "$cov" -gt "$best" ]; then
			best=$cov
			last=$elapsed
		fi
		# The plateau clock starts with the first coverage line, after
		# libFuzzer has loaded the corpus.
		if [ "$PLATEAU" != 0 ] && [ "$best" -gt 0 ] &&
			[ $((elapsed - last)) -ge "$PLATEAU" ]; then
			stopped="plateau: no new edge for $PLATEAU s"
			kill -INT "$pid" 2>/dev/null || true
			break
		fi
	done
	rc=0
	wait "$pid" || rc=$?
	elapsed=$(($(date +%s) - start))
	[ "$stopped" = cap ] && stopped="cap of $SECS s"
	# 72: libFuzzer's exit status when interrupted (the plateau).
	if [ $rc = 0 ] || { [ $rc = 72 ] && [ "$stopped" != "cap of $SECS s" ]; }; then
		local execs
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
		[ -n "$cov" ] && [ "$cov" -gt "$best" ] && best=$cov
		if [ "$PLATEAU" = 0 ]; then
			echo "FUZZ $t: ${execs:-0} execs, $best edges (libFuzzer)"
		else
			echo "FUZZ $t: ${execs:-0} execs, $best edges (libFuzzer), last new edge at $last s, stopped at $elapsed s ($stopped)"
		fi
		rm -f "$log"
		return 0
	fi
	echo "FUZZ $t: CRASH (status $rc; log kept: $log)"
	grep -aE 'panicked|ERROR|SUMMARY|artifact' "$log" | head -n 8 || true
	mkdir -p "regressions/$t"
	local a
	for a in "artifacts/$t"/crash-* "artifacts/$t"/timeout-* "artifacts/$t"/oom-*; do
		[ -f "$a" ] || continue
		cp "$a" "regressions/$t/"
		echo "FUZZ $t: input saved as rust/vmbus_proto/fuzz/regressions/$t/$(basename "$a")"
		rm -f "$a"
	done
	return 1
}

rc=0
for t in "${TARGETS[@]}"; do
	run "$t" || rc=1
done
exit $rc
