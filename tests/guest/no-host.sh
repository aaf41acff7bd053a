# SPDX-License-Identifier: GPL-2.0
# No Hyper-V and no ivshmem device: insmod fails with a clear message and
# leaves nothing behind.
SCEN=no-host
. /scenarios/lib.sh
lspci_n=$(cat /sys/bus/pci/devices/*/vendor /sys/bus/pci/devices/*/device 2>/dev/null | tr '\n' ' ')
echo "$lspci_n" | grep -q 0x1110 && fail "an ivshmem device is present; this scenario needs none"
out=$(insmod $MOD 2>&1) && fail "insmod succeeded without a host"
echo "$out" | grep -qi 'no such device' || fail "insmod error was not ENODEV: $out"
expect_dmesg 'rvmbus: no VMBus host found'
loaded && fail "rvmbus left in /proc/modules"
[ -e /sys/bus/pci/drivers/rvmbus ] && fail "PCI driver left registered"
[ -e /sys/module/rvmbus ] && fail "/sys/module/rvmbus left behind"
out2=$(insmod $MOD transport=hyperv 2>&1) && fail "transport=hyperv loaded on a non-Hyper-V guest"
expect_dmesg 'transport=hyperv, but this guest does not run on Hyper-V'
loaded && fail "rvmbus left loaded after transport=hyperv"
pass "insmod refused with ENODEV and a clear message (auto and transport=hyperv); nothing left behind"
