# SPDX-License-Identifier: GPL-2.0
# The synthetic keyboard through Linux's own hyperv-keyboard
# (linux-drivers/hyperv_keyboard, built out of tree for rvmbus; the cloud
# kernel only: the debug kernel has no keyboard driver) after Debian's
# evdev.ko, against the test host's keyboard (--device keyboard):
#   - the keyboard device is bound to hyperv_keyboard (its probe asks the
#     host for protocol 1.0 and waits for the answer);
#   - its serio port gets atkbd (built in), whose input device, "AT
#     Translated Set 2 keyboard" with the phys of the device's name (both
#     the serio port's phys and atkbd's "<port>/input0" are 32-byte
#     buffers: what is left is the name's first 31 characters), has an
#     evdev handler (QEMU's own i8042 keyboard has the same name, with
#     another phys);
#   - hv-keyboard.py reads that /dev/input/eventN while the host types
#     "hello" (control request keyboard-type hello): the press and the
#     release of KEY_H, KEY_E, KEY_L, KEY_L and KEY_O, in that order;
#   - the host counted one accepted protocol request and five keys, and no
#     bad message;
# then hyperv-keyboard, evdev and rvmbus unload cleanly.
SCEN=hv-keyboard
. /scenarios/lib.sh
KBD=/modules/linux/hyperv-keyboard.ko
EVDEV=$(ls /modules/evdev/*-evdev.ko 2>/dev/null | head -1)
PY=/usr/bin/python3
HELPER=/scenarios/hv-keyboard.py
KBD_CLASS=f912ad6d-2b17-48ea-bd65-f927a61c7684
INPUT_NAME="AT Translated Set 2 keyboard"
# KEY_H, KEY_E, KEY_L, KEY_L, KEY_O (linux/input-event-codes.h), each
# pressed (1) and released (0).
WANT="35:1 35:0 18:1 18:0 38:1 38:0 38:1 38:0 24:1 24:0"
[ -f $KBD ] || fail "no $KBD in the initramfs (make modules builds it)"
[ -n "$EVDEV" ] || fail "no evdev.ko in /modules/evdev/ (Debian's evdev; run.py's EVDEV_MODULES)"
[ -x $PY ] || fail "no Python in the initramfs (the scenario needs python=True)"

# The host's counter $1 of the keyboard of relid $relid.
kbd_stat() {
	harness ctl stats | tr ' ' '\n' | sed -n "s/^dev\.$relid\.keyboard\.$1=//p" | head -1
}

# "NAME|HANDLERS" of the input device whose phys is $1, from
# /proc/bus/input/devices (blocks of N:, P:, H: ... lines, each ended by
# an empty line); nothing if there is none.
input_of_phys() {
	awk -v want="$1" '
		/^N: Name=/ { n = substr($0, 10); sub(/"$/, "", n) }
		/^P: Phys=/ { p = substr($0, 9) }
		/^H: Handlers=/ { h = substr($0, 13) }
		/^$/ { if (p == want) print n "|" h; n = p = h = "" }
		END { if (p == want) print n "|" h }
	' /proc/bus/input/devices
}

insmod $MOD || fail "insmod rvmbus failed"
insmod $EVDEV || fail "insmod evdev failed"
if ! insmod $KBD 2>/tmp/insmod.err; then
	unknown=$(dmesg | sed -n 's/.*hyperv_keyboard: Unknown symbol \([A-Za-z0-9_]*\).*/\1/p' | sort -u | tr '\n' ' ')
	fail "insmod hyperv-keyboard failed: $(cat /tmp/insmod.err)${unknown:+; unknown symbols: $unknown}"
fi
[ -e /sys/module/rvmbus/holders/hyperv_keyboard ] || fail "hyperv-keyboard does not use rvmbus.ko's symbols"
[ -e /sys/module/hv_vmbus/holders ] && fail "hv_vmbus.ko is loaded"
t=$(cat /sys/module/hyperv_keyboard/taint)
case "$t" in *O*) ;; *) fail "the retargeted hyperv-keyboard is not out of tree (taint '$t')" ;; esac

# The device, bound once the driver's asynchronous probe has had the
# host's answer.
i=0
until dev=$(dev_of_class $KBD_CLASS) && [ "$(driver_of $dev)" = hyperv_keyboard ]; do
	i=$((i + 1)); [ $i -gt 100 ] &&
		fail "no keyboard device bound to hyperv_keyboard in 10 s (device: ${dev:-none}, driver: $([ -n "$dev" ] && driver_of $dev))"
	sleep 0.1
done
name=${dev##*/}
relid=$(cat $dev/id)
# The serio port's phys is the device's name cut to 31 characters, and
# atkbd's "<phys>/input0" is cut to the same 31.
phys=$(echo "$name/input0" | cut -c1-31)
echo "keyboard: $name, relid $relid, bound to $(driver_of $dev)"

# atkbd binds the serio port from the serio core's work, after the probe.
i=0
until [ -n "$(input_of_phys $phys)" ]; do
	i=$((i + 1)); [ $i -gt 100 ] &&
		fail "no input device of phys $phys in 10 s: $(grep -E '^(N|P|H):' /proc/bus/input/devices | tr '\n' ' ')"
	sleep 0.1
done
in=$(input_of_phys $phys)
iname=${in%%|*}
[ "$iname" = "$INPUT_NAME" ] || fail "the keyboard's input device is named '$iname', want '$INPUT_NAME'"
ev=$(echo "${in#*|}" | tr ' ' '\n' | grep -E '^event[0-9]+$' | head -1)
[ -n "$ev" ] || fail "the keyboard's input device has no evdev handler: '${in#*|}'"
[ -c /dev/input/$ev ] || fail "no /dev/input/$ev"
echo "@@NOTE hyperv_keyboard bound $name (relid $relid); its input device '$iname' ($phys) reads as /dev/input/$ev"
[ "$(kbd_stat protocol_ok)" = 1 ] || fail "the host's protocol_ok is '$(kbd_stat protocol_ok)', want 1"

rm -f /tmp/kbd.ready
$PY $HELPER read /dev/input/$ev /tmp/kbd.ready 10 >/tmp/kbd.out 2>&1 &
rpid=$!
i=0
until [ -f /tmp/kbd.ready ]; do
	kill -0 $rpid 2>/dev/null || fail "the reader exited before opening /dev/input/$ev: $(cat /tmp/kbd.out)"
	i=$((i + 1)); [ $i -gt 100 ] && fail "the reader did not open /dev/input/$ev in 10 s"
	sleep 0.1
done
r=$(harness ctl keyboard-type hello)
case "$r" in ok*) ;; *) fail "the host could not type: $r" ;; esac
wait $rpid
rc=$?
r=$(cat /tmp/kbd.out)
echo "reader: $r"
[ $rc = 0 ] || fail "the reader exited with $rc: $r"
[ "$r" = "ok $WANT" ] || fail "key events '${r#ok }', want '$WANT'"
echo "@@NOTE the host typed hello: KEY_H, KEY_E, KEY_L, KEY_L, KEY_O pressed and released in order on /dev/input/$ev"

stats=$(harness ctl stats | tr ' ' '\n' | grep "^dev\.$relid\.keyboard\." | tr '\n' ' ')
echo "host: $stats"
[ "$(kbd_stat protocol_ok)" = 1 ] || fail "protocol_ok: $stats"
[ "$(kbd_stat keys_sent)" = 5 ] || fail "keys_sent: $stats"
[ "$(kbd_stat bad)" = 0 ] || fail "bad messages: $stats"

mark
rmmod hyperv_keyboard || fail "rmmod hyperv-keyboard failed"
wait_new "hv_vmbus driver hyperv_keyboard unregistered; 0 channel structures of hv_vmbus drivers left" 20 ||
	fail "channel structures left: $(new_lines | grep 'channel structures')"
[ -n "$(input_of_phys $phys)" ] && fail "the keyboard's input device is still there after rmmod hyperv-keyboard"
[ -e $dev/driver ] && fail "$name is still bound after rmmod hyperv-keyboard"
rmmod evdev || fail "rmmod evdev failed"
mark
rmmod rvmbus || fail "rmmod rvmbus failed"
wait_new "rvmbus: shared pages: [0-9]+ allocations, every one freed" 20 ||
	fail "page audit: $(new_lines | grep 'shared pages')"
expect_no_kept_memory
pass "hyperv-keyboard (built out of tree for rvmbus) negotiated with the host's keyboard; the host's hello came out of /dev/input/$ev as the press and release of h, e, l, l, o; unloaded cleanly"
