# SPDX-License-Identifier: GPL-2.0
# Linux's own hv_storvsc (linux-drivers/hv_storvsc) on rvmbus against the
# host's storage backend (tools/vmbus-host --disk): the host offers one
# controller with a 256 MiB sparse disk at LUN 0 (harness host_disks
# "data"). The disk appears as a SCSI disk of the file's size; 64 MiB of
# known (random) data written to the raw device are read back from the
# device and are, byte for byte, in the host's file (the harness hashes
# the file); an ext2 file system (busybox's mke2fs, mounted by ext4; the
# initramfs has no e2fsprogs) holds a 64 MiB file across umount and
# mount; readers and writers on both vCPUs go over the primary channel
# and a sub-channel; a second disk is hot-added, used and hot-removed
# (idle, then under I/O: the I/O fails, the kernel does not Oops); and
# hv_storvsc, then rvmbus, unload and load again with the disk coming
# back with its data.
SCEN=storvsc-disk
. /scenarios/lib.sh
STOR=/modules/linux/hv_storvsc.ko
MIB=256
[ -f $STOR ] || fail "no $STOR in the initramfs (make modules builds it)"

load_all() {
	insmod $MOD || fail "insmod rvmbus failed"
	load_linux_deps
	# One sub-channel per vCPU beyond the first (the default, one per 4
	# vCPUs, gives a 2-vCPU guest none).
	insmod $STOR storvsc_vcpus_per_sub_channel=1 || fail "insmod hv_storvsc failed"
}

# The block device (sdX) of the disk at LUN $1 of any controller; waits
# up to $2 tenths of a second.
disk_of_lun() {
	i=0
	while :; do
		for b in /sys/block/sd*; do
			[ -e "$b/device" ] || continue
			hctl=$(basename "$(readlink -f $b/device)")
			[ "${hctl##*:}" = "$1" ] && { echo ${b##*/}; return 0; }
		done
		i=$((i + 1)); [ $i -gt $2 ] && return 1
		sleep 0.1
	done
}

# A request the host never completes shows as a blocked task (which
# fails the scenario) with its stack; sysrq lets one ask the guest for
# more through QEMU's monitor (sendkey alt-sysrq-w).
echo 60 > /proc/sys/kernel/hung_task_timeout_secs
echo 1 > /proc/sys/kernel/sysrq
load_all
dev=$(disk_of_lun 0 300) || fail "no SCSI disk at LUN 0 30 s after insmod hv_storvsc"
sz=$(cat /sys/block/$dev/size)
[ "$sz" = $((MIB * 2048)) ] || fail "/sys/block/$dev/size is $sz sectors, want $((MIB * 2048))"
ctrl=$(ls /sys/bus/vmbus/drivers/hv_storvsc | grep -- - | head -1)
[ -n "$ctrl" ] || fail "hv_storvsc bound to no VMBus device"
echo "disk $dev: $sz sectors, controller $ctrl"

# 64 MiB of known data, kept in tmpfs with its checksum.
dd if=/dev/urandom of=/tmp/data bs=1M count=64 2>/dev/null || fail "cannot make the data"
sum=$(sha256sum /tmp/data | cut -d' ' -f1)

# The raw device, at 192 MiB (past the file system below).
dd if=/tmp/data of=/dev/$dev bs=1M seek=192 conv=notrunc,fsync 2>/tmp/err || fail "raw write failed: $(cat /tmp/err)"
sync
blockdev --flushbufs /dev/$dev
echo 3 > /proc/sys/vm/drop_caches
got=$(dd if=/dev/$dev bs=1M skip=192 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$sum" ] || fail "raw read-back: sha256 $got, want $sum"
host=$(harness disk-sha256 data $((192 << 20)) $((64 << 20)))
[ "$host" = "ok $sum" ] || fail "the host's file at 192 MiB: '$host', want 'ok $sum'"

# A file system on the first 176 MiB.
mke2fs -b 4096 /dev/$dev $((176 * 1024)) >/tmp/err 2>&1 || fail "mke2fs failed: $(tail -3 /tmp/err)"
mkdir -p /mnt
mount -t ext2 /dev/$dev /mnt || fail "mount failed"
cp /tmp/data /mnt/data || fail "writing 64 MiB to the file system failed"
sync
umount /mnt || fail "umount failed"
echo 3 > /proc/sys/vm/drop_caches
mount -t ext2 /dev/$dev /mnt || fail "second mount failed"
got=$(sha256sum /mnt/data | cut -d' ' -f1)
[ "$got" = "$sum" ] || fail "file after remount: sha256 $got, want $sum"
umount /mnt || fail "second umount failed"
# The raw region is untouched by the file system.
echo 3 > /proc/sys/vm/drop_caches
got=$(dd if=/dev/$dev bs=1M skip=192 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$sum" ] || fail "raw region after the file system: sha256 $got, want $sum"

# Concurrent I/O from both vCPUs: a reader and a writer pinned to each
# (the writers into the 16 MiB between the file system and the raw
# region, 8 MiB each); storvsc sends on the channel of the CPU it runs on.
stats_of() { harness ctl stats | tr ' ' '\n' | grep "\.storage\.packets_in="; }
before=$(stats_of)
echo "channels before: $before"
for c in 0 1; do
	taskset -c $c dd if=/tmp/data of=/dev/$dev bs=64k seek=$((2816 + c * 128)) count=128 conv=notrunc,fsync 2>/dev/null &
	taskset -c $c dd if=/dev/$dev of=/dev/null bs=64k skip=$((c * 1024)) count=1024 iflag=direct 2>/dev/null &
done
wait
after=$(stats_of)
echo "channels after: $after"
# Every channel (the primary and the sub-channel) served packets during
# the concurrent I/O.
nch=0
for l in $after; do
	k=${l%%=*}
	b=$(echo "$before" | sed -n "s/^$k=//p")
	[ "${l#*=}" -gt "${b:-0}" ] && nch=$((nch + 1))
done
[ "$nch" -ge 2 ] || fail "I/O from both vCPUs went over $nch channel(s), want 2: before $before, after $after"
echo 3 > /proc/sys/vm/drop_caches
for c in 0 1; do
	got=$(dd if=/dev/$dev bs=64k skip=$((2816 + c * 128)) count=128 2>/dev/null | sha256sum | cut -d' ' -f1)
	want=$(dd if=/tmp/data bs=64k count=128 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "concurrent write from CPU $c: sha256 $got, want $want"
done

# A second disk, hot-added at LUN 1: storvsc rescans on the host's
# ENUMERATE_BUS; used, then hot-removed idle.
p=$(harness make-disk hot 64)
case "$p" in ok\ *) p=${p#ok } ;; *) fail "no file for a second disk: $p" ;; esac
r=$(harness ctl disk-add $p,lun=1)
echo "$r" | grep -q "^ok" || fail "host disk-add failed: $r"
dev2=$(disk_of_lun 1 300) || fail "hot-added disk at LUN 1 did not appear in 30 s"
[ "$(cat /sys/block/$dev2/size)" = $((64 * 2048)) ] || fail "hot-added $dev2: $(cat /sys/block/$dev2/size) sectors, want $((64 * 2048))"
dd if=/tmp/data of=/dev/$dev2 bs=1M count=16 conv=notrunc,fsync 2>/dev/null || fail "write to hot-added $dev2 failed"
want=$(dd if=/tmp/data bs=1M count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
host=$(harness disk-sha256 hot 0 $((16 << 20)))
[ "$host" = "ok $want" ] || fail "the host's hot-added file: '$host', want 'ok $want'"
r=$(harness ctl disk-remove 0 1)
echo "$r" | grep -q "^ok" || fail "host disk-remove failed: $r"
i=0
while [ -e /sys/block/$dev2 ]; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "hot-removed $dev2 still there after 30 s"
	sleep 0.1
done

# Hot-added again, then removed under I/O: the reader gets an error.
r=$(harness ctl disk-add $p,lun=1)
echo "$r" | grep -q "^ok" || fail "host disk-add (second) failed: $r"
dev2=$(disk_of_lun 1 300) || fail "re-added disk at LUN 1 did not appear in 30 s"
( i=0; while [ $i -lt 2000 ]; do dd if=/dev/$dev2 of=/dev/null bs=64k count=1024 iflag=direct 2>/dev/null || exit 1; i=$((i + 1)); done; exit 0 ) &
io=$!
sleep 1
r=$(harness ctl disk-remove 0 1)
echo "$r" | grep -q "^ok" || fail "host disk-remove under I/O failed: $r"
wait $io && fail "reads of $dev2 went on without error after the host removed it"
i=0
while [ -e /sys/block/$dev2 ]; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "$dev2 removed under I/O still there after 30 s"
	sleep 0.1
done

# The SCSI device of LUN 1 goes too (storvsc's removal work holds a
# reference to the module until it has).
i=0
while ls /sys/bus/scsi/devices/ | grep -q ':1$'; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "SCSI device of LUN 1 still there 30 s after its removal"
	sleep 0.1
done

# hv_storvsc and rvmbus unload and load again; the disk comes back with
# its data. rmmod may still find the removal work's module reference
# (EAGAIN) for a moment: tried for up to 5 s.
i=0
until rmmod hv_storvsc 2>/tmp/err; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "rmmod hv_storvsc failed: $(cat /tmp/err)"
	sleep 0.1
done
[ -e /sys/block/$dev ] && fail "$dev still there after rmmod hv_storvsc"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
load_all
dev=$(disk_of_lun 0 300) || fail "no SCSI disk at LUN 0 after loading again"
got=$(dd if=/dev/$dev bs=1M skip=192 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$sum" ] || fail "raw region after reload: sha256 $got, want $sum"
mount -t ext2 /dev/$dev /mnt || fail "mount after reload failed"
got=$(sha256sum /mnt/data | cut -d' ' -f1)
umount /mnt
[ "$got" = "$sum" ] || fail "file after reload: sha256 $got, want $sum"
rmmod hv_storvsc || fail "second rmmod hv_storvsc failed"
rmmod rvmbus || fail "second rmmod rvmbus failed"
expect_no_kept_memory
pass "disk of $MIB MiB; 64 MiB raw and in ext2 verified (host file too); I/O over $nch channels; hot add/remove idle and under I/O; reload"
