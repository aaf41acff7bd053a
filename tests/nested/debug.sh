# SPDX-License-Identifier: GPL-2.0
# The debug kernel (KASAN, lockdep with PROVE_RCU; scripts/debug-kernel.config)
# as L2, on 2 vCPUs, with rvmbus.ko built for it: the hyperv transport's
# interrupt handler, SynIC set-up and tear-down, CPU hotplug and unload run
# under the debug kernel's checks, which the ivshmem scenarios cannot
# reach. The kernel's own hv_balloon (a module of that kernel, which loads
# against rvmbus.ko's hv_vmbus names) binds last. A KASAN, lockdep or RCU
# report anywhere in the boot fails it (l2-init's @@BAD lines); lockdep must
# still be on at the end.
. /nested/lib.sh

debug() {
	dmesg | grep -q "KernelAddressSanitizer initialized" || fail "not the debug kernel: no KASAN"
	[ -f /proc/lockdep_stats ] || fail "not the debug kernel: no /proc/lockdep_stats"
	up_on_cpu1
	synics_are on "after insmod"
	# UNLOAD with the channel open, every page back, then connect again.
	rmmod rvmbus || fail "rmmod with the channel open failed"
	expect_dmesg "the host answered UNLOAD in [0-9]+ ms"
	expect_dmesg "shared pages: [0-9]+ allocations, every one freed"
	synics_are off "after rmmod"
	insmod $MOD || fail "insmod again failed"
	expect_dmesg "all offers delivered: 1 channels"
	# CPU 1 out and back with the bus up: its SynIC off and on again.
	echo 0 > /sys/devices/system/cpu/cpu1/online || fail "CPU 1 did not go offline"
	wait_dmesg "CPU 1 offline: SynIC turned off" 20 || fail "no SynIC turned off for CPU 1"
	echo 1 > /sys/devices/system/cpu/cpu1/online || fail "CPU 1 did not come back"
	wait_dmesg "CPU 1 online: SynIC set up" 20 || fail "no SynIC set up for CPU 1"
	d=$(balloon_dev) || fail "no balloon device after insmod"
	insmod /modules/hv_balloon.ko || fail "insmod of the kernel's own hv_balloon failed"
	wait_dmesg "Using Dynamic Memory protocol version 2\.0" 60 || fail "hv_balloon did not negotiate"
	[ "$(readlink $d/driver | sed 's#.*/##')" = hv_balloon ] || fail "hv_balloon not bound to ${d##*/}"
	hyp=$(awk '/HYP:/ { print $2 "+" $3 }' /proc/interrupts)
	grep -q "debug_locks: *1" /proc/lockdep_stats || fail "lockdep turned itself off: $(grep debug_locks /proc/lockdep_stats)"
	pass "debug kernel (KASAN, lockdep, PROVE_RCU) on 2 vCPUs: rvmbus connected over hyperv, channel opened on CPU 1, rmmod with it open (UNLOAD answered, every page freed, both SynICs off), insmod again, CPU 1 offline/online (SynIC off and set up), the kernel's own hv_balloon bound (Dynamic Memory 2.0); HYP per CPU $hyp; lockdep still on"
}

scenario hyperv-debug debug
