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
	r=$(ctl echo-gpa 4 20 9000) || fail "GPA-direct echo on CPU $cpu failed: $(dmesg | tail -3)"
	echo "$r"
	echo "$r" | grep -q "pages=3 errors=0" || fail "GPA-direct echo: $r"
	[ "$(cat $d/channels/4/interrupts)" -gt 0 ] || fail "channels/4/interrupts is 0"
	[ "$(cat $d/channels/4/events)" -gt 0 ] || fail "channels/4/events is 0"
	r=$(ctl close 4) || fail "close failed: $(dmesg | tail -3)"
	[ "$(cat $d/state)" = 2 ] || fail "state $(cat $d/state) after close, want 2 (CHANNEL_OPEN_STATE)"
	cat $d/out_read_index >/dev/null 2>&1 && fail "ring attributes readable after close"
done
# Sub-channels: offered by the host on request, attached to the primary's
# device, and carrying data like it.
ctl open 4 0 >/dev/null || fail "open for sub-channels failed"
r=$(ctl subchannels 4 2) || fail "sub-channel request failed"
echo "$r" | grep -q "offered=2" || fail "sub-channels: $r"
i=0
while [ $(ls $d/channels | wc -l) -lt 3 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "sub-channels did not appear under $d/channels: $(ls $d/channels)"
	sleep 0.1
done
[ $(ls /sys/bus/vmbus/devices | wc -l) = 4 ] || fail "sub-channels became devices of their own"
[ $(wc -l < $d/channel_vp_mapping) = 3 ] || fail "channel_vp_mapping: $(cat $d/channel_vp_mapping)"
for c in $d/channels/*; do
	sub=${c##*/}
	[ $sub = 4 ] && continue
	[ "$(cat $c/subchannel_id)" -ge 1 ] || fail "channels/$sub/subchannel_id is $(cat $c/subchannel_id)"
	ctl open $sub 1 >/dev/null || fail "open of sub-channel $sub failed"
	ctl echo $sub 20 512 | grep -q "errors=0" || fail "echo on sub-channel $sub failed"
	ctl close $sub >/dev/null || fail "close of sub-channel $sub failed"
done
ctl close 4 >/dev/null || fail "close after sub-channels failed"
# Ring sizes at the bounds: the core takes 4 to 2044 KiB of data per ring
# (the Rust API's 8..2040 KiB and vmbus_open's 12 KiB..2 MiB map onto
# 12 and 2044 KiB, and 2044 and 8 KiB): both rings of a 2044 KiB channel
# fill the 4 MiB block exactly, and one KiB more is refused up front.
for kib in 4 12 2044; do
	ctl open 4 0 $kib >/dev/null || fail "open with $kib KiB rings failed: $(dmesg | tail -2)"
	dmesg | tail -3 | grep -q "channel 4 open: $kib KiB rings" || fail "no open line for $kib KiB rings"
	ctl echo 4 10 2000 | grep -q "errors=0" || fail "echo on $kib KiB rings failed"
	ctl close 4 >/dev/null || fail "close of $kib KiB rings failed"
done
ctl open 4 0 2045 >/dev/null 2>&1 && fail "open with 2045 KiB rings (over the 4 MiB block) succeeded"
# Unload with the channel open.
ctl open 4 1 >/dev/null || fail "reopen failed"
ctl echo 4 10 256 | grep -q "errors=0" || fail "echo after reopen failed"
rmmod rvmbus || fail "rmmod with an open channel failed"
expect_dmesg "unloaded: 6 channels removed, host released all memory"
insmod $MOD || fail "second insmod failed"
[ $(ls /sys/bus/vmbus/devices | wc -l) = 4 ] || fail "offers not all back after reconnect"
ctl open 4 0 >/dev/null || fail "open after reconnect failed"
ctl echo 4 10 256 | grep -q "errors=0" || fail "echo after reconnect failed"
rmmod rvmbus || fail "final rmmod failed"
pass "echo 400 in-band and 20 GPA-direct (3-page) packets per vCPU checked byte for byte on CPUs 0 and 1; 2 sub-channels; rings of 4, 12 and 2044 KiB open and echo, 2045 KiB refused; unload with an open channel; reconnect"
