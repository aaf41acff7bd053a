#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The reader of the hv-keyboard scenario (tests/guest/hv-keyboard.sh):
the key events of the synthetic keyboard, which Linux's hyperv-keyboard
feeds to its serio port and atkbd reports through evdev.

  hv-keyboard.py read EVENTDEV READY COUNT
      Opens EVENTDEV (/dev/input/eventN), writes the file READY once it
      is open (evdev gives a reader only the events after its open), and
      reads struct input_event records until it has COUNT EV_KEY events
      of a press (1) or a release (0), or TIMEOUT seconds have passed.
      Autorepeats (2) and the other types (EV_MSC's scan codes, EV_SYN)
      are left out.

Prints one line, "ok CODE:VALUE ..." with the key events in the order
read, or "error ...", and exits 0 or 1.
"""
import os
import select
import sys
import time

# struct input_event on x86_64: a struct timeval (two 64-bit longs), then
# type (u16), code (u16) and value (s32).
EVENT_SIZE = 24
EV_KEY = 1
TIMEOUT = 30


def parse(rec):
    """(type, code, value) of one input_event record."""
    etype = int.from_bytes(rec[16:18], "little")
    code = int.from_bytes(rec[18:20], "little")
    value = int.from_bytes(rec[20:24], "little", signed=True)
    return etype, code, value


def read_keys(dev, ready, count):
    fd = os.open(dev, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with open(ready, "w") as f:
            f.write("open\n")
        keys = []
        pending = b""
        deadline = time.monotonic() + TIMEOUT
        while len(keys) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                got = " ".join(f"{c}:{v}" for c, v in keys)
                raise TimeoutError(f"{len(keys)} of {count} key events in {TIMEOUT} s: {got}")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            pending += os.read(fd, EVENT_SIZE * 64)
            while len(pending) >= EVENT_SIZE:
                etype, code, value = parse(pending[:EVENT_SIZE])
                pending = pending[EVENT_SIZE:]
                if etype == EV_KEY and value in (0, 1):
                    keys.append((code, value))
        return keys
    finally:
        os.close(fd)


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "read":
        print("error usage: hv-keyboard.py read EVENTDEV READY COUNT")
        return 1
    try:
        keys = read_keys(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    except (OSError, ValueError) as e:
        print(f"error {e}")
        return 1
    print("ok " + " ".join(f"{c}:{v}" for c, v in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
