# SPDX-License-Identifier: GPL-2.0
# A benchmark (make bench), not a test: Linux's hv_storvsc and hv_netvsc
# on rvmbus against QEMU's virtio-blk and virtio-net in the same boot.
#
# Disks: the host's 256 MiB disk (/dev/sd*, a file read and written by
# vmbus-host) and QEMU's (/dev/vda, a file read and written by QEMU), both
# with O_DIRECT from dd: 64 MiB written and read in 1 MiB blocks, 4 MiB
# read in 4 KiB blocks; then 1024 random 4 KiB reads and writes, one at a
# time (randio). Network: hv_netvsc's eth (the host's adapter on
# TAP rvnet0, 10.99.0.0/24) and virtio-net's (QEMU's TAP rvnet1,
# 10.98.0.0/24), both in the harness's namespace, to the same server:
# NIC_MB MiB up and down over TCP with an MD5 check, and 50 adaptive pings
# (round-trip time). For the disks, the requests each completed
# (/sys/block/*/stat) and the interrupts per request, and for hv_storvsc
# the host's and the guest's signals per request. Each measurement runs
# BENCH_REPS times (3), the two
# devices in turn; every run prints one @@BENCH line, and
# scripts/bench-guest.py takes the medians and the ratios. For the
# networks, the guest's interrupts per packet (the device's lines in
# /proc/interrupts against the interface's packet counters) and, for
# hv_netvsc, the host's signals per packet and the guest's (HvSignalEvent
# and monitor-page triggers). For hv_storvsc, where each request's time
# goes: the host's storage profile (vmbus-host's prof.rs) and rvmbus's hop
# timers; and the same disk runs again with the host's disk I/O through a
# host buffer (storvsc-copy) instead of straight to guest RAM.
# bench-virtio-event runs the same with the
# host's channels offered without monitor ids (vmbus-host --no-monitor):
# the guest signals by HvSignalEvent, which the host sees at once, where
# it polls the monitor page each millisecond.
SCEN=$(sed -n 's/.*rvmbus\.scenario=\([^ ]*\).*/\1/p' /proc/cmdline)
. /scenarios/lib.sh
. /scenarios/netvsc-lib.sh
NIC_MB=${NIC_MB:-16}
REPS=${BENCH_REPS:-3}
VPEER=10.98.0.1
VME=10.98.0.2

insmod $MOD || fail "insmod rvmbus failed"
load_linux_deps
insmod /modules/linux/hv_storvsc.ko || fail "insmod hv_storvsc failed"
wait_adapter "bench"
load_netvsc "bench"
[ -e /modules/virtio_blk.ko ] && { insmod /modules/virtio_blk.ko || fail "insmod virtio_blk failed"; }
for d in /modules/virtio-net/*; do
	[ -e "$d" ] && { insmod $d || fail "insmod ${d##*/} failed"; }
done

# The block devices: hv_storvsc's and virtio-blk's.
i=0
until [ -b /dev/sda ] && [ -b /dev/vda ]; do
	i=$((i + 1)); [ $i -gt 300 ] && fail "no /dev/sda and /dev/vda 30 s after the drivers loaded"
	sleep 0.1
done
# The interfaces, by driver.
i=0
while :; do
	NV= VN=
	for n in /sys/class/net/*; do
		case "$(driver_of $n/device)" in
		hv_netvsc) NV=${n##*/} ;;
		virtio_net) VN=${n##*/} ;;
		esac
	done
	[ -n "$NV" ] && [ -n "$VN" ] && break
	i=$((i + 1)); [ $i -gt 300 ] && fail "no hv_netvsc and virtio_net interfaces (have: $(ls /sys/class/net | tr '\n' ' '))"
	sleep 0.1
done
VIRQ=$(basename $(readlink -f /sys/class/net/$VN/device))
BIRQ=$(basename $(readlink -f /sys/block/vda/device))
for n in $NV $VN; do
	ip link set $n up || fail "ip link set $n up failed"
done
ip addr add $ME/24 dev $NV || fail "ip addr add on $NV failed"
ip addr add $VME/24 dev $VN || fail "ip addr add on $VN failed"
for p in $PEER $VPEER; do
	i=0
	until ping -c 1 -W 2 $p > /dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 15 ] && fail "no ping to $p"
	done
done

# Nanoseconds since boot (busybox's date has no %N; /proc/uptime counts
# in 10 ms).
now_ns() {
	sed -n '/^now at/{s/^now at \([0-9]*\) nsecs$/\1/p;q}' /proc/timer_list
}

# Seconds from nanosecond stamps $1 to $2, as a decimal.
secs_ns() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", (b - a) / 1e9 }'
}

# Requests the block device $1 completed (reads and writes, its stat).
ios() {
	awk '{ print $1 + $5 }' /sys/block/${1#/dev/}/stat
}

# One disk run: $1 test, $2 device name for the line (storvsc-copy:
# hv_storvsc with the host's disk I/O through a host buffer, vmbus-host's
# `storage-io copy`, as before 2026-12-06), $3 block device, $4 its
# interrupt lines.
disk_run() {
	[ $2 = storvsc-copy ] && { harness ctl storage-io copy > /dev/null || fail "storage-io copy failed"; }
	q0=$(ios $3); i0=$(irqs "$4"); signals b
	t0=$(now_ns)
	case $1 in
	randread | randwrite)
		o=$(randio $3 ${1#rand} 4096 1024 $((r * 7919))) ; rc=$?
		b=$((4 << 20)); ops=1024
		;;
	write) dd if=/dev/zero of=$3 bs=1M count=64 oflag=direct 2> /dev/null; rc=$?; b=$((64 << 20)); ops=64 ;;
	read) dd if=$3 of=/dev/null bs=1M count=64 iflag=direct 2> /dev/null; rc=$?; b=$((64 << 20)); ops=64 ;;
	read4k) dd if=$3 of=/dev/null bs=4k count=1024 iflag=direct 2> /dev/null; rc=$?; b=$((4 << 20)); ops=1024 ;;
	esac
	[ $rc = 0 ] || fail "dd $1 on $3 failed"
	t1=$(now_ns)
	[ -n "$t0" ] && [ -n "$t1" ] || fail "no clock in /proc/timer_list"
	q1=$(ios $3); i1=$(irqs "$4"); signals a
	extra=
	case $2 in
	storvsc*)
		extra="host_signals_out=$((a_out - b_out)) host_signals_in=$((a_in - b_in)) host_monitor=$((a_mon - b_mon))"
		# The host's profile of the requests of this kind, and rvmbus's
		# hop timers: differences over the run.
		k=read
		case $1 in *write) k=write ;; esac
		for f in requests woken gaps signals gap_ns wake_ns srb_ns disk_ns send_ns signal_ns; do
			eval "extra=\"\$extra hp_$f=\$((a_${k}_$f - b_${k}_$f))\""
		done
		# The host's context switches: waits, and the CPU taken from it.
		extra="$extra hp_nvcsw=$((a_proc_nvcsw - b_proc_nvcsw)) hp_nivcsw=$((a_proc_nivcsw - b_proc_nivcsw))"
		for h in signal irq_to_tasklet; do
			for f in n ns; do
				eval "extra=\"\$extra gp_${h}_$f=\$((a_p_${h}_$f - b_p_${h}_$f))\""
			done
		done
		;;
	esac
	[ $2 = storvsc-copy ] && { harness ctl storage-io direct > /dev/null || fail "storage-io direct failed"; }
	echo "@@BENCH kind=virtio test=disk-$1 dev=$2 rep=$r secs=$(secs_ns $t0 $t1) bytes=$b ops=$ops requests=$((q1 - q0)) guest_irqs=$((i1 - i0)) $extra"
}

# The host's signals to the guest, the guest's to the host and its
# monitor triggers, from one `ctl stats`, as ${1}_out, ${1}_in, ${1}_mon;
# its storage profile (storage_prof.KIND.NAME, tools/vmbus-host's
# prof.rs) as ${1}_KIND_NAME; rvmbus's hop timers (its ctl file's path:
# NAME=COUNT/NS) as ${1}_p_NAME_n and ${1}_p_NAME_ns.
signals() {
	eval "$(harness ctl stats | tr ' ' '\n' | sed -n \
		-e "s/^vmbus\.signals_out=\([0-9]*\).*/${1}_out=\1/p" \
		-e "s/^vmbus\.signals_in=\([0-9]*\).*/${1}_in=\1/p" \
		-e "s/^vmbus\.monitor_triggers=\([0-9]*\).*/${1}_mon=\1/p" \
		-e "s/^storage_prof\.\([a-z]*\)\.\([a-z_]*\)=\([0-9]*\)$/${1}_\1_\2=\3/p")"
	eval "$(ctl path | tr ' ' '\n' | sed -n \
		"s|^\([a-z_]*\)=\([0-9]*\)/\([0-9]*\)$|${1}_p_\1_n=\2 ${1}_p_\1_ns=\3|p")"
}

# The sum of the interrupt counts of /proc/interrupts lines matching $1.
irqs() {
	grep -E "$1" /proc/interrupts | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'
}

# Packets through interface $1 (both ways).
pkts() {
	echo $(($(cat /sys/class/net/$1/statistics/rx_packets) + $(cat /sys/class/net/$1/statistics/tx_packets)))
}

dd if=/dev/urandom of=/tmp/up bs=1M count=$NIC_MB 2> /dev/null || fail "dd failed"
want=$(md5sum < /tmp/up | cut -d' ' -f1)
bytes=$((NIC_MB * 1048576))

# One network run: $1 test (up, down, rtt), $2 device name for the line,
# $3 interface, $4 peer, $5 its interrupt lines.
net_run() {
	avg=
	p0=$(pkts $3); i0=$(irqs "$5"); signals b
	t0=$(now_ns)
	case $1 in
	up)
		got=$({ echo "PUT $bytes"; cat /tmp/up; } | timeout 300 nc $4 $PORT)
		[ "$got" = "md5 $want $bytes" ] || fail "upload over $2: server says '$got'"
		;;
	down)
		# The server sends back what the last upload (the same file) left.
		back=$(echo GET | timeout 300 nc $4 $PORT | md5sum | cut -d' ' -f1)
		[ "$back" = "$want" ] || fail "download over $2: md5 $back, want $want"
		;;
	rtt)
		out=$(ping -c 50 -A -q $4 2>&1) || fail "ping $4 over $2 failed: $out"
		avg=$(echo "$out" | sed -n 's|.*min/avg/max = [0-9.]*/\([0-9.]*\)/.*|\1|p')
		;;
	esac
	t1=$(now_ns)
	p1=$(pkts $3); i1=$(irqs "$5"); signals a
	extra=
	[ $2 = netvsc ] && extra="host_signals_out=$((a_out - b_out)) host_signals_in=$((a_in - b_in)) host_monitor=$((a_mon - b_mon))"
	echo "@@BENCH kind=virtio test=net-$1 dev=$2 rep=$r secs=$(secs_ns $t0 $t1) bytes=$bytes avg_ms=${avg:-0} packets=$((p1 - p0)) guest_irqs=$((i1 - i0)) $extra"
}

# One traced disk run ($1: read4k or write) on each device after the
# timed ones (tracing costs time): the guest's events of each request from
# tracefs, the block layer's issue and completion, the device's interrupt
# and, for hv_storvsc, rvmbus's signal to the host (rvmbus_setevent) and
# its channel's tasklet handing the event to the driver
# (rvmbus_on_event). One @@BENCH line per pair of events that follow each
# other: how often, and the microseconds between them in all.
T=/sys/kernel/tracing
trace_run() {
	mount -t tracefs nodev $T 2> /dev/null
	[ -e $T/events/block/block_rq_issue/enable ] || { echo "bench-virtio: no block trace events, no traced run"; return 0; }
	echo 0 > $T/tracing_on
	echo 4096 > $T/buffer_size_kb
	echo > $T/trace
	echo "$4" > $T/events/irq/irq_handler_entry/filter
	ev="block/block_rq_issue block/block_rq_complete irq/irq_handler_entry rvmbus/rvmbus_setevent rvmbus/rvmbus_on_event"
	for e in $ev; do
		[ -e $T/events/$e/enable ] && echo 1 > $T/events/$e/enable
	done
	echo 1 > $T/tracing_on
	t0=$(now_ns)
	case $1 in
	read4k) dd if=$3 of=/dev/null bs=4k count=1024 iflag=direct 2> /dev/null; ops=1024 ;;
	write) dd if=/dev/zero of=$3 bs=1M count=64 oflag=direct 2> /dev/null; ops=64 ;;
	esac
	t1=$(now_ns)
	echo 0 > $T/tracing_on
	for e in $ev; do
		[ -e $T/events/$e/enable ] && echo 0 > $T/events/$e/enable
	done
	echo 0 > $T/events/irq/irq_handler_entry/filter
	awk -v test=disk-$1 -v dev=$2 -v secs=$(secs_ns $t0 $t1) -v ops=$ops '
		/^#/ { next }
		{
			for (i = 1; i < NF; i++)
				if ($i ~ /^[0-9]+\.[0-9]+:$/) break
			if (i >= NF) next
			t = substr($i, 1, length($i) - 1) * 1e6; e = $(i + 1); sub(/:$/, "", e)
			if (e == "block_rq_issue") issued++
			if (prev != "") { k = prev ">" e; n[k]++; us[k] += t - pt }
			prev = e; pt = t
		}
		END {
			for (k in n) {
				split(k, a, ">")
				printf "@@BENCH kind=vtrace test=%s dev=%s secs=%s ops=%d issued=%d from=%s to=%s n=%d us=%.1f\n", test, dev, secs, ops, issued, a[1], a[2], n[k], us[k]
			}
		}' $T/trace
	echo > $T/trace
}

r=0
while [ $r -lt $REPS ]; do
	r=$((r + 1))
	tests="write read read4k"
	# randio (tests/guest/tools/randio.c) comes with make bench.
	command -v randio > /dev/null && tests="$tests randread randwrite"
	for t in $tests; do
		disk_run $t storvsc /dev/sda "rvmbus"
		disk_run $t storvsc-copy /dev/sda "rvmbus"
		disk_run $t virtio /dev/vda "$BIRQ-"
	done
	for t in up down rtt; do
		net_run $t netvsc $NV $PEER "rvmbus"
		net_run $t virtio $VN $VPEER "$VIRQ-"
	done
done
for t in read4k write; do
	trace_run $t storvsc /dev/sda 'name ~ "rvmbus*"'
	trace_run $t virtio /dev/vda "name ~ \"$BIRQ-*\""
done
rm -f /tmp/up
pass "hv_storvsc and hv_netvsc on rvmbus against virtio-blk and virtio-net, $REPS runs each"
