# SPDX-License-Identifier: GPL-2.0
# The in-guest data-path benchmark (make bench-guest; not a test): echo
# requests of 64 B to 8 KiB through rvmbus, the rings, the host and back,
# one at a time and 8 in flight, on an echo channel the guest signals
# through the monitor page and on one it signals with HvSignalEvent; then
# 8 KiB requests with 64 in flight, which fill the 64 KiB ring and wait
# for the host through pending_send_sz; that run again with
# pending_send_size=0, where the sender waits for the host's next signal
# (an echo answer) or a 10 ms tick. Each run prints one @@BENCH line:
# rvmbus_echo's result (times, round-trip percentiles, the copy baseline)
# and the signal and interrupt counters of the guest's channel and of the
# host around it. scripts/bench-guest.py turns them into tables.
# rvmbus.bench_count=N on the kernel command line scales the counts.
# The Rust driver API's callback paths are compared too: the driver's
# callbacks in the channel's tasklet (the default) against a work item per
# event (rust_cb_work=1, the old path); rvmbus.bench_only=callbacks runs
# only that comparison (make bench-callbacks).
SCEN=bench-guest
. /scenarios/lib.sh
BENCH=/sys/kernel/debug/rvmbus_echo/bench
COUNT=$(sed -n 's/.*rvmbus\.bench_count=\([0-9]*\).*/\1/p' /proc/cmdline)
COUNT=${COUNT:-1000}
# Each data-path run is repeated this often (rvmbus.bench_repeat=N), in
# turn with the others, so that the tables can show the spread.
REPEAT=$(sed -n 's/.*rvmbus\.bench_repeat=\([0-9]*\).*/\1/p' /proc/cmdline)
REPEAT=${REPEAT:-3}
ONLY=$(sed -n 's/.*rvmbus\.bench_only=\([a-z]*\).*/\1/p' /proc/cmdline)

# Loads rvmbus (with parameters $*) and rvmbus_echo; waits for both echo
# devices.
load() {
	ready=$(dmesg | grep -c 'echo device ready')
	insmod $MOD "$@" || fail "insmod rvmbus $* failed"
	insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
	i=0
	until [ "$(dmesg | grep -c 'echo device ready')" -ge $((ready + 2)) ]; do
		i=$((i + 1)); [ $i -gt 100 ] && fail "echo devices not ready: $(dmesg | tail -5)"
		sleep 0.1
	done
}

unload() {
	rmmod rvmbus_echo || fail "rmmod rvmbus_echo failed"
	rmmod rvmbus || fail "rmmod rvmbus failed"
}

# Only rvmbus_echo's lines from here on would reach the console; keep the
# serial console (slow under TCG) out of the timed runs.
dmesg -n 1
# Where the guest takes the host's events: in the interrupt handler, with
# each channel's tasklet (irq_events=1, the default); the comparison first
# loads rvmbus with irq_events=0 (the message work), in this same boot.
EVPATH=irq
load

# The host's counters, as "key=value ..." for the ones a run reports.
host_counters() {
	harness ctl stats | tr ' ' '\n' | sed -n \
		-e 's/^vmbus\.\(signals_in\|signals_out\|monitor_triggers\|signals_unneeded\|packets_in\|packets_out\)=/h_\1=/p' \
		-e 's/^busy_ns\.SIGNAL_EVENT=/h_signal_busy_ns=/p' -e 's/^requests\.SIGNAL_EVENT=/h_signal_calls=/p' |
		tr '\n' ' '
}

# rvmbus's hop timers (ctl path: NAME=COUNT/NS), as "p_NAME_n=COUNT
# p_NAME_ns=NS ...": where a round trip's time goes in the guest.
path_counters() {
	ctl path | tr ' ' '\n' | sed -n 's|^\([a-z_]*\)=\([0-9]*\)/\([0-9]*\)$|p_\1_n=\2 p_\1_ns=\3|p' |
		tr '\n' ' '
}

# The guest's counters of channel $1 (device directory $2).
chan_counters() {
	c=$2/channels/$1
	echo "g_events=$(cat $c/events) g_interrupts=$(cat $c/interrupts) g_out_full=$(cat $c/out_full_total)"
}

# One run: relid $1, signalling $2, size $3, count $4, window $5, mode $6.
run() {
	d=$(dev_of_relid $1) || fail "no device with relid $1"
	hb=$(host_counters); gb="$(chan_counters $1 $d) $(path_counters)"
	echo "$3 $4 $5 $1" > $BENCH || fail "bench $3 $4 $5 $1 failed: $(dmesg | tail -3)"
	r=$(cat $BENCH)
	ha=$(host_counters); ga="$(chan_counters $1 $d) $(path_counters)"
	echo "$r" | grep -q " cancelled=0 mismatched=0 failed=0 lost=0 " || fail "bench run: $r"
	echo "$r" | grep -q " completed=$4 " || fail "bench run incomplete: $r"
	echo "@@BENCH kind=data mode=$6 signal=$2 path=$EVPATH $r before: $hb $gb after: $ha $ga"
}

# Single round trips of 64 and 1500 bytes on each echo channel, as runs of
# path $EVPATH.
single_rtts() {
	for d in /sys/bus/vmbus/devices/*; do
		[ "$(driver_of $d)" = rvmbus_echo ] || continue
		if [ -n "$(cat $d/monitor_id 2>/dev/null)" ]; then sig=monitor; else sig=event; fi
		for size in 64 1500; do
			run $(cat $d/id) $sig $size $((COUNT / 4)) 1 single
		done
	done
}

# Single round trips with rvmbus loaded with parameter $2 (before, tagged
# $1-$3) and without it (after, tagged $1-$4), in turn, REPEAT times, in
# this boot; rvmbus is loaded as usual after.
alternate() {
	unload
	rep=0
	while [ $rep -lt $REPEAT ]; do
		for when in before after; do
			if [ $when = before ]; then
				load $2
				EVPATH=$1-$3
			else
				load
				EVPATH=$1-$4
			fi
			single_rtts
			unload
		done
		rep=$((rep + 1))
	done
	EVPATH=irq
	load
}

# The Rust driver API's callback paths: rvmbus_echo's completions from a
# work item per event (rust_cb_work=1, before) and in the channel's tasklet
# (the default, after).
callback_paths() {
	alternate cb rust_cb_work=1 work tasklet
}

if [ "$ONLY" = callbacks ]; then
	callback_paths
	dmesg -n 7
	pass "the Rust driver API's callback paths compared, $REPEAT times each"
fi

# The event paths first (the comparison the tables lead with): single
# round trips with the events taken by the message work (irq_events=0, the
# path before the interrupt handler took them), then with irq_events=1, in
# turn, so that both sit in the same stretch of this run.
alternate cmp irq_events=0 work irq
callback_paths

rep=0
while [ $rep -lt $REPEAT ]; do
	n=0
	for d in /sys/bus/vmbus/devices/*; do
		[ "$(driver_of $d)" = rvmbus_echo ] || continue
		relid=$(cat $d/id)
		if [ -n "$(cat $d/monitor_id 2>/dev/null)" ]; then sig=monitor; else sig=event; fi
		for size in 64 256 1500 8192; do
			run $relid $sig $size $((COUNT / 4)) 1 single
			run $relid $sig $size $COUNT 8 window
		done
		# The ring fills: the guest sets pending_send_sz and waits for
		# the host's signal.
		run $relid $sig 8192 $COUNT 64 full
		n=$((n + 1))
	done
	[ $n = 2 ] || fail "$n echo devices bound, want 2"
	rep=$((rep + 1))
done

# The same full ring without pending-send-size flow control.
unload
load pending_send_size=0
for d in /sys/bus/vmbus/devices/*; do
	[ "$(driver_of $d)" = rvmbus_echo ] || continue
	if [ -n "$(cat $d/monitor_id 2>/dev/null)" ]; then sig=monitor; else sig=event; fi
	rep=0
	while [ $rep -lt $REPEAT ]; do
		run $(cat $d/id) $sig 8192 $COUNT 64 full-no-pss
		rep=$((rep + 1))
	done
done

dmesg -n 7
pass "bench runs on $n echo channels, $REPEAT times each, full rings without pending-send-size, and the event and callback paths compared"
