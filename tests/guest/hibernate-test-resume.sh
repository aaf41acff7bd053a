# SPDX-License-Identifier: GPL-2.0
# Hibernation in one boot (/sys/power/disk = test_resume, image on a
# virtio-blk swap disk): freeze (drivers suspended, the bus closes the
# channels and unloads), thaw, image written, freeze again, image restored
# (the bus reconnects with the same version, matches the offers by
# instance GUID and re-opens the channels). The same devices are there,
# their channels open, echo traffic and heartbeats go on.
SCEN=hibernate-test-resume
. /scenarios/lib.sh
. /scenarios/hib-lib.sh
swap_up
drivers_up
E2=/sys/bus/vmbus/devices/72766d62-0004-0001-8000-000000000000
echo ${E2##*/} > /sys/bus/vmbus/drivers/rvmbus_echo/unbind || fail "unbind of the second echo device failed"
r2=$(cat $E2/id)
ctl open $r2 0 >/dev/null || fail "open of relid $r2 failed"
ctl subchannels $r2 2 | grep -q "offered=2" || fail "sub-channel request failed"
wait_subs() {
	i=0
	while [ $(ls $E2/channels | wc -l) -lt 3 ]; do
		i=$((i + 1)); [ $i -gt 100 ] && fail "sub-channels $1: $(ls $E2/channels)"
		sleep 0.1
	done
}
wait_subs "before hibernation"
before=$(devices)
echo "$before"
echo test_resume > /sys/power/disk || fail "no test_resume in /sys/power/disk: $(cat /sys/power/disk)"
echo disk > /sys/power/state || fail "hibernation failed: $(dmesg | grep -E 'PM:|rvmbus' | tail -8)"
expect_dmesg "rvmbus: hibernation: unloaded, [0-9]+ channels suspended"
expect_dmesg "rvmbus: hibernation: reconnected with VMBus version"
expect_dmesg "rvmbus: hibernation: resumed, [1-9][0-9]* channels re-opened"
expect_dmesg "relid 2: suspend"
expect_dmesg "relid 2: resume"
expect_dmesg "rvmbus: hibernation: channel $r2: 2 of 2 sub-channels offered again"
wait_subs "after resume"
[ "$(cat $E2/state)" = 3 ] || fail "second echo device state $(cat $E2/state) after resume, want 3"
ctl echo $r2 20 512 | grep -q "errors=0" || fail "echo on relid $r2 after resume failed"
for c in $E2/channels/*; do
	sub=${c##*/}
	[ "$(cat $c/subchannel_id)" = 0 ] && continue
	ctl open $sub 1 >/dev/null || fail "open of sub-channel $sub after resume failed"
	ctl echo $sub 20 512 | grep -q "errors=0" || fail "echo on sub-channel $sub after resume failed"
	ctl close $sub >/dev/null || fail "close of sub-channel $sub failed"
done
after=$(devices)
echo "$after"
[ "$before" = "$after" ] || fail "devices changed: before '$before' after '$after'"
all_open
echo_run "after resume"
heartbeats_go_on 150 || fail "heartbeats stopped after resume (last $beat)"
unload_all
pass "test_resume: same $(echo "$after" | wc -l) devices, channels re-opened, 2 sub-channels re-created and carrying data, 100 echo requests before and after, heartbeats continued past $beat"
