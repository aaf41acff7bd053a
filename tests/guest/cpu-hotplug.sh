# SPDX-License-Identifier: GPL-2.0
# CPU hotplug with channels open (2 vCPUs, a 5.3 host): CPU 1 goes offline
# with the echo channel's interrupts on it; the channel is moved to CPU 0
# (MODIFY_CHANNEL, answered), CPU 1's SynIC is turned off, and no open or
# move may pick CPU 1 while it is off. CPU 1 comes back: its SynIC is set
# up again and the channel can move back. A host that does not answer the
# move keeps CPU 1 online (EBUSY) with the channel where it was. rmmod with
# CPU 1 offline frees every page; insmod with CPU 1 offline sets up CPU 0
# only, and CPU 1's SynIC follows when it comes online.
SCEN=cpu-hotplug
. /scenarios/lib.sh
ON=/sys/devices/system/cpu/cpu1/online
[ -w $ON ] || fail "CPU 1 cannot be taken offline here (no $ON)"

# Echoes 50 packets of 1500 bytes on the echo channel; fails unless all
# came back ($1 says when).
echo_ok() {
	r=$(ctl echo 4 50 1500) || fail "echo failed ($1): $(dmesg | tail -3)"
	echo "$r" | grep -q "errors=0" || fail "echo errors ($1): $r"
}

insmod $MOD || fail "insmod failed"
expect_dmesg "connected to the host: VMBus version 5\.3,"
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
d=$(dev_of_relid 4) || fail "no echo device (relid 4)"
c=$d/channels/4
ctl open 4 1 >/dev/null || fail "open on CPU 1 failed: $(dmesg | tail -3)"
echo_ok "on CPU 1"

# Offline: the channel moves to CPU 0 and CPU 1's SynIC goes.
mark
echo 0 > $ON || fail "CPU 1 did not go offline: $(dmesg | tail -3)"
[ "$(cat $ON)" = 0 ] || fail "CPU 1 still online"
[ "$(cat $c/cpu)" = 0 ] || fail "channels/4/cpu is $(cat $c/cpu) after CPU 1 went offline, want 0"
wait_new "channel 4: interrupts moved from CPU 1 to CPU 0$" 10 || fail "no move logged"
wait_new "CPU 1 offline: SynIC turned off" 10 || fail "CPU 1's SynIC not turned off"
for x in $d /sys/bus/vmbus/devices/*; do
	grep -q ":1$" $x/channel_vp_mapping && fail "${x##*/} still maps a channel to CPU 1: $(cat $x/channel_vp_mapping)"
done
echo_ok "after CPU 1 went offline"
heartbeats_go_on 50 || fail "heartbeats stopped with CPU 1 offline"

# Nothing may pick CPU 1 while it is off.
e=$( (echo 1 > $c/cpu) 2>&1) && fail "moving to offline CPU 1 succeeded"
echo "$e" | grep -q "Invalid argument" || fail "move to offline CPU 1: '$e', want EINVAL"
ctl open 3 1 >/dev/null 2>&1 && fail "opening a channel on offline CPU 1 succeeded"

# Online: CPU 1's SynIC is set up again, and the channel can go back.
mark
echo 1 > $ON || fail "CPU 1 did not come back"
wait_new "CPU 1 online: SynIC set up" 10 || fail "CPU 1's SynIC not set up when it came online"
echo 1 > $c/cpu || fail "moving back to CPU 1 failed"
[ "$(cat $c/cpu)" = 1 ] || fail "channels/4/cpu is $(cat $c/cpu) after the move back"
echo_ok "back on CPU 1"

# A host that does not answer the move: CPU 1 stays online (EBUSY).
harness ctl hostile silent on | grep -q "silent on" || fail "host would not go silent"
mark
e=$( (echo 0 > $ON) 2>&1) && fail "CPU 1 went offline with an unanswered move"
harness ctl hostile silent off | grep -q "silent off" || fail "host stayed silent"
echo "$e" | grep -q "busy" || fail "offline with an unanswered move: '$e', want EBUSY"
[ "$(cat $ON)" = 1 ] || fail "CPU 1 offline after the refusal"
[ "$(cat $c/cpu)" = 1 ] || fail "channels/4/cpu is $(cat $c/cpu) after the refused offline, want 1"
wait_new "CPU 1 stays online: a channel could not be moved" 10 || fail "refusal not logged"
echo_ok "after the refused offline"

# rmmod with CPU 1 offline: every shared page freed.
echo 0 > $ON || fail "CPU 1 did not go offline the second time: $(dmesg | tail -3)"
rmmod rvmbus_heartbeat || fail "rmmod rvmbus_heartbeat failed"
mark
rmmod rvmbus || fail "rmmod with CPU 1 offline failed"
wait_new "shared pages: [0-9]+ allocations, every one freed" 10 || fail "pages not all freed: $(dmesg | grep 'shared pages' | tail -1)"

# insmod with CPU 1 offline: CPU 1's SynIC is set up when it comes online.
mark
insmod $MOD || fail "insmod with CPU 1 offline failed"
ctl open 4 1 >/dev/null 2>&1 && fail "open on offline CPU 1 succeeded after insmod"
echo 1 > $ON || fail "CPU 1 did not come back after insmod"
wait_new "CPU 1 online: SynIC set up" 10 || fail "CPU 1's SynIC not set up after insmod"
ctl open 4 1 >/dev/null || fail "open on CPU 1 after it came back failed: $(dmesg | tail -3)"
echo_ok "on CPU 1 after insmod with it offline"
mark
rmmod rvmbus || fail "final rmmod failed"
wait_new "shared pages: [0-9]+ allocations, every one freed" 10 || fail "pages not all freed at the end"
expect_no_kept_memory
pass "CPU 1 offline with the echo channel on it: moved to CPU 0, SynIC off, echo and heartbeats go on, CPU 1 refused (EINVAL); online: SynIC up, moved back; unanswered move: EBUSY, CPU 1 and the channel stay; rmmod with CPU 1 offline and insmod then online: every page freed"
