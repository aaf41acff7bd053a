# SPDX-License-Identifier: GPL-2.0
# The scale benchmark with 1024 echo devices (bench-scale-common.sh).
N=1024
. /scenarios/bench-scale-common.sh
