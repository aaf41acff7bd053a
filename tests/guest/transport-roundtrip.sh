# SPDX-License-Identifier: GPL-2.0
# The transport round trip: the guest posts PING requests through the
# mailbox, the host complements a page of guest RAM by its guest physical
# address and interrupts the guest on each MSI-X vector.
SCEN=transport-roundtrip
. /scenarios/lib.sh
before=$(rvmbus_irqs)
insmod $MOD || fail "insmod failed"
expect_dmesg 'rvmbus ivshmem transport ready: host layout 2\.[0-9]+, [0-9]+ MSI-X vectors, [0-9]+ mailboxes, round trip ok'
nvec=$(dmesg | sed -n 's/.*transport ready: host layout [0-9.]*, \([0-9]*\) MSI-X vectors.*/\1/p' | tail -1)
after=$(rvmbus_irqs)
lines=$(grep -c rvmbus /proc/interrupts)
[ "$lines" -ge 1 ] || fail "no rvmbus lines in /proc/interrupts"
[ $((after - before)) -ge "$nvec" ] || fail "expected >= $nvec interrupts, /proc/interrupts counted $((after - before))"
us=$(dmesg | sed -n 's/.*round trip ok (slowest \([0-9]*\) us).*/\1/p' | tail -1)
rmmod rvmbus || fail "rmmod failed"
pass "$nvec vectors, $((after - before)) interrupts counted, slowest round trip ${us} us"
