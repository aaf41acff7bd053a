# SPDX-License-Identifier: GPL-2.0
# The scale benchmark with 64 echo devices (bench-scale-common.sh).
N=64
. /scenarios/bench-scale-common.sh
