#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The sockets of the hv-sock scenario (tests/guest/hv-sock.sh): AF_VSOCK
through Linux's hv_sock on rvmbus, against the test host's hvsocket
services.

  hv-sock.py echo PORT BYTES
      Connects to the host (CID 2) on PORT, whose service echoes
      everything back; while connected, checks that the connection's
      channel is a VMBus device of PORT's service class bound to hv_sock,
      with hv_sock's default rings (RING bytes of data each way); sends
      BYTES pseudo-random bytes while reading the echo, at most
      WINDOW bytes ahead of it, and checks it byte for byte; shuts down
      its sending side, reads the host's end of file and closes.
  hv-sock.py listen PORT READY
      Listens on PORT (any CID) with a large send buffer, writes READY
      when it does, accepts one connection, checks its device as above
      but with an outgoing ring sized from that buffer (larger than the
      incoming one), echoes everything until end of file, closes.
  hv-sock.py refused PORT
      Connects to the host on PORT, which nobody serves: the connect must
      time out (the host offers no channel, and hv_sock, like Linux's
      hv_vmbus, takes no answer to its connect request).

Each prints one line, "ok ..." or "error ...", and exits 0 or 1.
"""
import os
import select
import socket
import sys
import time

DEVICES = "/sys/bus/vmbus/devices"
# The send window: a chunk goes out only while less than this much of
# what was sent has not come back, so that neither side waits for the
# other with both rings full.
WINDOW = 16384
# The longest wait for any progress (a connect, a byte either way).
TIMEOUT = 30
# hv_sock sizes a channel's rings from the socket's buffer sizes
# (hvs_open_connection). A connecting socket's are reset to hv_sock's
# defaults (RINGBUFFER_HVS_SND_SIZE and _RCV_SIZE, 6 pages each) when the
# connect assigns it the transport, so its rings have RING bytes of data
# each way whatever SO_SNDBUF said before. A connection from the host
# takes them from the listening socket, which keeps what was set: there
# SO_SNDBUF of SNDBUF makes the outgoing ring larger (ring_data_size() of
# what the kernel made of it, which the listener reads back) and the
# incoming one stays at RING (SO_RCVBUF set to half of it; the kernel
# doubles both).
RING = 24576
SNDBUF = 65536
PAGE = 4096
# RINGBUFFER_HVS_MAX_SIZE.
MAX_RING = 64 * PAGE


def ring_data_size(buf):
    """The data bytes of the ring hv_sock opens for a socket buffer of BUF
    bytes: VMBUS_RING_SIZE() of it within hv_sock's bounds, which adds a
    page for the control page only to a size below 8 pages, less that
    control page."""
    buf = min(max(buf, RING), MAX_RING)
    adj = 0 if buf >= 8 * PAGE else PAGE
    return (buf + adj + PAGE - 1) // PAGE * PAGE - PAGE
# vsock's connect timeout (SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, a struct
# __kernel_old_timeval): the default 2 s is short for a channel offered
# and opened under QEMU's emulation; a refused connect takes this long.
SO_VM_SOCKETS_CONNECT_TIMEOUT = 6
CONNECT_SECONDS = 10


class Failure(Exception):
    pass


def service_class(port):
    """hv_sock's service GUID of a port: its template
    00000000-facb-11e6-bd58-64006a7986d3 with the port as the first four
    bytes (little-endian), as sysfs prints a class_id."""
    return "{%08x-facb-11e6-bd58-64006a7986d3}" % port


def read_attr(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def devices_of_class(cls):
    return [os.path.join(DEVICES, n) for n in sorted(os.listdir(DEVICES))
            if read_attr(os.path.join(DEVICES, n, "class_id")) == cls]


def connection_device(port):
    """The directory of the one device of PORT's service class, which
    must be bound to hv_sock."""
    devs = devices_of_class(service_class(port))
    if len(devs) != 1:
        raise Failure(f"{len(devs)} devices of class {service_class(port)} while connected, want 1: "
                      f"{' '.join(os.listdir(DEVICES))}")
    try:
        driver = os.path.basename(os.readlink(os.path.join(devs[0], "driver")))
    except OSError:
        driver = "none"
    if driver != "hv_sock":
        raise Failure(f"{os.path.basename(devs[0])} is bound to {driver}, not hv_sock")
    return devs[0]


def check_empty_ring(dev, way, size):
    """Ring WAY (out or in) of device DEV is empty and has SIZE bytes of
    data: all of them are free to write."""
    free = read_attr(os.path.join(dev, f"{way}_write_bytes_avail"))
    if free != str(size):
        raise Failure(f"the {way} ring of {os.path.basename(dev)} has {free} bytes free before any data, "
                      f"want {size}")


def describe(dev):
    return f"relid={read_attr(os.path.join(dev, 'id'))} dev={os.path.basename(dev)}"


def vsock_stream():
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    # CPython's setsockopt() of an AF_VSOCK socket passes every value as
    # a 64-bit integer, and the connect timeout is a struct of two: it is
    # set through a second socket object of another family on the same
    # file, which passes bytes as they are, and which lets go of the file
    # after.
    timeval = CONNECT_SECONDS.to_bytes(8, "little") + bytes(8)
    alias = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, s.fileno())
    try:
        alias.setsockopt(socket.AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, timeval)
    finally:
        alias.detach()
    s.settimeout(TIMEOUT)
    return s


def first_difference(a, b):
    return next(i for i in range(min(len(a), len(b))) if a[i] != b[i])


def echo(port, total):
    data = os.urandom(total)
    s = vsock_stream()
    t0 = time.monotonic()
    # A blocking connect (vsock's own timeout bounds it): a non-blocking
    # one, which Python makes of a socket with a timeout, has vsock hold
    # the socket until its connect timeout fires (vsock_connect()'s
    # connect_work), and the device could go only then.
    s.settimeout(None)
    s.connect((socket.VMADDR_CID_HOST, port))
    s.settimeout(TIMEOUT)
    dev = connection_device(port)
    # Nothing has been sent, so nothing has come back: both are empty.
    check_empty_ring(dev, "out", RING)
    check_empty_ring(dev, "in", RING)
    s.setblocking(False)
    view = memoryview(data)
    sent = got = 0
    while got < total:
        want_send = sent < total and sent - got < WINDOW
        readable, writable, _ = select.select([s], [s] if want_send else [], [], TIMEOUT)
        if not readable and not writable:
            # Lost data, or data that poll() did not report (hv_sock's
            # poll looks at the ring's indices, its recv at the packet it
            # holds)?
            try:
                held = len(s.recv(65536))
            except BlockingIOError:
                held = 0
            raise Failure(f"no progress for {TIMEOUT} s: sent {sent}, echoed {got} of {total} bytes; "
                          f"{held} more bytes were there to read although poll() did not say so")
        if writable:
            try:
                sent += s.send(view[sent:min(total, got + WINDOW)])
            except BlockingIOError:
                pass
        if readable:
            try:
                back = s.recv(65536)
            except BlockingIOError:
                continue
            if not back:
                raise Failure(f"end of file after {got} of {total} bytes echoed")
            if len(back) > sent - got:
                raise Failure(f"{len(back)} bytes echoed at {got}, only {sent - got} sent")
            if back != data[got:got + len(back)]:
                i = first_difference(back, data[got:got + len(back)])
                raise Failure(f"the echo differs at byte {got + i}")
            got += len(back)
    s.settimeout(TIMEOUT)
    s.shutdown(socket.SHUT_WR)
    rest = s.recv(65536)
    if rest:
        raise Failure(f"{len(rest)} bytes after the echo, want end of file")
    s.close()
    dt = time.monotonic() - t0
    print(f"ok {describe(dev)} rings={RING}/{RING} bytes={total} seconds={dt:.1f}")


def listen(port, ready):
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RING // 2)
    s.bind((socket.VMADDR_CID_ANY, port))
    s.listen(1)
    # CPython passes an AF_VSOCK socket's options as 64-bit integers; the
    # kernel writes an int into the low half.
    out_ring = ring_data_size(s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
    if out_ring <= RING:
        raise Failure(f"SO_SNDBUF {SNDBUF} gives an outgoing ring of {out_ring} bytes, not more than {RING}")
    with open(ready, "w") as f:
        f.write("listening\n")
    s.settimeout(60)
    c, peer = s.accept()
    c.settimeout(TIMEOUT)
    dev = connection_device(port)
    # The host may be sending already; nothing has gone out yet.
    check_empty_ring(dev, "out", out_ring)
    n = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
        n += len(b)
    c.close()
    s.close()
    print(f"ok {describe(dev)} out_ring={out_ring} peer={peer[0]}:{peer[1]} bytes={n}")


def refused(port):
    s = vsock_stream()
    t0 = time.monotonic()
    try:
        s.connect((socket.VMADDR_CID_HOST, port))
    except TimeoutError as e:
        # ETIMEDOUT from vsock's connect timeout, or the socket's own.
        print(f"ok connect timed out after {time.monotonic() - t0:.1f} s: {e}")
        return
    raise Failure(f"connected to port {port}, which nobody serves")


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "echo":
            echo(int(argv[2]), int(argv[3]))
        elif len(argv) == 4 and argv[1] == "listen":
            listen(int(argv[2]), argv[3])
        elif len(argv) == 3 and argv[1] == "refused":
            refused(int(argv[2]))
        else:
            print("error usage: hv-sock.py echo PORT BYTES | listen PORT READY | refused PORT")
            return 2
    except (Failure, OSError) as e:
        print(f"error {argv[1]} {argv[2]}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
