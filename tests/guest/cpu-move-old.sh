# SPDX-License-Identifier: GPL-2.0
# On a host older than VMBus 4.1 (here 4.0, as QEMU's vmbus-bridge) there is
# no MODIFY_CHANNEL: writing channels/<relid>/cpu fails with EOPNOTSUPP and
# a message naming the version, and nothing reaches the host.
SCEN=cpu-move-old
. /scenarios/lib.sh
insmod $MOD || fail "insmod failed"
expect_dmesg "connected to the host: VMBus version 4\.0,"
d=$(dev_of_relid 4) || fail "no echo device (relid 4)"
c=$d/channels/4
ctl open 4 0 >/dev/null || fail "open failed: $(dmesg | tail -3)"
e=$( (echo 1 > $c/cpu) 2>&1 ) && fail "the move was accepted by a 4.0 host"
echo "$e" | grep -q "not supported" || fail "write: '$e', want EOPNOTSUPP"
expect_dmesg "channel 4: cannot move its interrupts: the host negotiated VMBus 4\.0, moves need 4\.1 or later"
[ "$(cat $c/cpu)" = 0 ] || fail "cpu is $(cat $c/cpu) after the refused move"
r=$(ctl echo 4 20 256) || fail "echo failed after the refused move"
echo "$r" | grep -q "errors=0" || fail "echo: $r"
ctl close 4 >/dev/null || fail "close failed"
rmmod rvmbus || fail "rmmod failed"
pass "EOPNOTSUPP on VMBus 4.0 with the reason in the kernel log; cpu unchanged; echo intact"
