# SPDX-License-Identifier: GPL-2.0
# Hibernation across two QEMU processes with the same host: hibernate
# (/sys/power/disk = shutdown), QEMU exits; the host, which renumbers relids
# after UNLOAD, drops the second echo device meanwhile; QEMU starts again
# and its initramfs resumes from /dev/vda (rvmbus.resume=1). The restored
# guest goes on here: the devices offered again are the same (by instance
# GUID) with new relids, the dropped one is removed, channels are open
# again, echo traffic and heartbeats go on.
SCEN=hibernate-cycle
. /scenarios/lib.sh
. /scenarios/hib-lib.sh
GONE=72766d62-0004-0001-8000-000000000000
if grep -q "rvmbus\.resume=1" /proc/cmdline; then
	# The boot kernel of the second QEMU: restore the image; this does
	# not return when it works.
	disk_up
	echo "resuming from $(cat /sys/block/vda/dev)"
	cat /sys/block/vda/dev > /sys/power/resume
	fail "no resume from /dev/vda: $(dmesg | grep 'PM:' | tail -5)"
fi
swap_up
drivers_up
before=$(devices)
echo "$before"
echo "$before" | grep -q "^$GONE " || fail "no second echo device $GONE"
echo shutdown > /sys/power/disk || fail "cannot set /sys/power/disk"
echo "@@HIBERNATED"
echo disk > /sys/power/state || fail "hibernation failed: $(dmesg | grep -E 'PM:|rvmbus' | tail -8)"
# Restored, in the second QEMU.
expect_dmesg "rvmbus: hibernation: reconnected with VMBus version"
expect_dmesg "rvmbus: hibernation: resumed, [1-9][0-9]* channels re-opened"
expect_dmesg "rvmbus: hibernation: rvmbus echo \{?$GONE\}? was not offered again: removed|rvmbus: hibernation: rvmbus echo .* was not offered again: removed"
expect_dmesg "offer after resume: relid [0-9]+ \(was [0-9]+\)"
i=0
while [ -e /sys/bus/vmbus/devices/$GONE ]; do
	i=$((i + 1)); [ $i -gt 100 ] && fail "device $GONE not removed"
	sleep 0.1
done
after=$(devices)
echo "$after"
# Same names but the dropped one; every relid new.
names_before=$(echo "$before" | grep -v "^$GONE " | cut -d' ' -f1)
[ "$names_before" = "$(echo "$after" | cut -d' ' -f1)" ] || fail "devices: before '$before' after '$after'"
echo "$before" | while read -r name id; do
	echo "$after" | grep -q "^$name $id$" && { echo "relid of $name unchanged ($id)"; exit 1; }
	true
done || fail "the host renumbered the relids but a device kept its relid"
all_open
echo_run "after resume"
heartbeats_go_on 150 || fail "heartbeats stopped after resume (last $beat)"
unload_all
pass "full cycle: $(echo "$after" | wc -l) devices back with new relids, $GONE removed, 100 echo requests before and after, heartbeats continued past $beat"
