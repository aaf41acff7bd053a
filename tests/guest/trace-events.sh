# SPDX-License-Identifier: GPL-2.0
# rvmbus's trace events: enabled in tracefs before the module loads
# (set_event's ":mod:" form), then the echo flow (connect, offers, GPADL,
# open, in-band and GPA-direct packets, close, teardown) and a rescind.
# The trace goes out through the console as @@TRACE lines; the harness
# checks that its
# messages and packets are the ones the host's trace shows, kind by kind,
# up to the @@HARNESS trace-mark request (after which power-off may send
# more).
SCEN=trace-events
. /scenarios/lib.sh
T=/sys/kernel/tracing
mount -t tracefs tracefs $T 2>/dev/null
[ -f $T/set_event ] || fail "no tracefs at $T (CONFIG_TRACING?)"
echo 2048 > $T/buffer_size_kb || fail "cannot size the trace buffer"
echo > $T/trace
echo ':mod:rvmbus' > $T/set_event || fail "set_event refused :mod:rvmbus"
insmod $MOD || fail "insmod failed"
[ -d $T/events/rvmbus ] || fail "no events/rvmbus in tracefs"
n=$(ls -d $T/events/rvmbus/rvmbus_* | wc -l)
[ "$n" = 24 ] || fail "events/rvmbus has $n events, want 24: $(ls $T/events/rvmbus)"
for e in $T/events/rvmbus/rvmbus_*; do
	[ "$(cat $e/enable)" = 1 ] || fail "${e##*/} was not enabled when the module loaded"
done
ctl open 4 1 >/dev/null || fail "open failed: $(dmesg | tail -3)"
ctl echo 4 20 64 | grep -q "errors=0" || fail "echo failed"
ctl echo-gpa 4 5 9000 | grep -q "errors=0" || fail "GPA-direct echo failed"
ctl close 4 >/dev/null || fail "close failed: $(dmesg | tail -3)"
# A rescind of a channel no driver holds: RESCIND_CHANNEL_OFFER in,
# RELID_RELEASED out.
harness ctl rescind 3 | grep -q "^ok" || fail "rescind of relid 3 failed"
wait_dmesg "relid 3 released" 50 || fail "relid 3 not released after its rescind"
echo 0 > $T/tracing_on
# Everything above has been answered; the host's trace up to here is the
# window the guest's trace covers.
r=$(harness trace-mark)
[ "${r%% *}" = ok ] || fail "trace-mark: $r"
lost=$(cat $T/per_cpu/cpu*/stats | awk '/^overrun:/ { s += $2 } END { print s + 0 }')
[ "$lost" = 0 ] || fail "the trace buffer overran ($lost events lost)"
grep -v '^#' $T/trace | sed 's/^/@@TRACE /'
echo "@@TRACE-END"
pass "$(grep -c ': rvmbus_' $T/trace) rvmbus events traced"
