# SPDX-License-Identifier: GPL-2.0
# rvmbus on 2 vCPUs: a SynIC on each CPU, the channel on CPU 1, CPU 1
# offline and online, rmmod with both SynICs read back; then kexec with the
# bus up into a kernel whose built-in C hv_vmbus must connect again.
. /nested/lib.sh
insmod /modules/msr.ko 2>/dev/null

if grep -q 'nested\.kexec=2' /proc/cmdline; then
	# The second kernel: no initcall_blacklist, so the built-in C hv_vmbus
	# must connect.
	second() {
		c_driver_back kexec
		pass "after kexec with rvmbus connected and a channel open on CPU 1, Linux's hv_vmbus connected again (VMBus 4.0) and found the balloon"
	}
	scenario hyperv-kexec second
	exit 0
fi

smp() {
	[ "$(cat /sys/devices/system/cpu/online)" = 0-1 ] || fail "CPUs online: $(cat /sys/devices/system/cpu/online)"
	up_on_cpu1
	synics_are on "after insmod"
	grep -q "^$relid:1$" $d/channel_vp_mapping || fail "channel_vp_mapping: $(cat $d/channel_vp_mapping)"
	# A 4.0 host cannot move a channel (MODIFY_CHANNEL is 4.1): CPU 1
	# must stay online while the channel is on it.
	e=$( (echo 0 > /sys/devices/system/cpu/cpu1/online) 2>&1) && fail "CPU 1 went offline with the channel on it"
	echo "$e" | grep -q "busy" || fail "offline with the channel on CPU 1: '$e', want EBUSY"
	expect_dmesg "CPU 1 stays online"
	[ "$(synic_state 1)" = on ] || fail "CPU 1's SynIC after the refused offline: $(synic_state 1)"
	ctl close $relid >/dev/null || fail "close failed"
	echo 0 > /sys/devices/system/cpu/cpu1/online || fail "CPU 1 did not go offline with no channel on it"
	wait_dmesg "CPU 1 offline: SynIC turned off" 10 || fail "no SynIC turned off for CPU 1"
	echo 1 > /sys/devices/system/cpu/cpu1/online || fail "CPU 1 did not come back"
	wait_dmesg "CPU 1 online: SynIC set up" 10 || fail "no SynIC set up for CPU 1"
	[ "$(synic_state 1)" = on ] || fail "CPU 1's SynIC after online: $(synic_state 1)"
	ctl open $relid 1 >/dev/null || fail "open on CPU 1 after online failed"
	ctl close $relid >/dev/null || fail "close failed"
	rmmod rvmbus || fail "rmmod failed"
	expect_dmesg "shared pages: [0-9]+ allocations, every one freed"
	synics_are off "after rmmod"
	hyp=$(awk '/HYP:/ { print $2 "+" $3 }' /proc/interrupts)
	pass "SynIC on both CPUs; channel opened on CPU 1; CPU 1 kept online (EBUSY) while the channel was on it on a 4.0 host, offline/online once closed; rmmod: both SynICs off, every page freed; HYP per CPU $hyp"
}

kexec_out() {
	up_on_cpu1
	kexec -l /kexec/vmlinuz --initrd=/kexec/initrd.cpio.gz \
		--append="$(sed 's/initcall_blacklist=[^ ]*//' /proc/cmdline) nested.kexec=2" ||
		fail "kexec -l failed"
	dmesg | grep -E "$(cat /nested/bad.re)" | sed 's/^/@@BAD /' > $OUT
	# rvmbus's kexec handler logs its way out after user space is gone:
	# on the console (L1 keeps L2's), which quiet would hide.
	echo 7 > /proc/sys/kernel/printk
	say "@@KEXEC jumping with rvmbus connected and a channel open on CPU 1"
	kexec -e
	fail "kexec -e returned"
}

scenario hyperv-smp smp
# On success the second kernel reports hyperv-kexec.
scenario hyperv-kexec kexec_out
