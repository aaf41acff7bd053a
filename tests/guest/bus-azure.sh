# SPDX-License-Identifier: GPL-2.0
# rvmbus against a host that behaves like azure (see bus-common.sh).
SCEN=bus-azure
VERSION=5.3
CONNID=4
ABI=1
. /scenarios/bus-common.sh
