# SPDX-License-Identifier: GPL-2.0
# The sysfs ABI part of bus-azure, sourced by bus-common.sh after the basic
# checks. The host offers heartbeat (1), shutdown without a monitor id (2),
# timesync (3) and echo (4) (run.py). Sets $channels (for the unload line)
# and $abi_more (for the PASS line).
HB_DEV=$(dev_of_relid 1)
ECHO_DEV=$(dev_of_relid 4)
[ -e $(dev_of_relid 2)/monitor_id ] && fail "the shutdown device has no monitor id, yet monitor_id is there"

# A busy tree: the heartbeat driver bound (channel 1 open), the echo
# channel open with two sub-channels, one of them open.
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
wait_bound 1 || fail "the heartbeat device was not bound"
ctl open 4 0 >/dev/null || fail "open of the echo channel failed"
r=$(ctl subchannels 4 2) || fail "sub-channel request failed"
echo "$r" | grep -q "offered=2" || fail "sub-channels: $r"
i=0
while [ $(ls $ECHO_DEV/channels | wc -l) -lt 3 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "sub-channels did not appear: $(ls $ECHO_DEV/channels)"
	sleep 0.1
done
channels=6
sub=$(ls $ECHO_DEV/channels | grep -vx 4 | head -1)
ctl open $sub 1 >/dev/null || fail "open of sub-channel $sub failed"
abi_check --driver rvmbus_heartbeat --bound 1=rvmbus_heartbeat
first_abi=$abi_summary

# The monitor files read the monitor pages. The host describes each
# monitored channel in the guest -> host page (connection id, latency of
# 10000 x 100 ns, its polling period) and writes nothing in the host ->
# guest page; while it holds its polling, the echo channel's signal stays
# pending in the page.
C4=$ECHO_DEV/channels/4
mid=$(cat $C4/monitor_id)
conn=$(harness ctl list | tr ' ' '\n' | grep -A5 '^relid=4$' | sed -n 's/^conn=//p')
[ -n "$conn" ] || fail "host list has no connection id for relid 4"
for a in "client_monitor_conn_id $conn" "client_monitor_latency 10000" "server_monitor_conn_id 0" \
	"server_monitor_latency 0" "client_monitor_pending 0" "server_monitor_pending 0"; do
	set -- $a
	[ "$(cat $ECHO_DEV/$1)" = "$2" ] || fail "$1 is $(cat $ECHO_DEV/$1), want $2"
done
[ "$(cat $C4/latency)" = 10000 ] || fail "channels/4/latency is $(cat $C4/latency), want 10000"
[ "$(cat $C4/pending)" = 0 ] || fail "channels/4/pending is $(cat $C4/pending) before any signal"
case "$(harness ctl monitor-hold on)" in ok*) ;; *) fail "host: monitor-hold on failed" ;; esac
events0=$(cat $C4/events)
empty0=$(cat $C4/intr_out_empty)
(ctl echo 4 1 64 > /tmp/held-echo.out 2>&1) &
held=$!
# The group's pending word: other monitored channels of the group (the
# heartbeat driver answers meanwhile) may have their bits set too, so the
# checks look at the echo channel's bit.
want=$((1 << (mid % 32)))
has_bit() { [ $(($1 & want)) -ne 0 ]; }
i=0
until has_bit "$(cat $C4/pending)"; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "channels/4/pending is $(cat $C4/pending) with a signal held, want $want (monitor id $mid)"
	sleep 0.1
done
has_bit "$(cat $ECHO_DEV/client_monitor_pending)" ||
	fail "client_monitor_pending is $(cat $ECHO_DEV/client_monitor_pending), want $want"
[ "$(cat $ECHO_DEV/server_monitor_pending)" = 0 ] || fail "server_monitor_pending is not 0"
case "$(harness ctl monitor-hold off)" in ok*) ;; *) fail "host: monitor-hold off failed" ;; esac
wait $held || fail "the echo under a held monitor failed: $(cat /tmp/held-echo.out)"
grep -q "errors=0" /tmp/held-echo.out || fail "held echo: $(cat /tmp/held-echo.out)"
! has_bit "$(cat $C4/pending)" || fail "channels/4/pending is $(cat $C4/pending) after the host took the signal"
[ $(cat $C4/intr_out_empty) -gt $empty0 ] || fail "intr_out_empty did not count the signal on an empty ring"
[ $(cat $C4/events) -gt $events0 ] || fail "events did not count the signal"

# Drivers take new ids: rvmbus_echo binds the echo device by class, and
# the timesync device (no driver) once its class is written to new_id.
ctl close $sub >/dev/null || fail "close of sub-channel $sub failed"
ctl close 4 >/dev/null || fail "close of the echo channel failed"
DRV=/sys/bus/vmbus/drivers/rvmbus_echo
TS_DEV=$(dev_of_relid 3)
insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
wait_bound 4 || fail "the echo device was not bound"
[ -e $TS_DEV/driver ] && fail "timesync device bound before new_id"
echo $TIMESYNC > $DRV/new_id || fail "new_id: write failed"
wait_bound 3 || fail "new_id did not bind the timesync device"
[ "$(driver_of $TS_DEV)" = rvmbus_echo ] || fail "timesync device bound to $(driver_of $TS_DEV)"
echo $TIMESYNC > $DRV/new_id 2>/tmp/err && fail "new_id took the same id twice"
grep -q "File exists" /tmp/err || fail "new_id of a known id: $(cat /tmp/err), want EEXIST"
echo not-a-guid > $DRV/new_id 2>/tmp/err && fail "new_id took a malformed GUID"
grep -q "Invalid argument" /tmp/err || fail "new_id of a malformed GUID: $(cat /tmp/err), want EINVAL"
abi_check --driver rvmbus_heartbeat --driver rvmbus_echo --bound 1=rvmbus_heartbeat \
	--bound 3=rvmbus_echo --bound 4=rvmbus_echo
second_abi=$abi_summary
# A full outbound ring: with the host's polling held, the echo driver's
# sixteen 16000-byte requests (eight in flight) fill the 64 KiB ring and
# wait for room until the host polls again. Each such episode counts one
# in out_full_first; every send that found the ring full, in
# out_full_total.
BENCH=/sys/kernel/debug/rvmbus_echo/bench
for ep in 1 2; do
	first0=$(cat $C4/out_full_first)
	total0=$(cat $C4/out_full_total)
	case "$(harness ctl monitor-hold on)" in ok*) ;; *) fail "host: monitor-hold on failed" ;; esac
	(echo "16000 16 8 4" > $BENCH) 2>/tmp/bench.err &
	bg=$!
	i=0
	until [ $(cat $C4/out_full_total) -gt $total0 ]; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "episode $ep: the outbound ring did not fill (out_full_total $total0)"
		sleep 0.1
	done
	case "$(harness ctl monitor-hold off)" in ok*) ;; *) fail "host: monitor-hold off failed" ;; esac
	wait $bg || fail "episode $ep: bench failed: $(cat /tmp/bench.err) $(dmesg | tail -2)"
	grep -q " sent=16 completed=16 cancelled=0 mismatched=0 failed=0 lost=0 " $BENCH ||
		fail "episode $ep: $(cat $BENCH)"
	first=$(cat $C4/out_full_first)
	total=$(cat $C4/out_full_total)
	[ $first -gt $first0 ] || fail "out_full_first stayed $first in full-ring episode $ep (one per episode)"
	[ $((first - first0)) -le $((total - total0)) ] ||
		fail "episode $ep: out_full_first grew by $((first - first0)), out_full_total by $((total - total0))"
done

# remove_id forgets the id (the bound device stays bound, as in Linux);
# then the driver cannot be bound to the device by hand any more.
echo $TIMESYNC > $DRV/remove_id || fail "remove_id failed"
[ "$(driver_of $TS_DEV)" = rvmbus_echo ] || fail "remove_id unbound the device"
echo $TIMESYNC > $DRV/remove_id 2>/tmp/err && fail "remove_id removed an id twice"
grep -q "No such device" /tmp/err || fail "remove_id of an unknown id: $(cat /tmp/err), want ENODEV"
echo ${TS_DEV##*/} > $DRV/unbind || fail "unbind of the timesync device failed"
echo ${TS_DEV##*/} > $DRV/bind 2>/dev/null && fail "bound by hand after remove_id"
[ -e $TS_DEV/driver ] && fail "timesync device bound after remove_id"
rmmod rvmbus_echo || fail "rmmod rvmbus_echo failed"
rmmod rvmbus_heartbeat || fail "rmmod rvmbus_heartbeat failed"
abi_more="pending $want held and taken; 2 full-ring episodes: out_full_first $first, out_full_total $total; new_id/remove_id; with rvmbus_echo on new_id: $second_abi"
abi_summary=$first_abi
