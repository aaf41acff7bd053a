# SPDX-License-Identifier: GPL-2.0
# The scale benchmark with 1 echo devices (bench-scale-common.sh).
N=1
. /scenarios/bench-scale-common.sh
