# SPDX-License-Identifier: GPL-2.0
# The heartbeat, time sync and shutdown sample drivers bind by class,
# negotiate the IC framework with the host, and do their jobs: heartbeats
# are answered, the host's SYNC sample sets a wrong guest clock right, and
# each driver unbinds (closing its channel) when unloaded.
SCEN=driver-ic
. /scenarios/lib.sh
insmod $MOD || fail "insmod rvmbus failed"
hb=$(dev_of_class $HEARTBEAT) || fail "no heartbeat device"
ts=$(dev_of_class $TIMESYNC) || fail "no timesync device"
sd=$(dev_of_class $SHUTDOWN) || fail "no shutdown device"
# A clock 25 years off, for time sync to correct.
date -s "2001-01-01 00:00:00" >/dev/null || fail "cannot set the clock"
for m in heartbeat timesync shutdown; do
	insmod /modules/rvmbus_$m.ko || fail "insmod rvmbus_$m failed"
done
[ "$(driver_of $hb)" = rvmbus_heartbeat ] || fail "heartbeat device bound to '$(driver_of $hb)'"
[ "$(driver_of $ts)" = rvmbus_timesync ] || fail "timesync device bound to '$(driver_of $ts)'"
[ "$(driver_of $sd)" = rvmbus_shutdown ] || fail "shutdown device bound to '$(driver_of $sd)'"
for d in $hb $ts $sd; do
	[ "$(cat $d/state)" = 3 ] || fail "${d##*/}: state $(cat $d/state), want 3 (open)"
done
wait_dmesg "heartbeat: negotiated framework 3.0, message version 3.0" 50 || fail "heartbeat did not negotiate"
wait_dmesg "shutdown: negotiated framework 3.0, message version 3.2" 50 || fail "shutdown did not negotiate 3.2"
wait_dmesg "timesync: negotiated framework 3.0, message version 4.0" 50 || fail "timesync did not negotiate 4.0"
wait_dmesg "timesync: clock set from the host" 50 || fail "the SYNC sample did not set the clock"
year=$(date +%Y)
[ "$year" -ge 2024 ] || fail "clock still says $year after the host's SYNC sample"
# The host beats every 200 ms (host_args): wait for 10 answers.
wait_dmesg "heartbeat 10 answered" 100 || fail "fewer than 10 heartbeats answered: $(dmesg | grep heartbeat | tail -2)"
st=$(harness ctl stats | tr ' ' '\n')
echo "$st" | grep heartbeat
ok=$(echo "$st" | sed -n 's/^dev\.[0-9]*\.heartbeat\.ok=//p')
[ "${ok:-0}" -ge 10 ] || fail "the host counts ${ok:-0} good heartbeats"
echo "$st" | grep -q "heartbeat\.bad=0" || fail "the host saw bad heartbeat answers"
wait_dmesg "timesync: sample 1: host clock is -?[0-9]+ ms from ours" 80 || fail "no time sample after the SYNC"
for m in heartbeat timesync shutdown; do
	rmmod rvmbus_$m || fail "rmmod rvmbus_$m failed"
done
for d in $hb $ts $sd; do
	[ -e $d/driver ] && fail "${d##*/} still bound"
	[ "$(cat $d/state)" = 2 ] || fail "${d##*/}: state $(cat $d/state) after unbind, want 2"
done
expect_dmesg "removed after [0-9]+ heartbeats \(0 packets refused\)"
rmmod rvmbus || fail "rmmod rvmbus failed"
pass "heartbeat, timesync (clock 2001 -> $year) and shutdown bound, negotiated and unbound; the host counted $ok good heartbeats and none bad"
