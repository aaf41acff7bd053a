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
	pass "Linux's hv_vmbus connected (VMBus 4.0); balloon device ${d##*/}"
}
scenario hyperv-c-reference reference
