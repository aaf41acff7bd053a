# SPDX-License-Identifier: GPL-2.0
#
# The far end of the network scenarios' wire, run by the harness inside the
# scenario's network namespace: on ADDR:PORT, TCP requests
#   "PUT N\n" + N bytes  -> answers "md5 HEX N\n" and keeps the bytes
#   "GET\n"              -> sends back the bytes the last PUT kept
# (each then closes the connection), and every UDP datagram is echoed.
import hashlib
import socket
import sys
import threading

host, port = sys.argv[1], int(sys.argv[2])
kept = b""
lock = threading.Lock()


def serve(c):
    global kept
    with c:
        f = c.makefile("rb")
        line = f.readline(64).split()
        if len(line) == 2 and line[0] == b"PUT" and line[1].isdigit():
            n = int(line[1])
            h, got, parts = hashlib.md5(), 0, []
            while got < n:
                d = f.read1(min(65536, n - got))
                if not d:
                    break
                h.update(d)
                parts.append(d)
                got += len(d)
            with lock:
                kept = b"".join(parts)
            c.sendall(f"md5 {h.hexdigest()} {got}\n".encode())
        elif line == [b"GET"]:
            with lock:
                data = kept
            c.sendall(data)
        else:
            c.sendall(b"error bad request\n")


def tcp():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((host, port))
print("ready", flush=True)
while True:
    d, a = u.recvfrom(65536)
    u.sendto(d, a)
