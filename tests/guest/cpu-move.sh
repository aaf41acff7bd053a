# SPDX-License-Identifier: GPL-2.0
# Moving a channel's interrupts by writing channels/<relid>/cpu on a 5.3
# host: MODIFY_CHANNEL is answered, cpu follows, the echo traffic goes on,
# and the host's interrupts for the channel come on the new CPU, as
# /proc/interrupts shows. Bad CPUs and closed channels are refused.
SCEN=cpu-move
. /scenarios/lib.sh

# The IRQ number of rvmbus's MSI-X vector $1 (the vector of vCPU $1).
vec_irq() {
	awk -v v="$1-edge" '/rvmbus/ && $(NF-1) == v { sub(":", "", $1); print $1 }' /proc/interrupts
}

# The count of IRQ $1 on CPU $2 in /proc/interrupts.
irq_on_cpu() {
	awk -v irq="$1:" -v col=$(($2 + 2)) '$1 == irq { print $col }' /proc/interrupts
}

# Writes $1 to the channel's cpu file; prints the shell's error, if any.
write_cpu() {
	( echo "$1" > $c/cpu ) 2>&1
}

# The host's count of MODIFY_CHANNEL messages it applied.
host_modifies() {
	harness ctl stats | tr ' ' '\n' | sed -n 's/^vmbus\.modify_channels=//p'
}

# Echoes 50 packets of 1500 bytes; fails unless all came back.
echo_ok() {
	r=$(ctl echo 4 50 1500) || fail "echo on CPU $1 failed: $(dmesg | tail -3)"
	echo "$r"
	echo "$r" | grep -q "errors=0" || fail "echo errors on CPU $1: $r"
}

insmod $MOD || fail "insmod failed"
expect_dmesg "connected to the host: VMBus version 5\.3,"
d=$(dev_of_relid 4) || fail "no echo device (relid 4)"
c=$d/channels/4
[ "$(stat -c %a $c/cpu)" = 644 ] || fail "channels/4/cpu mode $(stat -c %a $c/cpu), want 644"

# Not open yet: nothing to move.
e=$(write_cpu 1) && fail "moving a closed channel succeeded"
echo "$e" | grep -q "No such device" || fail "moving a closed channel: '$e', want ENODEV"

# With the ivshmem transport the host interrupts vCPU N through MSI-X
# vector N; pin each vector to its vCPU, as Hyper-V's per-CPU SynIC is.
irq0=$(vec_irq 0); irq1=$(vec_irq 1)
[ -n "$irq0" ] && [ -n "$irq1" ] || fail "rvmbus vectors 0 and 1 not in /proc/interrupts: $(grep rvmbus /proc/interrupts)"
echo 0 > /proc/irq/$irq0/smp_affinity_list || fail "cannot pin IRQ $irq0 to CPU 0"
echo 1 > /proc/irq/$irq1/smp_affinity_list || fail "cannot pin IRQ $irq1 to CPU 1"

ctl open 4 0 >/dev/null || fail "open on CPU 0 failed: $(dmesg | tail -3)"
[ "$(cat $c/cpu)" = 0 ] || fail "cpu is $(cat $c/cpu) after open on CPU 0"
echo_ok 0
m0=$(host_modifies)

# The move to CPU 1 and the traffic after it.
for to in 1 0; do
	from=$((1 - to))
	base_to=$(irq_on_cpu $(vec_irq $to) $to)
	base_from=$(irq_on_cpu $(vec_irq $from) $from)
	e=$(write_cpu $to) || fail "moving to CPU $to failed: $e"
	[ "$(cat $c/cpu)" = $to ] || fail "cpu is $(cat $c/cpu) after the move to $to"
	grep -q "^4:$to$" $d/channel_vp_mapping || fail "channel_vp_mapping: $(cat $d/channel_vp_mapping)"
	expect_dmesg "channel 4: interrupts moved from CPU $from to CPU $to$"
	mid_from=$(irq_on_cpu $(vec_irq $from) $from)
	echo_ok $to
	new_to=$(($(irq_on_cpu $(vec_irq $to) $to) - base_to))
	old_from=$(($(irq_on_cpu $(vec_irq $from) $from) - mid_from))
	echo "after the move to CPU $to: vector $to on CPU $to +$new_to, vector $from on CPU $from +$old_from during the echo"
	grep rvmbus /proc/interrupts
	[ "$new_to" -ge 25 ] || fail "only $new_to interrupts on CPU $to after the move"
	[ "$old_from" -lt 5 ] || fail "$old_from interrupts still on CPU $from after the move to $to"
	eval "moved_$to=$new_to"
done
m1=$(host_modifies)
[ "$m1" = $((m0 + 2)) ] || fail "the host applied $((m1 - m0)) moves, want 2"

# Writing the current CPU is a no-op: nothing goes to the host.
e=$(write_cpu 0) || fail "writing the current CPU failed: $e"
[ "$(host_modifies)" = "$m1" ] || fail "writing the current CPU sent MODIFY_CHANNEL"

# Refused: CPUs that do not exist, and text that is not a CPU number.
for bad in 2 4096 4294967296 -1 abc ""; do
	e=$(write_cpu "$bad") && fail "cpu '$bad' was accepted"
	echo "$e" | grep -q "Invalid argument" || fail "cpu '$bad': '$e', want EINVAL"
done
[ "$(cat $c/cpu)" = 0 ] || fail "cpu is $(cat $c/cpu) after refused writes"

# Refused: an offline CPU.
offline=untested
if [ -w /sys/devices/system/cpu/cpu1/online ] && echo 0 > /sys/devices/system/cpu/cpu1/online; then
	e=$(write_cpu 1) && fail "moving to offline CPU 1 succeeded"
	echo "$e" | grep -q "Invalid argument" || fail "offline CPU 1: '$e', want EINVAL"
	echo 1 > /sys/devices/system/cpu/cpu1/online || fail "cannot bring CPU 1 back"
	offline=EINVAL
fi
[ "$(host_modifies)" = "$m1" ] || fail "a refused write reached the host"

# Concurrent writers: every write succeeds, one move each, in turn.
before=$(dmesg | grep -c "channel 4: interrupts moved")
m2=$(host_modifies)
(for i in 1 2 3 4 5; do echo 1 > $c/cpu || echo "writer A failed"; echo 0 > $c/cpu || echo "writer A failed"; done) > /tmp/a 2>&1 &
(for i in 1 2 3 4 5; do echo 0 > $c/cpu || echo "writer B failed"; echo 1 > $c/cpu || echo "writer B failed"; done) > /tmp/b 2>&1 &
wait
[ -s /tmp/a ] && fail "writer A: $(cat /tmp/a)"
[ -s /tmp/b ] && fail "writer B: $(cat /tmp/b)"
moves=$(($(dmesg | grep -c "channel 4: interrupts moved") - before))
m3=$(host_modifies)
[ "$moves" -ge 1 ] || fail "concurrent writers moved nothing"
[ $((m3 - m2)) = "$moves" ] || fail "guest logged $moves moves, host applied $((m3 - m2))"
now=$(cat $c/cpu)
echo_ok $now

# A host that does not answer: ETIMEDOUT after timeout_ms, the old CPU
# kept; the next move works once the host answers again.
other=$((1 - now))
harness ctl hostile silent on | grep -q "silent on" || fail "host would not go silent"
e=$(write_cpu $other) && fail "a move without an answer succeeded"
harness ctl hostile silent off | grep -q "silent off" || fail "host stayed silent"
echo "$e" | grep -q "timed out" || fail "unanswered move: '$e', want ETIMEDOUT"
[ "$(cat $c/cpu)" = $now ] || fail "cpu is $(cat $c/cpu) after the unanswered move, want $now"
expect_dmesg "channel 4: no answer to the move to CPU $other in [0-9]+ ms; cpu stays $now$"
e=$(write_cpu $other) || fail "move after the host came back failed: $e"
[ "$(cat $c/cpu)" = $other ] || fail "cpu is $(cat $c/cpu) after the host came back"
echo_ok $other

ctl close 4 >/dev/null || fail "close failed"
e=$(write_cpu 1) && fail "moving a closed channel succeeded"
echo "$e" | grep -q "No such device" || fail "after close: '$e', want ENODEV"
rmmod rvmbus || fail "rmmod failed"
pass "moved to CPU 1 and back (host answered, cpu followed, $moved_1 and $moved_0 interrupts on the new CPU after each move, echo intact); no-op rewrite; bad CPUs EINVAL, offline CPU $offline; closed channel ENODEV; 2 concurrent writers: $moves moves, host applied $((m3 - m2)); unanswered move ETIMEDOUT, old CPU kept, next move works"
