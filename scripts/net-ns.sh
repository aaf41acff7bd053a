#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The far end of the network adapter's wire for a test: a network
# namespace of its own with a TAP device, an address on it and a small TCP
# and UDP echo server, then COMMAND run inside the namespace (typically
# `vmbus-host serve ... --nic tap=TAP`). Nothing outside the namespace is
# touched; the namespace, the TAP device and the server go away when
# COMMAND ends, however it ends. Exits with COMMAND's status.
#
#   scripts/net-ns.sh [-n NS] [-t TAP] [-a ADDR/PREFIX] [-p PORT] -- COMMAND...
#
# Defaults: namespace rvmbus-net-PID, TAP rvnet0, address 10.99.0.1/24,
# echo port 7777 (TCP and UDP). The guest takes another address of the
# prefix (10.99.0.2) and talks to ADDR:PORT. Needs root (or CAP_NET_ADMIN
# and CAP_SYS_ADMIN), iproute2 and python3.
set -euo pipefail

NS=rvmbus-net-$$
TAP=rvnet0
ADDR=10.99.0.1/24
PORT=7777
while [ $# -gt 0 ]; do
	case "$1" in
	-n) NS=$2; shift 2 ;;
	-t) TAP=$2; shift 2 ;;
	-a) ADDR=$2; shift 2 ;;
	-p) PORT=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 [-n NS] [-t TAP] [-a ADDR/PREFIX] [-p PORT] -- COMMAND..." >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "net-ns: no command" >&2; exit 2; }

SERVER=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$SERVER" ]; then
		kill "$SERVER" 2>/dev/null
		wait "$SERVER" 2>/dev/null
	fi
	ip netns delete "$NS" 2>/dev/null
	exit $rc
}
trap cleanup EXIT

in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
in_ns ip tuntap add dev "$TAP" mode tap
in_ns ip addr add "$ADDR" dev "$TAP"
in_ns ip link set "$TAP" up

# The echo server: every TCP connection and every UDP datagram to
# ADDR:PORT gets its bytes back.
in_ns python3 - "${ADDR%/*}" "$PORT" <<'EOPY' &
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
def tcp():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        def serve(c=c):
            with c:
                while (d := c.recv(65536)):
                    c.sendall(d)
        threading.Thread(target=serve, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((host, port))
while True:
    d, a = u.recvfrom(65536)
    u.sendto(d, a)
EOPY
SERVER=$!
for _ in $(seq 50); do
	in_ns bash -c "exec 3<>/dev/tcp/${ADDR%/*}/$PORT" 2>/dev/null && break
	sleep 0.1
done

echo "net-ns: namespace $NS, $TAP at $ADDR, echo server on port $PORT" >&2
set +e
in_ns "$@"
rc=$?
set -e
exit $rc
