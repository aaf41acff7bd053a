# SPDX-License-Identifier: GPL-2.0
# rvmbus with the default transport=auto on KVM's Hyper-V emulation and
# QEMU's VMBus server: connect, the bus tree, rmmod/insmod cycles, then
# Linux's hv_balloon bound through rvmbus against QEMU's hv-balloon.
. /nested/lib.sh
insmod /modules/msr.ko 2>/dev/null

connect() {
	dmesg | grep -q "Vmbus version:" && fail "the built-in C hv_vmbus connected (initcall_blacklist ignored?)"
	[ "$(synic_state 0)" = off ] || fail "CPU 0's SynIC before insmod: $(synic_state 0)"
	hyp0=$(awk '/HYP:/ { print $2 }' /proc/interrupts)
	# Loaded as udev would load it: the VMBus ACPI device's modalias,
	# resolved by modprobe through the aliases depmod found in rvmbus.ko.
	acpi=$(grep -l -i "^acpi:VMBUS:" /sys/bus/acpi/devices/*/modalias 2>/dev/null | head -1)
	[ -n "$acpi" ] || fail "no VMBus ACPI device: $(cat /sys/bus/acpi/devices/*/modalias 2>/dev/null | tr '\n' ' ')"
	alias=$(cat $acpi)
	kdir=/lib/modules/$(uname -r)
	mkdir -p $kdir && cp $MOD $kdir/ && depmod || fail "depmod failed"
	grep -q -i "^alias acpi\*:VMBUS:\* rvmbus" $kdir/modules.alias || fail "modules.alias: $(grep rvmbus $kdir/modules.alias | tr '\n' ' ')"
	modbase rvmbus &
	mb=$!
	modprobe "$alias" || fail "modprobe $alias (the VMBus ACPI device's modalias) failed"
	wait $mb
	grep -q "^rvmbus " /proc/modules || fail "modprobe $alias did not load rvmbus"
	expect_dmesg "rvmbus: loaded, transport hyperv"
	expect_dmesg "connected to the host: VMBus version 4\.0, message connection id 1, transport hyperv"
	expect_dmesg "all offers delivered: 1 channels"
	st=$(ctl status) || fail "no ctl status"
	echo "$st" | grep -q "connected version=4.0 msg_conn_id=1 transport=hyperv" || fail "status: $st"
	d=$(balloon_dev) || fail "no balloon device (class $BALLOON_CLASS) in /sys/bus/vmbus"
	[ "$(synic_state 0)" = on ] || fail "CPU 0's SynIC after insmod: $(synic_state 0)"
	hyp1=$(awk '/HYP:/ { print $2 }' /proc/interrupts)
	[ "${hyp1:-0}" -gt "${hyp0:-0}" ] || fail "no callback-vector interrupts (HYP $hyp0 -> $hyp1)"
	# The event flags are taken in the vector's handler (the default).
	[ "$(cat /sys/module/rvmbus/parameters/irq_events)" = Y ] ||
		fail "irq_events=$(cat /sys/module/rvmbus/parameters/irq_events), want the default Y"
	dump_bus rvmbus
	pass "modprobe $alias (the ACPI device ${acpi%/modalias}) loaded rvmbus; VMBus 4.0 on connection id 1 over transport=auto (hyperv), 1 offer: balloon ${d##*/}; SynIC on; HYP interrupts $hyp0 -> $hyp1; event flags taken in the handler"
}

# rmmod and insmod with the balloon channel open (hv_balloon itself has no
# module_exit, so no bound driver can be unloaded here), three times:
# UNLOAD answered, every page freed, the SynIC all off after each rmmod.
cycles() {
	i=1
	while [ $i -le 3 ]; do
		d=$(balloon_dev) || fail "cycle $i: no balloon device"
		relid=$(cat $d/id)
		ctl open $relid 0 >/dev/null || fail "cycle $i: open of the balloon channel failed"
		[ "$(cat $d/state)" = 3 ] || fail "cycle $i: channel state $(cat $d/state) after open, want 3"
		dmesg -c >/dev/null
		rmmod rvmbus || fail "cycle $i: rmmod failed"
		expect_dmesg "the host answered UNLOAD in [0-9]+ ms"
		expect_dmesg "unloaded: 1 channels removed, host released all memory"
		expect_dmesg "shared pages: [0-9]+ allocations, every one freed"
		s=$(synic_state 0)
		[ "$s" = off ] || fail "cycle $i: CPU 0's SynIC after rmmod: $s"
		insmod $MOD || fail "cycle $i: insmod failed"
		expect_dmesg "connected to the host: VMBus version 4\.0, message connection id 1"
		expect_dmesg "all offers delivered: 1 channels"
		i=$((i + 1))
	done
	pass "3 rmmod/insmod cycles with the channel open: UNLOAD answered, every page freed, SCONTROL/SIMP/SIEFP off and SINT2 masked after each rmmod, reconnected each time"
}

balloon() {
	d=$(balloon_dev) || fail "no balloon device"
	insmod $BALLOON || fail "insmod hv_balloon failed"
	wait_dmesg "Using Dynamic Memory protocol version 2\.0" 20 || fail "hv_balloon did not negotiate"
	[ "$(readlink $d/driver | sed 's#.*/##')" = hv_balloon ] || fail "hv_balloon not bound to ${d##*/}"
	NOLS=1 dump_bus rvmbus-bound
	m0=$(memtotal_kb)
	a=$(ask balloon 1536)
	[ "$a" = ok ] || fail "monitor balloon 1536: $a"
	# QEMU's hv-balloon acts only after its post-init wait (about 50 s
	# from the guest's start); then hv_balloon hot-adds 1 GiB.
	up=0
	while [ $(( $(memtotal_kb) - m0 )) -lt $((1000 * 1024)) ] && [ $up -lt 120 ]; do
		sleep 1
		up=$((up + 1))
		[ $((up % 10)) = 0 ] && say "@@MEM MemTotal $(memtotal_kb) kB after $up s"
	done
	up_at=$(cut -d. -f1 /proc/uptime)
	m1=$(memtotal_kb)
	[ $((m1 - m0)) -ge $((1000 * 1024)) ] || fail "MemTotal $m0 -> $m1 kB after balloon 1536 (want +1 GiB)"
	a1=$(ask info balloon)
	[ "$a1" = "balloon: actual=1536" ] || fail "info balloon after the hot-add: '$a1'"
	a=$(ask balloon 1280)
	[ "$a" = ok ] || fail "monitor balloon 1280: $a"
	down=0
	while [ $((m1 - $(memtotal_kb))) -lt $((250 * 1024)) ] && [ $down -lt 60 ]; do
		sleep 1
		down=$((down + 1))
	done
	m2=$(memtotal_kb)
	a2=$(ask info balloon)
	[ "$a2" = "balloon: actual=1280" ] || fail "info balloon after balloon 1280: '$a2'; MemTotal $m1 -> $m2 kB"
	drop=$((m1 - m2))
	[ $drop -ge $((252 * 1024)) ] && [ $drop -le $((260 * 1024)) ] ||
		fail "MemTotal fell by $drop kB for a target 256 MiB lower"
	pass "hv_balloon bound through rvmbus: target 1536 MiB: 1 GiB hot-added, MemTotal $m0 -> $m1 kB in ${up} s (at L2 uptime ${up_at} s: QEMU waits ~50 s after the protocol starts), info balloon 1536; target 1280 MiB: MemTotal -> $m2 kB (-$drop kB) in ${down} s, info balloon 1280"
}

scenario hyperv-connect connect
# rvmbus's own account of the connection, for the logs and make run-hyperv.
dmesg | grep -E "rvmbus|hv_vmbus|Hyper-V|hyperv" | sed 's/^/@@KLOG /' > $OUT
say "@@STATUS after connect: $(ctl status) HYP=$(awk '/HYP:/ { print $2 }' /proc/interrupts)"
scenario hyperv-rmmod cycles
scenario hyperv-balloon balloon
d=$(balloon_dev) && c=$d/channels/$(cat $d/id) &&
	say "@@STATUS after the balloon: $(ctl status) HYP=$(awk '/HYP:/ { print $2 }' /proc/interrupts) channel: interrupts=$(cat $c/interrupts) events=$(cat $c/events) intr_in_full=$(cat $c/intr_in_full) intr_out_empty=$(cat $c/intr_out_empty) out_full_total=$(cat $c/out_full_total)"
