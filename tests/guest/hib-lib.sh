# SPDX-License-Identifier: GPL-2.0
# Helpers of the hibernation scenarios (sourced after lib.sh).

RUN=/sys/kernel/debug/rvmbus_echo/run

# Loads virtio_blk (a module on Debian's kernel, built into the debug
# kernel) and waits for /dev/vda.
disk_up() {
	[ -e /modules/virtio_blk.ko ] && ! grep -q "^virtio_blk " /proc/modules &&
		{ insmod /modules/virtio_blk.ko || fail "insmod virtio_blk failed"; }
	i=0
	until [ -b /dev/vda ]; do
		i=$((i + 1)); [ $i -gt 100 ] && fail "no /dev/vda"
		sleep 0.1
	done
}

# /dev/vda as swap and as the hibernation image device.
swap_up() {
	disk_up
	mkswap /dev/vda >/dev/null || fail "mkswap failed"
	swapon /dev/vda || fail "swapon failed"
	cat /sys/block/vda/dev > /sys/power/resume || fail "cannot set /sys/power/resume"
}

# The bus, the echo and heartbeat drivers, heartbeats and 100 echo requests.
drivers_up() {
	insmod $MOD || fail "insmod rvmbus failed"
	insmod /modules/rvmbus_echo.ko || fail "insmod rvmbus_echo failed"
	insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
	wait_dmesg "heartbeat 1 answered" 100 || fail "no heartbeat before hibernation"
	echo_run "before hibernation"
}

# 100 echo requests of 1000 bytes; $1 says when.
echo_run() {
	echo "100 1000" > $RUN || fail "echo run $1 failed: $(dmesg | tail -5)"
	r=$(cat $RUN); echo "$r"
	echo "$r" | grep -q "sent=100 completed=100 cancelled=0 mismatched=0 failed=0 lost=0" ||
		fail "echo run $1: $r"
}

# "NAME RELID" per vmbus device, sorted by name.
devices() {
	for d in /sys/bus/vmbus/devices/*; do
		echo "${d##*/} $(cat $d/id)"
	done | sort
}


# Every channel of every device is open again (state 3).
all_open() {
	for d in /sys/bus/vmbus/devices/*; do
		[ -e $d/driver ] || continue
		[ "$(cat $d/state)" = 3 ] || fail "${d##*/} state $(cat $d/state) after resume, want 3 (open)"
	done
}

# Unloads everything; the kernel log must show no kept (leaked) memory.
unload_all() {
	rmmod rvmbus_heartbeat && rmmod rvmbus_echo && rmmod rvmbus || fail "unload after resume failed"
	dmesg | grep -q "keeping .* KiB of memory the host may still use" &&
		fail "ring memory kept: $(dmesg | grep 'keeping .* KiB' | head -3)"
	expect_dmesg "unloaded: [0-9]+ channels removed, host released all memory"
}
