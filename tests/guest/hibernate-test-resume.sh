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
before=$(devices)
echo "$before"
echo test_resume > /sys/power/disk || fail "no test_resume in /sys/power/disk: $(cat /sys/power/disk)"
echo disk > /sys/power/state || fail "hibernation failed: $(dmesg | grep -E 'PM:|rvmbus' | tail -8)"
expect_dmesg "rvmbus: hibernation: unloaded, [0-9]+ channels suspended"
expect_dmesg "rvmbus: hibernation: reconnected with VMBus version"
expect_dmesg "rvmbus: hibernation: resumed, [1-9][0-9]* channels re-opened"
expect_dmesg "relid 4: suspend"
expect_dmesg "relid 4: resume"
after=$(devices)
echo "$after"
[ "$before" = "$after" ] || fail "devices changed: before '$before' after '$after'"
all_open
echo_run "after resume"
heartbeats_go_on
unload_all
pass "test_resume: same $(echo "$after" | wc -l) devices, channels re-opened, 100 echo requests before and after, heartbeats continued past $n"
