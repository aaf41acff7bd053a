# SPDX-License-Identifier: GPL-2.0
# The scale benchmark with 256 echo devices (bench-scale-common.sh).
N=256
. /scenarios/bench-scale-common.sh
