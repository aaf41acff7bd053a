# SPDX-License-Identifier: GPL-2.0
# rvmbus against a host that behaves like qemu (see bus-common.sh).
SCEN=bus-qemu
VERSION=4.0
CONNID=1
# QEMU's vmbus-bridge offers every channel without a monitor id (seen under
# KVM's Hyper-V emulation, Documentation/testing.rst), and so does the
# host's qemu profile.
NO_MONITOR=1
. /scenarios/bus-common.sh
