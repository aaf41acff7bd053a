# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the L2 boots (tests/nested/*.sh). One boot runs several
# scenarios; each runs in a subshell (scenario NAME FUNCTION) and reports
# exactly one @@RESULT line on the second serial port, where L1 reads it.

OUT=/dev/ttyS1
MOD=/modules/rvmbus.ko
BALLOON=/modules/hv_balloon.ko
CTL=/sys/kernel/debug/rvmbus/ctl

say() { echo "$*" > $OUT; }
pass() { say "@@RESULT $SCEN PASS $*"; exit 0; }
fail() {
	say "@@RESULT $SCEN FAIL $*"
	dmesg | tail -25 | sed 's/^/@@DMESG /' > $OUT
	exit 1
}
scenario() {
	say "@@STEP $1 starts at L2 uptime $(cut -d' ' -f1 /proc/uptime) s"
	(SCEN=$1; $2)
}

# Asks L1 to do something with L2's QEMU (its monitor) and prints the
# answer, or "no-answer" after 60 s.
ask() {
	exec 3< $OUT
	say "@@ASK $*"
	read -r -t 60 reply <&3 || reply=no-answer
	exec 3<&-
	echo "$reply"
}

# Prints where module $1's code sections lie ("@@MODBASE NAME
# SECTION=ADDRESS ..."), as soon as they exist (within 30 s): L0 names a
# hung L2's addresses in rvmbus.ko and hv_balloon.ko with them.
modbase() {
	mb_n=0
	while [ ! -f /sys/module/$1/sections/.text ] && [ $mb_n -lt 300 ]; do
		sleep 0.1
		mb_n=$((mb_n + 1))
	done
	[ -d /sys/module/$1/sections ] || return 0
	say "@@MODBASE $1 $(cd /sys/module/$1/sections && for f in .text* .init.text .exit.text; do
		[ -f "$f" ] && printf '%s=%s ' "$f" "$(cat "$f")"
	done)"
}

# insmod, telling L0 where the module lies while its init still runs (a
# hang in it would keep insmod from returning).
insmod() {
	modbase "$(basename "$1" .ko | sed 's/-c$//' | tr - _)" &
	im_w=$!
	command insmod "$@"
	im_r=$?
	im_n=0
	while kill -0 $im_w 2>/dev/null && [ $im_n -lt 10 ]; do
		sleep 0.1
		im_n=$((im_n + 1))
	done
	kill $im_w 2>/dev/null
	wait $im_w 2>/dev/null
	return $im_r
}

ctl() {
	echo "$*" > $CTL || return 1
	cat $CTL
}

expect_dmesg() { dmesg | grep -Eq "$1" || fail "kernel log lacks /$1/"; }

# Waits up to $2 seconds for the kernel log to match $1.
wait_dmesg() {
	n=0
	while [ $n -lt $(($2 * 5)) ]; do
		dmesg | grep -Eq "$1" && return 0
		sleep 0.2
		n=$((n + 1))
	done
	return 1
}

# Prints the devices on the bus, one directory each; waits up to $1 s for one.
vmbus_devices() {
	n=0
	while [ $n -lt $(($1 * 5)) ]; do
		ls -d /sys/bus/vmbus/devices/* 2>/dev/null && return 0
		sleep 0.2
		n=$((n + 1))
	done
	return 1
}

BALLOON_CLASS='{525074dc-8985-46e2-8057-a307dc18a502}'

# The balloon's device directory, or nothing.
balloon_dev() {
	for d in /sys/bus/vmbus/devices/*; do
		[ "$(cat $d/class_id 2>/dev/null)" = "$BALLOON_CLASS" ] && { echo $d; return 0; }
	done
	return 1
}

# Reads Hyper-V synthetic MSR $2 (hex, without 0x) of CPU $1 through the msr
# driver; prints it as 16 hex digits.
rdmsr() {
	dd if=/dev/cpu/$1/msr bs=8 count=1 skip=$((0x$2)) iflag=skip_bytes 2>/dev/null |
		od -An -tx8 | tr -d ' '
}
SCONTROL=40000080
SIEFP=40000082
SIMP=40000083
SINT2=40000092

# Prints "on" when CPU $1's SynIC is set up as a VMBus driver leaves it
# (SCONTROL, SIMP and SIEFP enabled, SINT2 unmasked), "off" when it is all
# off as at boot (the enable bits clear, SINT2 masked), else the values.
synic_state() {
	sc=$(rdmsr $1 $SCONTROL); sp=$(rdmsr $1 $SIMP); se=$(rdmsr $1 $SIEFP); si=$(rdmsr $1 $SINT2)
	[ -n "$sc" ] && [ -n "$sp" ] && [ -n "$se" ] && [ -n "$si" ] || { echo "unreadable"; return; }
	on=$(( (0x$sc & 1) + (0x$sp & 1) + (0x$se & 1) + ((0x$si >> 16 & 1) ^ 1) ))
	case $on in
	4) echo on ;;
	0) echo off ;;
	*) echo "mixed: SCONTROL=$sc SIMP=$sp SIEFP=$se SINT2=$si" ;;
	esac
}

memtotal_kb() { awk '/^MemTotal:/ { print $2 }' /proc/meminfo; }

# Prints directory $2's entries as "@@SYSFS $1 $3/path = value" lines,
# sorted; more arguments restrict the entries as find's tests do.
dump_dir() {
	tag=$1; dir=$2; name=$3
	shift 3
	(cd $dir/ && {
		find . ! -name . "$@" -type d | sed 's/$/\t(dir)/'
		find . ! -name . "$@" -type l | while read -r l; do
			printf '%s\t-> %s\n' "$l" "$(readlink $l | sed 's#.*/##')"
		done
		find . ! -name . "$@" -type f | sed 's/$/\t(unreadable)/'
		find . ! -name . "$@" -type f | xargs grep -s -H '' | sed 's/:/\tV/'
	}) | awk -F'\t' -v tag="$tag" -v dev="$name" '
		$2 ~ /^V/ { v[$1] = v[$1] substr($2, 2) "|"; next }
		{ k[$1] = $2 }
		END { for (p in k) print "@@SYSFS " tag " " dev "/" substr(p, 3) " = " ((p in v) ? v[p] : k[p]) }' |
		sort
}

# Dumps the bus's sysfs tree (every device's files and links, the
# channels' subdirectories included) as "@@SYSFS TAG path = value" lines, the
# device's instance GUID written as GUID, then lsvmbus -vv as
# "@@LSVMBUS TAG line"; L0 compares the trees of two drivers. A file's
# lines are joined with "|"; a file that cannot be read or is empty reads
# "(unreadable)". One grep reads every file: a process per file took
# about 0.7 s each in L2 with hv_balloon bound.
dump_bus() {
	for d in /sys/bus/vmbus/devices/*; do
		dump_dir "$1" $d "${d##*/}"
	done | sed "s/$(ls /sys/bus/vmbus/devices | head -1)/GUID/g" > $OUT
	# The bus's own files (drivers_autoprobe, drivers_probe, uevent, ...).
	dump_dir "$1" /sys/bus/vmbus BUS -maxdepth 1 -type f > $OUT
	# NOLS=1: the tree only (lsvmbus takes about 20 s of L2's time).
	[ "${NOLS:-0}" = 1 ] && return 0
	/usr/bin/python3 /abi/lsvmbus -vv 2>&1 |
		sed "s/$(ls /sys/bus/vmbus/devices | head -1)/GUID/g; s/^/@@LSVMBUS $1 /" > $OUT
}

# Fails unless CPUs 0 and 1 both show SynIC state $1 (on or off); $2 says
# when.
synics_are() {
	for c in 0 1; do
		[ "$(synic_state $c)" = $1 ] || fail "CPU $c's SynIC $2: $(synic_state $c)"
	done
}

# insmod rvmbus, connected with VMBus 4.0, the balloon channel opened on
# CPU 1; sets d (the balloon's device directory) and relid.
up_on_cpu1() {
	insmod $MOD || fail "insmod failed"
	expect_dmesg "connected to the host: VMBus version 4\.0, message connection id 1"
	d=$(balloon_dev) || fail "no balloon device"
	relid=$(cat $d/id)
	ctl open $relid 1 >/dev/null || fail "open on CPU 1 failed: $(dmesg | tail -3)"
	[ "$(cat $d/channels/$relid/cpu)" = 1 ] || fail "channels/$relid/cpu: $(cat $d/channels/$relid/cpu)"
}

# The kernel after rvmbus's way out ($1: after what), booted without
# initcall_blacklist: its built-in C hv_vmbus must connect again and find
# the balloon.
c_driver_back() {
	vmbus_devices 30 >/dev/null || fail "the C hv_vmbus found no device within 30 s after $1"
	expect_dmesg "Vmbus version:4\.0"
	balloon_dev >/dev/null || fail "no balloon device after $1"
}
