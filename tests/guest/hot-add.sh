# SPDX-License-Identifier: GPL-2.0
# An offer made after boot (hot add) becomes a device on the bus at once;
# a rescinded one disappears and its relid is released.
SCEN=hot-add
. /scenarios/lib.sh
insmod $MOD || fail "insmod failed"
r=$(harness ctl offer echo)
case "$r" in ok*) ;; *) fail "host could not offer: $r" ;; esac
i=0
while [ $(ls /sys/bus/vmbus/devices | wc -l) -lt 5 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "hot-added offer did not appear in /sys/bus/vmbus/devices"
	sleep 0.1
done
d=$(dev_of_relid 5) || fail "no device with relid 5"
check_device_attrs $d
r=$(harness ctl rescind 5)
case "$r" in ok*) ;; *) fail "host could not rescind: $r" ;; esac
i=0
while dev_of_relid 5 >/dev/null; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "rescinded device still on the bus"
	sleep 0.1
done
expect_dmesg "relid 5 released"
rmmod rvmbus || fail "rmmod failed"
pass "hot-added echo device appeared as relid 5 with its attributes; rescind removed it"
