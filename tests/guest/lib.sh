# SPDX-License-Identifier: GPL-2.0
#
# Helpers for guest-side scenarios. A scenario reports exactly one result with
# pass or fail; the harness adds its own checks (host side, kernel log) and
# prints the final SCENARIO line.

MOD=/modules/rvmbus.ko
SCEN=${SCEN:-unknown}

pass() { echo "@@RESULT $SCEN PASS $*"; exit 0; }
fail() { echo "@@RESULT $SCEN FAIL $*"; dmesg | tail -30 | sed 's/^/@@DMESG /'; exit 1; }

# Asks the harness to do something on the host side and waits for its answer
# on the second serial port. Prints the answer.
harness() {
	# Open the port before asking, so that the answer cannot arrive first.
	exec 3< /dev/ttyS1
	echo "@@HARNESS $*" > /dev/console
	read -r reply <&3 || reply="no-answer"
	exec 3<&-
	echo "$reply"
}

# Fails unless the kernel log matches the extended regular expression $1.
expect_dmesg() {
	dmesg | grep -Eq "$1" || fail "kernel log lacks /$1/"
}

# Runs a command with a time limit in seconds; prints nothing, returns its
# status, 124 on timeout.
with_timeout() {
	t=$1; shift
	timeout "$t" "$@"
}

loaded() { grep -q "^rvmbus " /proc/modules; }

# Sum of the interrupt counts of the rvmbus MSI-X vectors on all CPUs.
rvmbus_irqs() {
	awk '/rvmbus/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i } END { print s + 0 }' /proc/interrupts
}

CTL=/sys/kernel/debug/rvmbus/ctl

# Runs one command of rvmbus's debugfs control file; prints its answer.
ctl() {
	echo "$*" > $CTL || return 1
	cat $CTL
}

# The device directory of the channel with relid $1.
dev_of_relid() {
	for d in /sys/bus/vmbus/devices/*; do
		[ "$(cat $d/id 2>/dev/null)" = "$1" ] && { echo $d; return 0; }
	done
	return 1
}

# Checks the device attributes of Linux's sysfs-bus-vmbus ABI on device $1,
# a closed channel (abi_check holds the whole tree against tests/abi).
check_device_attrs() {
	d=$1
	name=${d##*/}
	id=$(cat $d/id) || fail "$name: no id"
	echo "$id" | grep -Eq '^[0-9]+$' || fail "$name: id '$id'"
	cls=$(cat $d/class_id) || fail "$name: no class_id"
	echo "$cls" | grep -Eq '^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$' || fail "$name: class_id '$cls'"
	[ "$(cat $d/device_id)" = "{$name}" ] || fail "$name: device_id $(cat $d/device_id) is not the device name"
	grep -Eq '^vmbus:[0-9a-f]{32}$' $d/modalias || fail "$name: modalias $(cat $d/modalias)"
	# MODALIAS and nothing else (DRIVER only when bound): Linux's vmbus_uevent.
	[ "$(grep -v '^DRIVER=' $d/uevent)" = "MODALIAS=$(cat $d/modalias)" ] || fail "$name: uevent '$(cat $d/uevent)'"
	# CHANNEL_OPEN_STATE of enum vmbus_channel_state: offered and not open.
	[ "$(cat $d/state)" = 2 ] || fail "$name: state $(cat $d/state), want 2 (closed)"
	grep -Eq '^-?[0-9]+$' $d/numa_node || fail "$name: numa_node"
	grep -q "^$id:[0-9]*$" $d/channel_vp_mapping || fail "$name: channel_vp_mapping '$(cat $d/channel_vp_mapping)'"
	[ "$(cat $d/vendor)" = 0x1414 ] || fail "$name: vendor"
	grep -Eq '^0x[0-9a-f]+$' $d/device || fail "$name: device"
	[ -f $d/driver_override ] || fail "$name: no driver_override"
	# The monitor attributes are there all together or not at all (only
	# for a channel with a monitor id).
	c=$d/channels/$id
	[ -d $c ] || fail "$name: no channels/$id"
	n=0
	for a in $d/monitor_id $d/client_monitor_pending $d/server_monitor_pending $d/client_monitor_latency \
		$d/server_monitor_latency $d/client_monitor_conn_id $d/server_monitor_conn_id \
		$c/monitor_id $c/pending $c/latency; do
		[ -e $a ] || continue
		n=$((n + 1))
		grep -Eq '^-?[0-9]+$' $a || fail "$name: ${a#$d/} '$(cat $a)'"
	done
	[ $n = 0 ] || [ $n = 10 ] || fail "$name: $n of the 10 monitor attributes"
	[ $n = 0 ] || [ "$(cat $c/monitor_id)" = "$(cat $d/monitor_id)" ] || fail "$name: channel monitor_id"
	# Ring attributes fail while the channel is closed.
	cat $d/out_read_index >/dev/null 2>&1 && fail "$name: out_read_index readable while closed"
	for a in cpu events interrupts subchannel_id intr_in_full intr_out_empty out_full_first out_full_total; do
		grep -Eq '^[0-9]+$' $c/$a || fail "$name: channels/$id/$a"
	done
	[ "$(cat $c/subchannel_id)" = 0 ] || fail "$name: subchannel_id"
}

# The device directory of the first device of class $1 (a GUID, lower case).
dev_of_class() {
	for d in /sys/bus/vmbus/devices/*; do
		[ "$(cat $d/class_id 2>/dev/null)" = "{$1}" ] && { echo $d; return 0; }
	done
	return 1
}

HEARTBEAT=57164f39-9115-4e78-ab55-382f3bd5422d
SHUTDOWN=0e0b6031-5213-4934-818b-38d90ced39db
TIMESYNC=9527e630-d0ae-497b-adce-e80ab0175caf
ECHO=2e1c0f5a-8b1d-4a8e-9c3f-72766d627573

# For scenarios with userspace daemons, which log through syslog: keeps
# the log in /tmp/syslog, and has fail() show its tail and what the
# scenario's daemons_status() prints.
daemons_syslog() {
	syslogd -O /tmp/syslog
	fail() {
		sed 's/^/@@SYSLOG /' /tmp/syslog 2>/dev/null | tail -40
		daemons_status
		echo "@@RESULT $SCEN FAIL $*"
		dmesg | tail -30 | sed 's/^/@@DMESG /'
		exit 1
	}
}

# Loads the modules Linux's drivers need from Debian's cloud kernel
# (/modules/linux/deps/: the SCSI midlayer, its FC transport, the disk),
# those not loaded yet, in their order; the debug kernel builds SCSI in and
# has none.
load_linux_deps() {
	for d in /modules/linux/deps/*; do
		[ -f "$d" ] || continue
		name=${d##*/}; name=${name#*-}; name=${name%.ko}
		grep -q "^$name " /proc/modules && continue
		insmod $d || fail "insmod ${d##*/} failed"
	done
}

# The driver bound to device directory $1, or nothing.
driver_of() {
	[ -e $1/driver ] && basename $(readlink $1/driver)
}

# Waits up to $2 tenths of a second for the kernel log to match $1.
wait_dmesg() { (MARK=0; wait_new "$1" "$2"); }

# Checks the last echo run of the kernel log, one that a removal (unload or
# rescind) cut short: every request sent was completed or cancelled. Sets
# $sent, $done_ and $canc.
check_cut_short_run() {
	line=$(dmesg | grep "echo run:" | tail -1)
	echo "$line"
	echo "$line" | grep -q "lost=0" || fail "requests lost: $line"
	echo "$line" | grep -q "mismatched=0" || fail "mismatch: $line"
	sent=$(echo "$line" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
	done_=$(echo "$line" | sed -n 's/.*completed=\([0-9]*\).*/\1/p')
	canc=$(echo "$line" | sed -n 's/.*cancelled=\([0-9]*\).*/\1/p')
	[ "$sent" -gt 0 ] && [ "$sent" -lt 1000000 ] || fail "run was not cut short: $line"
	[ $((done_ + canc)) = "$sent" ] || fail "sent $sent != completed $done_ + cancelled $canc"
}

# Waits up to $2 seconds until the host says IC service $1 (heartbeat,
# shutdown, timesync) has negotiated: the guest logs its choice before the
# host has read the answer.
wait_host_negotiated() {
	i=0
	until harness ctl stats | tr ' ' '\n' | grep -q "^dev\.[0-9]*\.$1\.negotiated=1$"; do
		i=$((i + 1)); [ $i -gt $(($2 * 5)) ] && return 1
		sleep 0.2
	done
}

# The host's counter vmbus.$1 (see `vmbus-host ctl stats`).
host_stat() {
	harness ctl stats | tr ' ' '\n' | sed -n "s/^vmbus\.$1=//p"
}

# Asks the host to offer a new device of type $1; prints its relid.
host_offer() {
	r=$(harness ctl offer $1)
	case "$r" in ok*) ;; *) fail "host could not offer $1: $r" ;; esac
	echo "$r" | sed -n 's/.*relid \([0-9]*\).*/\1/p'
}

# Waits up to 10 s for device $1 (a relid) to be bound to a driver.
wait_bound() {
	i=0
	until d=$(dev_of_relid $1) && [ -e $d/driver ]; do
		i=$((i + 1)); [ $i -gt 100 ] && return 1
		sleep 0.1
	done
}

# Waits up to 5 s until no device has relid $1.
wait_gone() {
	i=0
	while dev_of_relid $1 >/dev/null; do
		i=$((i + 1)); [ $i -gt 50 ] && return 1
		sleep 0.1
	done
}

# Fails unless the kernel log matches $1 exactly $2 times.
expect_dmesg_count() {
	n=$(dmesg | grep -Ec "$1")
	[ "$n" = "$2" ] || fail "kernel log has /$1/ $n times, want $2"
}

# Fails if rvmbus ever kept memory because the host did not give it back.
expect_no_kept_memory() {
	dmesg | grep -q "keeping .* KiB of memory the host may still use" &&
		fail "memory kept: $(dmesg | grep 'keeping .* KiB' | head -1)"
	return 0
}

# Marks the kernel log's end (the time stamp of its last line; counting
# lines would go wrong once the log buffer wraps): wait_new and count_new
# look only at lines logged after it.
mark() {
	MARK=$(dmesg | tail -1 | sed -n 's/^\[ *\([0-9]*\.[0-9]*\)\].*/\1/p')
	MARK=${MARK:-0}
}

# The kernel log's lines after the mark.
new_lines() {
	dmesg | awk -v m="$MARK" '{ t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t); if (t + 0 > m + 0) print }'
}

# Like wait_dmesg, for lines logged after the mark.
wait_new() {
	i=0
	until new_lines | grep -Eq "$1"; do
		i=$((i + 1)); [ $i -gt $2 ] && return 1
		sleep 0.1
	done
}

# How many lines logged after the mark match $1.
count_new() { new_lines | grep -Ec "$1"; }

# Runs $1 echo requests of 500 bytes through rvmbus_echo's debugfs file and
# fails unless every one completed unchanged ($2 says when, for the log).
echo_run_ok() {
	echo "$1 500" > /sys/kernel/debug/rvmbus_echo/run || fail "echo run failed ($2)"
	grep -q "sent=$1 completed=$1 cancelled=0 mismatched=0 failed=0 lost=0" /sys/kernel/debug/rvmbus_echo/run ||
		fail "echo run ($2): $(cat /sys/kernel/debug/rvmbus_echo/run)"
}

# The last heartbeat the heartbeat driver logged (it logs the first and
# every tenth); 0 before any.
last_beat() {
	dmesg | sed -n 's/.*heartbeat \([0-9]*\) answered.*/\1/p' | tail -1 | grep . || echo 0
}

# Heartbeats go on: waits up to $1 tenths of a second for the next logged
# one after the last (sets $beat to that last).
heartbeats_go_on() {
	beat=$(last_beat)
	wait_dmesg "heartbeat $(( (beat / 10 + 1) * 10 )) answered" $1
}

# The ivshmem PCI device (1af4:1110) that carries the host, e.g. 0000:00:03.0.
ivshmem_pcidev() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1110 ] && { basename $d; return 0; }
	done
	return 1
}

# Holds /sys/bus/vmbus against Linux's sysfs ABI as tests/abi describes it,
# file by file in both directions, and runs Linux's own tools/hv/lsvmbus
# on the same tree, which must name every device with its relid, class
# and channels. The facts come from the host's channel list and from
# /sys/power/disk (ACPI S4: "platform") and from the platform devices'
# power/ (CONFIG_PM_ADVANCED_DEBUG adds runtime_usage to every device's);
# $@ says which drivers are loaded
# and bound (--driver NAME, --bound RELID=NAME). Needs
# the Python overlay of the initramfs (Scenario.python in run.py).
abi_check() {
	[ -x /usr/bin/python3 ] || fail "no Python in the initramfs (the scenario needs python=True)"
	list=$(harness ctl list)
	case "$list" in ok*) ;; *) fail "host list: $list" ;; esac
	/usr/bin/python3 /abi/lsvmbus -vv > /tmp/lsvmbus.out 2>&1 || fail "lsvmbus failed: $(head -3 /tmp/lsvmbus.out)"
	sed 's/^/@@LSVMBUS /' /tmp/lsvmbus.out
	/usr/bin/python3 /abi/check_sysfs.py --abi /abi/sysfs-bus-vmbus.txt --root /sys/bus/vmbus \
		--host-list "$list" --lsvmbus-output /tmp/lsvmbus.out "$@" \
		--hibernation $(grep -q platform /sys/power/disk 2>/dev/null && echo 1 || echo 0) \
		--pm-advanced-debug $(ls /sys/devices/platform/*/power/runtime_usage >/dev/null 2>&1 && echo 1 || echo 0) \
		> /tmp/abi.out 2>&1
	rc=$?
	sed 's/^/@@ABI /' /tmp/abi.out
	[ $rc = 0 ] || fail "sysfs differs from Linux's ABI: $(tail -1 /tmp/abi.out); first: $(head -1 /tmp/abi.out)"
	abi_summary=$(tail -1 /tmp/abi.out)
}
