# SPDX-License-Identifier: GPL-2.0
# A crash with rvmbus connected over Hyper-V, on 2 vCPUs, with a kdump
# kernel loaded: the kernel's crash path (__crash_kexec, then
# hv_machine_crash_shutdown) calls rvmbus's crash handler, which must
# unload the connection by polling and turn off the crashing CPU's SynIC
# before the kdump kernel starts. The kdump kernel's built-in C hv_vmbus
# must then connect again. L0 checks the handler's line on L2's console
# (run.py, WAY_OUT).
. /nested/lib.sh
insmod /modules/msr.ko 2>/dev/null

if grep -q 'nested\.crash=2' /proc/cmdline; then
	# The kdump kernel: no initcall_blacklist, so the built-in C hv_vmbus
	# must connect.
	second() {
		c_driver_back "the crash"
		pass "after a crash with rvmbus connected and a channel open on CPU 1, the kdump kernel's hv_vmbus connected again (VMBus 4.0) and found the balloon"
	}
	scenario hyperv-crash second
	exit 0
fi

crash_out() {
	grep -q 'crashkernel=' /proc/cmdline || fail "no crashkernel= on the command line"
	up_on_cpu1
	kexec -p /kexec/vmlinuz --initrd=/kexec/initrd.cpio.gz \
		--append="$(sed 's/initcall_blacklist=[^ ]*//; s/crashkernel=[^ ]*//' /proc/cmdline) nested.crash=2 nr_cpus=1 reset_devices" ||
		fail "kexec -p failed: $(dmesg | grep -i -E 'crash|kexec' | tail -4)"
	[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || fail "no kdump kernel loaded"
	dmesg | grep -E "$(cat /nested/bad.re)" | sed 's/^/@@BAD /' > $OUT
	# The crash handler logs its way out on the console (L1 keeps L2's),
	# which quiet would hide.
	echo 7 > /proc/sys/kernel/printk
	say "@@CRASH crashing with rvmbus connected and a channel open on CPU 1"
	echo c > /proc/sysrq-trigger
	fail "the kernel did not crash"
}

# On success the kdump kernel reports hyperv-crash.
scenario hyperv-crash crash_out
