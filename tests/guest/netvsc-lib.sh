# SPDX-License-Identifier: GPL-2.0
# Helpers of the hv_netvsc scenarios (netvsc-nic, netvsc-rescind): the
# host's network adapter runs in the harness's namespace (run.py, NetNs)
# with TAP rvnet0 at 10.99.0.1/24 and tests/harness/netns_server.py on port
# 7777; the host gives the MAC below (run.py: mac=00:15:5d:42:00:07).
NET=/modules/linux/hv_netvsc.ko
NETCLASS=f8615163-df3e-46c5-913f-f2d2f965ed0e
MAC=00:15:5d:42:00:07
PEER=10.99.0.1
ME=10.99.0.2
PORT=7777

now() { cut -d' ' -f1 /proc/uptime; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Prints the state of eth0's channels for a failure's report: per channel
# the target CPU, the inbound ring's interrupt mask and bytes to read, the
# outbound's mask and free bytes, the event and interrupt counts.
nic_state() {
	for c in /sys/class/net/eth0/device/channels/*; do
		[ -d "$c" ] || continue
		echo "netvsc state: channel ${c##*/} cpu $(cat $c/cpu) in_mask $(cat $c/in_mask)" \
			"read_avail $(cat $c/read_avail) out_mask $(cat $c/out_mask)" \
			"write_avail $(cat $c/write_avail) events $(cat $c/events)" \
			"interrupts $(cat $c/interrupts) intr_in_full $(cat $c/intr_in_full)"
	done
	grep rvmbus /proc/interrupts | sed 's/^/netvsc state: /'
}

# With NIC_TRACE set on the kernel command line (run.py --append
# NIC_TRACE=1), records NAPI polls, rvmbus's interrupts and channel events
# and the network and tasklet softirqs, for nic_stalled to print.
nic_trace_on() {
	[ -n "$NIC_TRACE" ] || return 0
	mount -t tracefs nodev /sys/kernel/tracing 2> /dev/null
	echo 16384 > /sys/kernel/tracing/buffer_size_kb
	for e in napi/napi_poll rvmbus/rvmbus_on_event irq/irq_handler_entry irq/softirq_raise; do
		echo 1 > /sys/kernel/tracing/events/$e/enable
	done
	echo 'vec == 3 || vec == 6' > /sys/kernel/tracing/events/irq/softirq_raise/filter
	echo 'name == "rvmbus"' > /sys/kernel/tracing/events/irq/irq_handler_entry/filter
}

# The report of a transfer or a link change that never completed: the
# channels' state, whether the network softirq still runs, the trace if
# NIC_TRACE is set; then the host signals each channel with unread bytes
# once more and the state is printed again. A channel that drains only
# then lost a wake-up (Documentation/testing.rst, TCG threading).
nic_stalled() {
	nic_state
	grep -E "CPU|NET_RX|TASKLET" /proc/softirqs | sed 's/^/netvsc state: /'
	sleep 1
	grep -E "NET_RX|TASKLET" /proc/softirqs | sed 's/^/netvsc state: 1 s later: /'
	if [ -n "$NIC_TRACE" ]; then
		echo 0 > /sys/kernel/tracing/tracing_on
		tail -400 /sys/kernel/tracing/trace | sed 's/^/netvsc trace: /'
	fi
	for c in /sys/class/net/eth0/device/channels/*; do
		[ "$(cat $c/read_avail)" = 0 ] && continue
		r=$(harness ctl event $(cat $c/cpu) 2 ${c##*/})
		echo "netvsc state: the host signalled channel ${c##*/} again: $r"
	done
	sleep 2
	nic_state
}

# Waits up to $2 seconds for eth0 to exist; prints its name or fails.
wait_eth() {
	i=0
	while [ ! -e /sys/class/net/eth0 ]; do
		i=$((i + 1)); [ $i -gt $(($1 * 10)) ] && fail "no eth0 within $1 s of insmod hv_netvsc ($2)"
		sleep 0.1
	done
}

# Waits up to $1 seconds for eth0's carrier to be $2.
wait_carrier() {
	i=0
	until [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = "$2" ]; do
		i=$((i + 1)); [ $i -gt $(($1 * 10)) ] && return 1
		sleep 0.1
	done
}

# insmod hv_netvsc, which probes the adapter before it returns; a probe
# that hangs (netvsc waits for its sub-channels without a time limit) fails
# the scenario after 120 s instead of at the boot's timeout ($1: which load).
load_netvsc() {
	insmod $NET &
	p=$!
	i=0
	while [ -d /proc/$p ]; do
		i=$((i + 1)); [ $i -gt 1200 ] && fail "insmod hv_netvsc has not returned after 120 s ($1)"
		sleep 0.1
	done
	wait $p || fail "insmod hv_netvsc failed ($1)"
}

# eth0 has the host's MAC, comes up with carrier, takes the address, and
# reaches the namespace ($1: which round).
bring_up() {
	wait_eth 60 "$1"
	[ "$(cat /sys/class/net/eth0/address)" = "$MAC" ] ||
		fail "eth0 has MAC $(cat /sys/class/net/eth0/address), the host gave $MAC ($1)"
	d=$(driver_of /sys/class/net/eth0/device 2>/dev/null)
	[ "$d" = hv_netvsc ] || fail "eth0's driver is '$d', not hv_netvsc ($1)"
	ip link set eth0 up || fail "ip link set eth0 up failed ($1)"
	wait_carrier 30 1 || fail "eth0 has no carrier 30 s after link up ($1)"
	ip addr add $ME/24 dev eth0 || fail "ip addr add failed ($1)"
	ping -c 3 -W 5 $PEER > /tmp/ping.out 2>&1 ||
		fail "ping $PEER failed ($1): $(tail -2 /tmp/ping.out | tr '\n' ' ')"
	r=$(harness ns-ping $ME)
	case "$r" in ok*) ;; *) fail "ping from the namespace to $ME failed ($1): $r" ;; esac
}

# rmmod hv_netvsc: eth0 goes, and the host holds none of the guest's
# pages any more (rings, receive and send buffers: every GPADL torn down).
unload_netvsc() {
	rmmod hv_netvsc || fail "rmmod hv_netvsc failed ($1)"
	[ -e /sys/class/net/eth0 ] && fail "eth0 still there after rmmod hv_netvsc ($1)"
	i=0
	until [ "$(host_stat gpadls)" = 0 ] && [ "$(host_stat gpadls_pending)" = 0 ]; do
		i=$((i + 1)); [ $i -gt 50 ] &&
			fail "the host still holds $(host_stat gpadls) GPADLs ($(host_stat gpadls_pending) pending) after rmmod hv_netvsc ($1)"
		sleep 0.2
	done
}

# Waits up to 30 s for the host to offer the network adapter; sets DEV and
# RELID.
wait_adapter() {
	i=0
	until dev_of_class $NETCLASS > /dev/null; do
		i=$((i + 1)); [ $i -gt 300 ] && fail "the host's network adapter was not offered ($1)"
		sleep 0.1
	done
	DEV=$(dev_of_class $NETCLASS)
	RELID=$(cat $DEV/id)
}

# insmod rvmbus, then hv_netvsc once the adapter is offered, and eth0 up
# with its address, pinging both ways (sets DEV and RELID).
nic_up() {
	insmod $MOD || fail "insmod rvmbus failed"
	wait_adapter "first offer"
	load_netvsc "first load"
	bring_up "first load"
}
