# SPDX-License-Identifier: GPL-2.0
# The scale benchmark with 16 echo devices (bench-scale-common.sh).
N=16
. /scenarios/bench-scale-common.sh
