# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_storvsc on rvmbus across power management, with an ext2
# file system (busybox's mke2fs; the kernel's ext4 driver mounts it) on
# the host's 128 MiB disk mounted throughout: 32 MiB of known data written
# before, then suspend-to-RAM (ACPI S3; the harness wakes the guest) and
# hibernation in one boot (test_resume, the swap on the virtio disk); after
# each the file reads back equal with the page cache dropped and another
# 8 MiB file is written and checked; at the end umount, mount again and
# every file is checked, and hv_storvsc and rvmbus unload with nothing
# kept.
SCEN=storvsc-pm
. /scenarios/lib.sh
. /scenarios/hib-lib.sh
STOR=/modules/linux/hv_storvsc.ko
[ -f $STOR ] || fail "no $STOR in the initramfs (make modules builds it)"
echo 60 > /proc/sys/kernel/hung_task_timeout_secs
echo 1 > /proc/sys/kernel/sysrq
insmod $MOD || fail "insmod rvmbus failed"
load_linux_deps
insmod $STOR storvsc_vcpus_per_sub_channel=1 || fail "insmod hv_storvsc failed"
i=0
until [ -b /dev/sda ]; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "no /dev/sda 30 s after insmod hv_storvsc"
	sleep 0.1
done
[ "$(cat /sys/block/sda/size)" = $((128 * 2048)) ] || fail "/sys/block/sda/size is $(cat /sys/block/sda/size)"
mke2fs -b 4096 /dev/sda >/tmp/err 2>&1 || fail "mke2fs failed: $(tail -3 /tmp/err)"
mkdir -p /mnt
mount -t ext2 /dev/sda /mnt || fail "mount failed"
dd if=/dev/urandom of=/tmp/data bs=1M count=32 2>/dev/null
sum=$(sha256sum /tmp/data | cut -d' ' -f1)
cp /tmp/data /mnt/before || fail "write before suspend failed"
sync

# Checks /mnt/$1 against the data's first $2 MiB, page cache dropped.
check() {
	echo 3 > /proc/sys/vm/drop_caches
	w=$(dd if=/tmp/data bs=1M count=$2 2>/dev/null | sha256sum | cut -d' ' -f1)
	g=$(sha256sum /mnt/$1 | cut -d' ' -f1)
	[ "$g" = "$w" ] || fail "/mnt/$1 $3: sha256 $g, want $w"
}
# Writes an 8 MiB file $1 and checks it.
write8() {
	dd if=/tmp/data of=/mnt/$1 bs=1M count=8 conv=fsync 2>/dev/null || fail "write of /mnt/$1 failed"
	check $1 8 "just written"
}

r=$(harness wake-after 4)
[ "$r" = ok ] || fail "harness cannot wake the guest: $r"
mark
echo mem > /sys/power/state || fail "suspend failed: $(dmesg | tail -5)"
[ "$(cat /sys/power/suspend_stats/success)" = 1 ] || fail "suspend_stats/success is $(cat /sys/power/suspend_stats/success)"
check before 32 "after S3"
write8 after-s3

swap_up
mark
echo test_resume > /sys/power/disk || fail "no test_resume in /sys/power/disk"
echo disk > /sys/power/state || fail "hibernation failed: $(dmesg | grep -E 'PM:|rvmbus|storvsc|sd ' | tail -8)"
wait_new "rvmbus: hibernation: resumed" 50 || fail "rvmbus did not resume from hibernation"
check before 32 "after hibernation"
check after-s3 8 "after hibernation"
write8 after-hib

umount /mnt || fail "umount failed"
mount -t ext2 /dev/sda /mnt || fail "mount again failed"
check before 32 "after remount"
check after-s3 8 "after remount"
check after-hib 8 "after remount"
umount /mnt || fail "last umount failed"
swapoff /dev/vda
rmmod hv_storvsc || fail "rmmod hv_storvsc failed"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
pass "ext2 on hv_storvsc mounted across S3 and hibernation: 32 MiB before, 8 MiB after each, all equal after remount; unloaded"
