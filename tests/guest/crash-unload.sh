# SPDX-License-Identifier: GPL-2.0
# A panic with channels open: rvmbus's panic notifier unloads the
# connection on the way out (UNLOAD answered by polling, the SynIC off,
# GOODBYE), all with interrupts off and the other CPU stopped. The guest
# cannot report after the panic: the harness passes the scenario on the
# panic line, and checks the host's trace (UNLOAD, its answer, the seal,
# GOODBYE, no write after) and the way out's lines on the console.
SCEN=crash-unload
. /scenarios/lib.sh
insmod $MOD || fail "insmod failed"
insmod /modules/rvmbus_heartbeat.ko || fail "insmod rvmbus_heartbeat failed"
wait_dmesg "heartbeat 10 answered" 100 || fail "no 10 heartbeats: $(dmesg | grep heartbeat | tail -2)"
ctl open 4 1 >/dev/null || fail "open on CPU 1 failed: $(dmesg | tail -3)"
r=$(ctl echo 4 50 1500) || fail "echo failed"
echo "$r" | grep -q "errors=0" || fail "echo errors: $r"
echo "@@CRASH panicking with the echo channel open and the heartbeat bound"
echo c > /proc/sysrq-trigger
fail "the kernel did not panic"
