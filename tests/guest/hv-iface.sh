# SPDX-License-Identifier: GPL-2.0
# The hv_vmbus interface functions that the host's echo device can
# exercise, through the test driver tests/hv_iftest (its probe runs every
# step and logs each): the request-id table (ids the host never had are
# refused), the ring fields of the channel read through <linux/hyperv.h>,
# an in-band and a GPA-direct packet (vmbus_sendpacket_mpb_desc) with
# completions matched back by request id and read by packet iteration,
# and a driver GPADL made and torn down. Then the driver and rvmbus
# unload with nothing kept.
SCEN=hv-iface
. /scenarios/lib.sh
T=/modules/hv_iftest.ko
[ -f $T ] || fail "no $T in the initramfs (make modules builds it)"
insmod $MOD || fail "insmod rvmbus failed"
dev=$(dev_of_class $ECHO) || fail "no echo device"
insmod $T || fail "insmod hv_iftest failed"
[ "$(driver_of $dev)" = hv_iftest ] || fail "echo bound to '$(driver_of $dev)', not hv_iftest"
wait_dmesg "hv_iftest: (all ok|FAIL)" 100 || fail "hv_iftest did not finish"
dmesg | grep "hv_iftest:"
dmesg | grep -q "hv_iftest: FAIL" && fail "$(dmesg | grep 'hv_iftest: FAIL' | head -1)"
dmesg | grep -q "hv_iftest: all ok (3 completions, 0 bad ids, 0 callbacks without rings)" || fail "unexpected completions"
rmmod hv_iftest || fail "rmmod hv_iftest failed"
rmmod rvmbus || fail "rmmod rvmbus failed"
expect_no_kept_memory
pass "request ids, ring fields, in-band and GPA-direct packets by iteration, driver GPADL"
