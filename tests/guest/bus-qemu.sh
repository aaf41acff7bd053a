# SPDX-License-Identifier: GPL-2.0
# rvmbus against a host that behaves like qemu (see bus-common.sh).
SCEN=bus-qemu
VERSION=4.0
CONNID=1
. /scenarios/bus-common.sh
