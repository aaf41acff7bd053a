# SPDX-License-Identifier: GPL-2.0
# Shared body of the bus-<profile> scenarios: rvmbus connects to a host of
# the given profile, shows the negotiated version and connection id, and
# every offered device appears on the vmbus bus with the sysfs attributes of
# Linux's ABI. Sourced with $VERSION and $CONNID set; with ABI=1 (bus-azure)
# it also holds the whole tree against Linux's ABI (abi_check) in a busy
# situation: a driver bound, a channel open with sub-channels, a channel
# without a monitor id; drivers take new ids (new_id, remove_id); and the
# monitor files read the monitor pages.
. /scenarios/lib.sh
# With ABI=1 an echo request waits while the test holds the host's polling:
# give it 10 s instead of the default 2 s, so a slow machine does not fail
# it.
insmod $MOD ${ABI:+timeout_ms=10000} || fail "insmod failed"
expect_dmesg "connected to the host: VMBus version $VERSION, message connection id $CONNID,"
expect_dmesg "all offers delivered: 4 channels"
[ -d /sys/bus/vmbus ] || fail "no /sys/bus/vmbus"
n=$(ls /sys/bus/vmbus/devices | wc -l)
[ "$n" = 4 ] || fail "$n devices on the vmbus bus, want 4"
for d in /sys/bus/vmbus/devices/*; do
	check_device_attrs $d
	# NO_MONITOR=1: the host offers no monitor id (QEMU), so no device
	# shows monitor files.
	if [ "${NO_MONITOR:-0}" = 1 ] && [ -e $d/monitor_id ]; then
		fail "${d##*/} shows monitor_id $(cat $d/monitor_id) from a host that offers none"
	fi
done
for want in "1 57164f39-9115-4e78-ab55-382f3bd5422d" "2 0e0b6031-5213-4934-818b-38d90ced39db" \
	"3 9527e630-d0ae-497b-adce-e80ab0175caf" "4 2e1c0f5a-8b1d-4a8e-9c3f-72766d627573"; do
	set -- $want
	d=$(dev_of_relid $1) || fail "no device with relid $1"
	[ "$(cat $d/class_id)" = "{$2}" ] || fail "relid $1: class $(cat $d/class_id), want {$2}"
done
status=$(ctl status) || fail "control file: status failed"
echo "$status" | grep -q "connected version=$VERSION msg_conn_id=$CONNID" || fail "status: $status"
channels=4
if [ "${ABI:-0}" = 1 ]; then
	. /scenarios/bus-abi.sh
fi
rmmod rvmbus || fail "rmmod failed"
[ -d /sys/bus/vmbus ] && fail "/sys/bus/vmbus left behind after rmmod"
expect_dmesg "unloaded: $channels channels removed, host released all memory"
pass "version $VERSION, connection id $CONNID, 4 devices with their sysfs attributes, unload answered${abi_summary:+; $abi_summary}${abi_more:+; $abi_more}${PASS_MORE:-}"
