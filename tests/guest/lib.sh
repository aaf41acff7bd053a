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
