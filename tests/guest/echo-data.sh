# SPDX-License-Identifier: GPL-2.0
# The echo channel opens, carries data both ways with every byte checked,
# closes, and does the same with its interrupts on the other vCPU; rmmod
# with the channel open sends UNLOAD and frees everything; insmod again
# reconnects and gets all offers back.
SCEN=echo-data
. /scenarios/lib.sh
insmod $MOD || fail "insmod failed"
d=$(dev_of_relid 4) || fail "no echo device (relid 4)"
for cpu in 0 1; do
	r=$(ctl open 4 $cpu) || fail "open on CPU $cpu failed: $(dmesg | tail -3)"
	[ "$(cat $d/state)" = 3 ] || fail "state $(cat $d/state) after open, want 3"
	[ "$(cat $d/channels/4/cpu)" = $cpu ] || fail "channels/4/cpu is $(cat $d/channels/4/cpu), want $cpu"
	grep -q "^4:$cpu$" $d/channel_vp_mapping || fail "channel_vp_mapping: $(cat $d/channel_vp_mapping)"
	grep -Eq '^[0-9]+$' $d/out_read_index || fail "ring attributes not readable while open"
	for size in 1 64 1500 8000; do
		r=$(ctl echo 4 50 $size) || fail "echo of 50 x $size bytes on CPU $cpu failed: $(dmesg | tail -3)"
		echo "$r"
		echo "$r" | grep -q "errors=0" || fail "echo errors: $r"
		irqs=$(echo "$r" | sed -n 's/.*interrupts=\([0-9]*\).*/\1/p')
		[ "$irqs" -gt 0 ] || fail "no interrupts from the host during echo: $r"
	done
	[ "$(cat $d/channels/4/interrupts)" -gt 0 ] || fail "channels/4/interrupts is 0"
	[ "$(cat $d/channels/4/events)" -gt 0 ] || fail "channels/4/events is 0"
	r=$(ctl close 4) || fail "close failed: $(dmesg | tail -3)"
	[ "$(cat $d/state)" = 5 ] || fail "state $(cat $d/state) after close, want 5"
	cat $d/out_read_index >/dev/null 2>&1 && fail "ring attributes readable after close"
done
# Unload with the channel open.
ctl open 4 1 >/dev/null || fail "reopen failed"
ctl echo 4 10 256 | grep -q "errors=0" || fail "echo after reopen failed"
rmmod rvmbus || fail "rmmod with an open channel failed"
expect_dmesg "unloaded: 4 channels removed, host released all memory"
insmod $MOD || fail "second insmod failed"
[ $(ls /sys/bus/vmbus/devices | wc -l) = 4 ] || fail "offers not all back after reconnect"
ctl open 4 0 >/dev/null || fail "open after reconnect failed"
ctl echo 4 10 256 | grep -q "errors=0" || fail "echo after reconnect failed"
rmmod rvmbus || fail "final rmmod failed"
pass "echo 400 packets per vCPU (1 to 8000 bytes) checked byte for byte on CPUs 0 and 1; unload with an open channel; reconnect"
