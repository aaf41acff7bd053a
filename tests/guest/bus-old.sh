# SPDX-License-Identifier: GPL-2.0
# rvmbus against a host that behaves like old (see bus-common.sh).
SCEN=bus-old
VERSION=3.0
CONNID=1
. /scenarios/bus-common.sh
