# SPDX-License-Identifier: GPL-2.0
# The reference boot: the same L2 with the kernel's built-in C hv_vmbus
# (no initcall_blacklist). Its bus tree and lsvmbus -vv go to L0, which
# compares rvmbus's with them (tests/nested/run.py, hyperv-sysfs).
. /nested/lib.sh

reference() {
	vmbus_devices 30 >/dev/null || fail "no device on the bus within 30 s"
	expect_dmesg "Vmbus version:4\.0"
	d=$(balloon_dev) || fail "no balloon device (class $BALLOON_CLASS)"
	dump_bus c
	# Debian's own hv_balloon (built for the C driver) bound: the tree of
	# an open channel with a driver, for hyperv-sysfs-bound.
	insmod /modules/hv_balloon-c.ko || fail "insmod Debian's hv_balloon failed"
	wait_dmesg "Using Dynamic Memory protocol version 2\.0" 20 || fail "Debian's hv_balloon did not negotiate"
	NOLS=1 dump_bus c-bound
	pass "Linux's hv_vmbus connected (VMBus 4.0); balloon device ${d##*/}; Debian's hv_balloon bound"
}
scenario hyperv-c-reference reference
