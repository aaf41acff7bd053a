# SPDX-License-Identifier: GPL-2.0
# A hostile host, one mode of tools/vmbus-host at a time. The scenario
# hostile-MODE runs MODE; hostile-all runs every mode in one boot (for the
# debug kernel, where a boot is slow), die-mid-handshake last because the
# host does not survive it.
#
# For each mode the host offers a fresh echo device, the victim; modes that
# bend one channel are limited to it. Then rvmbus and the heartbeat driver
# load under the mode, and the mode holds when:
# - the guest stays up and the kernel (the harness checks) has no Oops,
#   BUG, WARNING, KASAN, lockdep or kmemleak report;
# - the misbehaviour is logged, and rvmbus's lines about the host stay few
#   (the rate limit: 10 per 5 s, then a count of those suppressed);
# - only the victim fails (or the connection, where nothing else is
#   possible), in the way the mode calls for;
# - the survivors move data: 50 checked echo requests on echo relid 2, and
#   heartbeats go on;
# - after unloading, the host holds no GPADL, and rvmbus's page audit says
#   every page it shared was freed (or, when the host never answered,
#   kept; never freed while the host may use it).
# Each mode prints "@@HOSTILE MODE held ..." or "@@HOSTILE MODE FAILED ...";
# the harness counts them.
SCEN=$(sed -n 's/.*rvmbus\.scenario=\([^ ]*\).*/\1/p' /proc/cmdline)
. /scenarios/lib.sh

SURVIVOR=2
# rvmbus's warnings about the host that the rate limit must bound.
# (The IC samples log as rvmbus_heartbeat and so on.)
NOISE="rvmbus[a-z_]*: .*(dropped an invalid|ignored|ring broken|refused|unknown relid|interrupt storm|in use)"

held() { echo "@@HOSTILE $mode held $*"; }
# Ends this mode's checks: logs the failure and unloads what it can.
broke() {
	echo "@@HOSTILE $mode FAILED $*"
	new_lines | tail -15 | sed 's/^/@@DMESG /'
	harness ctl hostile $mode off > /dev/null
	rmmod rvmbus_heartbeat 2>/dev/null; rmmod rvmbus 2>/dev/null
	return 1
}

# Once the host behaves again: the victim relid $1 (left open by the
# mode's checks when $2 is "close") works again.
victim_recovers() {
	if [ "$2" = close ]; then
		ctl close $1 > /dev/null || { broke "close of relid $1 failed"; return 1; }
	fi
	harness ctl hostile $mode off > /dev/null
	echo_ok $1 || { broke "echo on relid $1 after the host behaved again failed"; return 1; }
}

# Echo traffic on relid $1: open, 50 checked requests, close.
echo_ok() {
	ctl open $1 1 > /dev/null || return 1
	r=$(ctl echo $1 50 700) || { ctl close $1 > /dev/null; return 1; }
	ctl close $1 > /dev/null || return 1
	echo "$r" | grep -q "packets=50 .*errors=0"
}


# Unloads and checks the host's GPADLs and the page audit; $1 is the
# audit line expected (a regular expression).
unload_clean() {
	rmmod rvmbus_heartbeat 2>/dev/null
	rmmod rvmbus || return 1
	wait_new "rvmbus: shared pages: $1" 20 || { echo "page audit: $(new_lines | grep 'shared pages')"; return 1; }
	[ "$(host_stat gpadls)" = 0 ] || { echo "the host still holds $(host_stat gpadls) GPADLs"; return 1; }
}

# The host's SynIC counter h2g.$1 (see `vmbus-host ctl stats`).
h2g_stat() {
	harness ctl stats | tr ' ' '\n' | sed -n "s/^h2g\.$1=//p"
}

# Waits up to $2 seconds until the host's counter vmbus.$1 is at least $3.
wait_host_stat() {
	i=0
	until [ "$(host_stat $1)" -ge $3 ] 2>/dev/null; do
		i=$((i + 1)); [ $i -gt $(($2 * 2)) ] && return 1
		sleep 0.5
	done
}

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

load() {
	insmod $MOD timeout_ms=1000 || return 1
	insmod /modules/rvmbus_heartbeat.ko || return 1
}

# The number of rvmbus's lines about the host since the mark: at most the
# rate limit's burst per 5-second window (plus the "suppressed" count).
noise_ok() {
	NOISE_N=$(new_lines | grep -Ec "$NOISE")
	secs=$(awk -v m="$MARK" '{ t = $1 } END { print int(t - m) + 1 }' /proc/uptime)
	max=$(( (secs / 5 + 1) * 10 + 2 ))
	NOISE_ERR="$NOISE_N lines about the host in $secs s (limit $max)"
	[ $NOISE_N -le $max ]
}

run_mode() {
	mode=$1
	v=$(host_offer echo)
	[ -n "$v" ] || { broke "the host offered no victim"; return 1; }
	case $mode in
	corrupt-ring-indices | oversized-packet | truncated-packet | misaligned-packet | \
	out-of-range-monitor-id | wrong-message-size | gpadl-fail | open-fail | \
	rescind-mid-open | rescind-on-close | post-refuse | bad-ring-at-open | \
	hold-ring-space | ignore-gpa-direct)
		on=$(harness ctl hostile $mode on $v) ;;
	ic-garbage)
		on=$(harness ctl hostile $mode on 1) ;;
	*)
		on=$(harness ctl hostile $mode on) ;;
	esac
	echo "$on" | grep -q "^ok" || { broke "host: $on"; return 1; }
	mark
	b0=$(last_beat)
	case $mode in
	silent)
		out=$(insmod $MOD timeout_ms=1000 2>&1) && { broke "insmod succeeded against a silent host"; return 1; }
		wait_new "rvmbus host does not answer|did not answer" 10 || { broke "no message about the silent host"; return 1; }
		loaded && { broke "rvmbus stayed loaded"; return 1; }
		# The host got the interrupt and monitor pages in INITIATE_CONTACT
		# and never answered: they are kept, not freed.
		audit=$(new_lines | sed -n 's/.*rvmbus: shared pages: //p' | tail -1)
		echo "$audit" | grep -q "kept for the host" || { broke "pages after the failed insmod: ${audit:-no audit}"; return 1; }
		harness ctl hostile silent off > /dev/null
		# The same guest connects once the host answers again.
		load || { broke "insmod after the host answered again failed"; return 1; }
		wait_bound 1 || { broke "heartbeat not bound after the host answered again"; return 1; }
		echo_ok $v && echo_ok $SURVIVOR || { broke "echo after the host answered again failed"; return 1; }
		heartbeats_go_on 50 || { broke "heartbeats did not start"; return 1; }
		what="insmod failed cleanly ($out), pages the host was given kept ($audit); the next one connected, echo on relid $v"
		;;
	reject-versions)
		# Every version refused: insmod fails at once with a clear
		# message, and the pages named in INITIATE_CONTACT come back.
		t0=$(now_ms)
		out=$(insmod $MOD timeout_ms=5000 2>&1) && { broke "insmod succeeded though every version was refused"; return 1; }
		dt=$(( $(now_ms) - t0 ))
		wait_new "no VMBus connection: the host refused every version we offer" 10 ||
			{ broke "no clear message: $(new_lines | grep 'no VMBus connection')"; return 1; }
		[ $dt -lt 4000 ] || { broke "the refused insmod took $dt ms (timeout_ms=5000): it waited for an answer that had come"; return 1; }
		loaded && { broke "rvmbus stayed loaded"; return 1; }
		audit=$(new_lines | sed -n 's/.*rvmbus: shared pages: //p' | tail -1)
		echo "$audit" | grep -q "every one freed" || { broke "pages after the refused contact: ${audit:-no audit}"; return 1; }
		harness ctl hostile reject-versions off > /dev/null
		load || { broke "insmod after the host took versions again failed"; return 1; }
		wait_bound 1 || { broke "heartbeat not bound after the host took versions again"; return 1; }
		echo_ok $v || { broke "echo on relid $v failed"; return 1; }
		what="insmod refused in $dt ms ($out), every page freed ($audit); the next one connected, echo on relid $v"
		;;
	die-mid-handshake)
		out=$(with_timeout 30 insmod $MOD timeout_ms=1000 2>&1)
		rc=$?
		[ $rc -eq 124 ] && { broke "insmod hung after the host died"; return 1; }
		if [ $rc -eq 0 ]; then
			with_timeout 30 rmmod rvmbus || { broke "rmmod failed or hung after the host died"; return 1; }
			wait_new "rvmbus: shared pages: .*kept for the host" 20 ||
				{ broke "pages the dead host was given were not kept: $(new_lines | grep 'shared pages')"; return 1; }
			audit=$(new_lines | sed -n 's/.*rvmbus: shared pages: //p' | tail -1)
			what="insmod connected to a dying host and went on with no channels; rmmod finished without it in time, pages the host was given kept ($audit)"
		else
			wait_new "rvmbus host does not answer|did not answer" 10 || { broke "no message about the dead host: $out"; return 1; }
			what="insmod refused ($out)"
		fi
		loaded && { broke "rvmbus stayed loaded"; return 1; }
		noise_ok || { broke "$NOISE_ERR"; return 1; }
		held "$what; guest up; $NOISE_N lines about the host"
		return 0
		;;
	*)
		load || { broke "insmod failed under $mode"; return 1; }
		wait_new "all offers delivered" 20 || { broke "offers never ended"; return 1; }
		;;
	esac
	case $mode in
	corrupt-ring-indices | oversized-packet | truncated-packet | misaligned-packet)
		ctl open $v 0 > /dev/null || { broke "open of the victim failed"; return 1; }
		ctl echo $v 20 300 > /dev/null 2>&1 && { broke "echo on a broken ring succeeded"; return 1; }
		wait_new "channel $v: receive failed, ring broken by the host" 20 || { broke "no ring error logged"; return 1; }
		ctl close $v > /dev/null || { broke "close of the broken channel failed"; return 1; }
		what="relid $v: ring error logged, echo refused, channel closed"
		;;
	gpadl-fail)
		ctl open $v 0 > /dev/null 2>&1 && { broke "open succeeded with the GPADL refused"; return 1; }
		wait_new "channel $v: the host refused the ring GPADL" 10 || { broke "no GPADL error logged"; return 1; }
		what="relid $v: open failed, GPADL refusal logged"
		;;
	open-fail)
		ctl open $v 0 > /dev/null 2>&1 && { broke "open succeeded though refused"; return 1; }
		wait_new "channel $v: the host refused to open it" 10 || { broke "no open error logged"; return 1; }
		what="relid $v: open failed, refusal logged"
		;;
	rescind-mid-open)
		ctl open $v 0 > /dev/null 2>&1 && { broke "open of a channel rescinded mid-open succeeded"; return 1; }
		wait_new "relid $v released" 20 || { broke "relid $v not released"; return 1; }
		what="relid $v: open failed with the rescind, relid released"
		;;
	rescind-on-close)
		echo_ok $v || { broke "echo on the victim before the close failed"; return 1; }
		wait_new "relid $v released" 20 || { broke "relid $v not released after the rescind on close"; return 1; }
		what="relid $v: rescinded on close, released after its GPADL teardown"
		;;
	out-of-range-monitor-id | wrong-message-size)
		dev_of_relid $v > /dev/null && { broke "the bent offer of relid $v became a device"; return 1; }
		wait_new "dropped an invalid message from the host \(type 1\)" 10 || { broke "no log of the dropped offer"; return 1; }
		what="offer of relid $v dropped and logged"
		;;
	bogus-offer)
		wait_new "dropped an invalid message from the host \(type 1\)" 10 || { broke "no log of the relid-0 offer"; return 1; }
		echo_ok $v || { broke "echo on relid $v failed"; return 1; }
		what="relid-0 offer dropped and logged; relid $v works"
		;;
	duplicate-relid)
		# The duplicate comes first and takes relid 1; the real offer of
		# relid 1 (the heartbeat) is the one refused.
		wait_new "offer for relid 1 which is in use: ignored" 10 || { broke "no log of the duplicate relid"; return 1; }
		[ $(ls /sys/bus/vmbus/devices | grep -c "^72766d62-0001-") = 0 ] || { broke "both offers of relid 1 became devices"; return 1; }
		echo_ok $v || { broke "echo on relid $v failed"; return 1; }
		what="second offer of relid 1 refused and logged; relid $v works"
		;;
	unknown-message-type)
		wait_new "dropped an invalid message from the host \(type 99\)" 10 || { broke "no log of the unknown message"; return 1; }
		echo_ok $v || { broke "echo on relid $v failed"; return 1; }
		what="type 99 dropped and logged; relid $v works"
		;;
	message-flood)
		# The first of the extra ALL_OFFERS_DELIVERED ends the initial
		# offers; the rest are ignored (and logged within the rate limit),
		# the real offers that follow are taken as hot adds, and so is
		# one made afterwards.
		wait_new "ignored: UnexpectedMessage" 10 || { broke "the flood was not logged"; return 1; }
		late=$(host_offer echo)
		i=0
		until dev_of_relid $late > /dev/null; do
			i=$((i + 1)); [ $i -gt 50 ] && { broke "hot-added relid $late after the flood never appeared"; return 1; }
			sleep 0.1
		done
		echo_ok $v && echo_ok $late || { broke "echo on relids $v and $late after the flood failed"; return 1; }
		what="$(count_new 'ignored: UnexpectedMessage') of the 99 unexpected ALL_OFFERS_DELIVERED logged, $(new_lines | sed -n 's/.*rvmbus: \([0-9]*\) messages about the host suppressed.*/\1/p' | tail -1) suppressed; relid $v and relid $late offered after the flood work"
		;;
	pending-race)
		# Every pair's second filler waits behind the first while the host
		# flips MessagePending; a guest that read it from its copy of the
		# slot would miss an EOM, and the host would wait for it for ever.
		wait_host_stat race_pairs 120 200 ||
			{ broke "the host's messages stalled after $(host_stat race_pairs) of 200 filler pairs ($(h2g_stat waiting) waiting for an EOM)"; return 1; }
		i=0
		until [ "$(h2g_stat waiting)" = 0 ]; do
			i=$((i + 1)); [ $i -gt 50 ] && { broke "$(h2g_stat waiting) messages still wait for an EOM"; return 1; }
			sleep 0.1
		done
		races=$(h2g_stat races); set_=$(h2g_stat races_set); late=$(h2g_stat races_late)
		[ "$set_" -gt 0 ] || { broke "no race ended with the guest freeing a slot marked MessagePending ($races races, $late late)"; return 1; }
		echo_ok $v || { broke "echo on relid $v after the races failed"; return 1; }
		what="200 filler pairs delivered, $races races on MessagePending ($set_ freed while set, so EOM owed; $late left set after 20 ms), no message left waiting; relid $v works"
		;;
	slot-flood)
		# While the host refills the slot after every EOM, the channels'
		# events still get through (the echo's packets raise interrupts,
		# not just the control file's 10 ms polls: a guest that starved
		# them counted 0 of 50; one that does not, 39 to 50 on the cloud
		# kernel, 21 on the slower debug kernel, where more coalesce) and
		# the message work yields between runs.
		for r in $v $SURVIVOR; do
			ctl open $r 0 > /dev/null || { broke "open of relid $r during the flood failed"; return 1; }
			e=$(ctl echo $r 50 700); ctl close $r > /dev/null
			irqs=$(echo "$e" | sed -n 's/.* interrupts=\([0-9]*\).*/\1/p')
			echo "$e" | grep -q "packets=50 .*errors=0" && [ "${irqs:-0}" -ge 10 ] ||
				{ broke "echo on relid $r during the flood: ${e:-failed} (want 10 interrupts or more)"; return 1; }
		done
		heartbeats_go_on 50 || { broke "heartbeats stopped during the flood"; return 1; }
		y=$(ctl status | sed -n 's/.* yields=\([0-9]*\).*/\1/p')
		[ "${y:-0}" -gt 0 ] || { broke "the message work never yielded during the flood ($(ctl status))"; return 1; }
		f=$(h2g_stat flooded)
		harness ctl hostile $mode off > /dev/null
		what="$f fillers flooded the slot; echo on relids $v and $SURVIVOR (last echo: $irqs channel interrupts for 50 packets) and heartbeats went on during it; the message work yielded $y times"
		;;
	ic-garbage)
		# 200 packets too short for an IC message on the heartbeat's
		# channel: each is refused, the lines about them stay within the
		# printk rate limit, and the real heartbeats are still answered.
		wait_host_stat garbage_sent 60 200 || { broke "the host sent $(host_stat garbage_sent) of 200 short packets"; return 1; }
		heartbeats_go_on 50 || { broke "heartbeats stopped among the short packets"; return 1; }
		n=$(count_new "heartbeat: packet refused")
		[ $n -ge 1 ] && [ $n -le 20 ] || { broke "$n lines about refused packets for 200 refusals"; return 1; }
		what="200 short packets on the heartbeat channel, $n refusal lines logged (rate-limited); heartbeats went on"
		;;
	keep-gpadls)
		# Open with 4 MiB of rings, rescind and re-offer, again and again:
		# the host never tears the rings of the rescinded channels down,
		# and once it holds 32 MiB of them new opens are refused rather
		# than letting it pin ever more guest memory.
		r=$v; n=0
		while ctl open $r 0 2000 > /dev/null 2>&1; do
			n=$((n + 1))
			[ $n -gt 12 ] && { broke "$n rings left with the host and opens still succeed"; return 1; }
			nr=$(harness ctl reoffer $r | sed -n 's/.*relid \([0-9]*\).*/\1/p')
			[ -n "$nr" ] || { broke "the host did not re-offer relid $r"; return 1; }
			wait_new "relid $r released" 20 || { broke "relid $r not released"; return 1; }
			i=0
			until dev_of_relid $nr > /dev/null; do
				i=$((i + 1)); [ $i -gt 50 ] && { broke "re-offered relid $nr never appeared"; return 1; }
				sleep 0.1
			done
			r=$nr
		done
		wait_new "channel $r: not opened: the host holds [0-9]+ KiB of rings of channels that are gone" 10 ||
			{ broke "no log of the refused open after $n rescinded rings"; return 1; }
		[ $n -ge 7 ] || { broke "opens refused after only $n rescinded rings"; return 1; }
		what="$n rings of 4 MiB left with the host by rescinds, then the open of relid $r refused and logged"
		;;
	bad-ring-at-open)
		# The host writes an out-of-range index into the guest's ring
		# header and then answers the open with success: the guest cannot
		# use the rings, so the open fails, and the guest closes the
		# channel the host opened (CLOSE_CHANNEL, then the ring GPADL's
		# teardown; the harness checks their order in the host's trace),
		# as Linux's vmbus_open does. The host holds neither afterwards,
		# and the channel opens once the host behaves.
		g0=$(host_stat gpadls); c0=$(host_stat closes)
		ctl open $v 0 > /dev/null 2>&1 && { broke "open succeeded with a corrupt ring header"; return 1; }
		wait_new "channel $v: the host opened it with corrupt ring indices; closing it" 10 ||
			{ broke "no log of the corrupt ring header"; return 1; }
		[ "$(host_stat closes)" -gt "$c0" ] || { broke "the guest did not close the channel the host opened"; return 1; }
		i=0
		until [ "$(host_stat gpadls)" = "$g0" ]; do
			i=$((i + 1)); [ $i -gt 50 ] && { broke "the ring GPADL of the failed open is still with the host"; return 1; }
			sleep 0.1
		done
		victim_recovers $v || return 1
		what="relid $v: open failed, the channel closed and its ring GPADL torn down; opened and echoed once the host behaved"
		;;
	hold-ring-space)
		# The host answers each packet but never gives the ring space
		# back: the fourth 16 KiB packet finds the 64 KiB ring full. The
		# echo must give up after timeout_ms (1000), not wait for ever.
		ctl open $v 0 > /dev/null || { broke "open of the victim failed"; return 1; }
		rm -f /tmp/hold.rc
		( ctl echo $v 8 16384 > /dev/null 2>&1; echo $? > /tmp/hold.rc.new; mv /tmp/hold.rc.new /tmp/hold.rc ) &
		t0=$(now_ms); i=0
		until [ -e /tmp/hold.rc ]; do
			i=$((i + 1)); [ $i -gt 150 ] && { broke "echo on a ring the host never frees still waits after 15 s"; return 1; }
			sleep 0.1
		done
		dt=$(( $(now_ms) - t0 ))
		[ "$(cat /tmp/hold.rc)" != 0 ] || { broke "echo succeeded on a ring with no room"; return 1; }
		wait_new "echo [0-9]+: no room in the ring of channel $v for 1000 ms" 10 ||
			{ broke "no log of the full ring"; return 1; }
		victim_recovers $v close || return 1
		what="relid $v: echo into a ring the host never frees failed after $dt ms and logged it; closed, reopened and echoed once the host behaved"
		;;
	ignore-gpa-direct)
		# The host takes a GPA-direct packet and never answers it, so it
		# may still use the pages the packet names: echo-gpa fails after
		# timeout_ms and keeps them; the page audit at unload says so.
		ctl open $v 0 > /dev/null || { broke "open of the victim failed"; return 1; }
		ctl echo-gpa $v 1 5000 > /dev/null 2>&1 && { broke "echo-gpa succeeded though the host never answered"; return 1; }
		[ "$(host_stat gpa_direct_ignored)" -ge 1 ] || { broke "the host ignored no GPA-direct packet"; return 1; }
		wait_new "keeping [0-9]+ KiB of memory the host may still use \(echo-gpa" 10 ||
			{ broke "the pages of the unanswered packet were not kept: $(new_lines | grep -E 'echo-gpa|keeping' | tail -2)"; return 1; }
		victim_recovers $v close || return 1
		what="relid $v: echo-gpa without an answer failed, its pages kept for the host"
		;;
	post-busy)
		# Every message was refused busy three times (three kinds of
		# status) before it went through; the guest tried again each time.
		pr=$(ctl status | sed -n 's/.* post_retries=\([0-9]*\).*/\1/p')
		[ "${pr:-0}" -gt 0 ] || { broke "no post was tried again ($(ctl status))"; return 1; }
		echo_ok $v || { broke "echo on relid $v with busy posts failed"; return 1; }
		what="$(host_stat posts_refused) posts refused as busy, the guest tried again $pr times; relid $v works"
		;;
	post-refuse)
		# OPEN_CHANNEL refused for good: the open fails at once (not after
		# timeout_ms=1000), the GPADL is torn down, the channel opens
		# again; then CLOSE_CHANNEL refused: the close fails at once.
		g0=$(host_stat gpadls)
		t0=$(now_ms)
		ctl open $v 0 > /dev/null 2>&1 && { broke "open succeeded though OPEN_CHANNEL was refused"; return 1; }
		dt=$(( $(now_ms) - t0 ))
		wait_new "channel $v: OPEN_CHANNEL could not be posted" 10 || { broke "no log of the refused open"; return 1; }
		[ $dt -lt 900 ] || { broke "the refused open took $dt ms: it waited for an answer that cannot come"; return 1; }
		i=0
		until [ "$(host_stat gpadls)" = "$g0" ]; do
			i=$((i + 1)); [ $i -gt 50 ] && { broke "the ring GPADL of the refused open is still with the host"; return 1; }
			sleep 0.1
		done
		ctl open $v 0 > /dev/null || { broke "the channel did not open again after the refused open"; return 1; }
		r=$(ctl echo $v 20 300) && echo "$r" | grep -q "packets=20 .*errors=0" || { broke "echo after the refused open: $r"; return 1; }
		t0=$(now_ms)
		ctl close $v > /dev/null 2>&1 && { broke "close succeeded though CLOSE_CHANNEL was refused"; return 1; }
		dc=$(( $(now_ms) - t0 ))
		wait_new "channel $v: its close could not be posted" 10 || { broke "no log of the refused close"; return 1; }
		[ $dc -lt 900 ] || { broke "the refused close took $dc ms"; return 1; }
		what="relid $v: refused open failed in $dt ms, GPADL torn down, opened again and echoed; refused close failed in $dc ms, ring left with the host"
		;;
	interrupt-flood)
		wait_new "interrupt storm" 100 || { broke "the storm was not logged"; return 1; }
		echo_ok $v || { broke "echo on relid $v during the storm failed"; return 1; }
		what="storm logged ($(ctl status | sed -n 's/.*\(idle_polls=[0-9]*\).*/\1/p')); relid $v works during it"
		;;
	silent | reject-versions) ;;
	*) broke "no checks for mode $mode"; return 1 ;;
	esac
	# The survivors.
	echo_ok $SURVIVOR || { broke "echo on relid $SURVIVOR failed"; return 1; }
	what="$what; echo on relid $SURVIVOR"
	if [ $mode != duplicate-relid ]; then
		heartbeats_go_on 50 || { broke "heartbeats stopped (last $beat, before the mode $b0)"; return 1; }
		what="$what; heartbeats went on"
	fi
	noise_ok || { broke "$NOISE_ERR"; return 1; }
	harness ctl hostile $mode off > /dev/null
	if [ $mode = ignore-gpa-direct ]; then
		# The pages of the unanswered packet, and only those, are kept.
		r=$(unload_clean "[0-9]+ allocations, all freed but [0-9]+ KiB kept for the host") || { broke "unload: $r"; return 1; }
		what="$what; $NOISE_N lines about the host; unloaded with every other shared page freed"
	else
		r=$(unload_clean "[0-9]+ allocations, every one freed") || { broke "unload: $r"; return 1; }
		what="$what; $NOISE_N lines about the host; unloaded with every shared page freed"
	fi
	held "$what"
}

case $SCEN in
hostile-all)
	modes="corrupt-ring-indices oversized-packet truncated-packet misaligned-packet
		bogus-offer duplicate-relid out-of-range-monitor-id unknown-message-type
		wrong-message-size message-flood interrupt-flood pending-race slot-flood
		post-busy post-refuse ic-garbage keep-gpadls bad-ring-at-open hold-ring-space
		ignore-gpa-direct gpadl-fail open-fail rescind-mid-open
		rescind-on-close reject-versions silent die-mid-handshake" ;;
*)
	modes=${SCEN#hostile-} ;;
esac
# (Counters with names of their own: the helpers use n, i and others.)
modes_run=0; modes_held=0
for m in $modes; do
	modes_run=$((modes_run + 1))
	run_mode $m && modes_held=$((modes_held + 1))
done
[ $modes_held = $modes_run ] || fail "$modes_held of $modes_run hostile modes held"
[ $modes_run = 1 ] && pass "$what"
pass "all $modes_run hostile modes held"
