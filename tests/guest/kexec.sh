# SPDX-License-Identifier: GPL-2.0
# kexec with channels open: the first kernel loads rvmbus, binds the
# heartbeat driver, opens the echo channel on CPU 1 and echoes through it,
# then kexecs into the same vmlinuz. On the way (kernel_kexec ->
# syscore_shutdown) rvmbus unloads by polling and says GOODBYE; the
# harness checks in the host's trace that UNLOAD came before the jump and
# that the host wrote nothing into guest memory after its answer. The
# second kernel (rvmbus.kexec=2) loads rvmbus again: it connects, gets all
# offers, binds the heartbeat, echoes, and unloads with every page freed.
SCEN=kexec
. /scenarios/lib.sh
if grep -q 'rvmbus\.kexec=2' /proc/cmdline; then
	insmod $MOD || fail "insmod in the second kernel failed"
	expect_dmesg "connected to the host: VMBus version"
	expect_dmesg "all offers delivered"
	insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat in the second kernel failed"
	wait_dmesg "heartbeat 10 answered" 100 || fail "no 10 heartbeats in the second kernel: $(dmesg | grep heartbeat | tail -2)"
	ctl open 4 1 >/dev/null || fail "open in the second kernel failed: $(dmesg | tail -3)"
	r=$(ctl echo 4 50 1500) || fail "echo in the second kernel failed"
	echo "$r" | grep -q "errors=0" || fail "echo errors in the second kernel: $r"
	rmmod rvmbus_heartbeat || fail "rmmod rvmbus_heartbeat failed"
	rmmod rvmbus || fail "rmmod in the second kernel failed"
	expect_dmesg "shared pages: [0-9]+ allocations, every one freed"
	pass "second kernel: connected, offers back, 10 heartbeats, 50 echoes on CPU 1, every page freed at rmmod"
fi
insmod $MOD || fail "insmod failed"
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
wait_dmesg "heartbeat 10 answered" 100 || fail "no 10 heartbeats: $(dmesg | grep heartbeat | tail -2)"
ctl open 4 1 >/dev/null || fail "open on CPU 1 failed: $(dmesg | tail -3)"
r=$(ctl echo 4 50 1500) || fail "echo failed"
echo "$r" | grep -q "errors=0" || fail "echo errors: $r"
kexec -l /kexec/vmlinuz --initrd=/kexec/initrd.cpio.gz \
	--append="$(cat /proc/cmdline) rvmbus.kexec=2" || fail "kexec -l failed"
echo "@@KEXEC loaded; jumping with the echo channel open and the heartbeat bound"
kexec -e
fail "kexec -e returned"
