#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Layout proof for rust/vmbus_proto: generates Rust bindings of Linux's own
# VMBus headers (include/linux/hyperv.h, drivers/hv/hyperv_vmbus.h, and
# netvsc's driver-private drivers/net/hyperv/hyperv_net.h for NVSP, RNDIS
# and the NDIS objects) with the
# kernel build environment's bindgen, inside its chroot, then runs
# rust/vmbus_proto/tests/layout.rs, which compares the size and every field
# offset of each wire structure with the C one.
#
# Needs the environment of scripts/setup-kenv.sh ($RVMBUS_CACHE/env.mk).
# Output: build/layout/kbindings.rs, build/layout/kstorvsc.rs (the
# storage protocol's structures, private to drivers/scsi/storvsc_drv.c,
# which bindgen reads itself) and build/layout/kkbd.rs (the synthetic
# keyboard's, private to drivers/input/serio/hyperv-keyboard.c, likewise).
# Exits non-zero on any mismatch.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${RVMBUS_CACHE:-$HOME/.cache/rvmbus}
ENVMK=$CACHE/env.mk

die() { printf 'layout-check: %s\n' "$*" >&2; exit 1; }

[ -f "$ENVMK" ] || die "no kernel environment ($ENVMK); run 'make setup' first"
mkval() { sed -n "s/^$1 := //p" "$ENVMK" | head -1; }
ROOT=$(mkval KROOT)
KSRC_IN=$(mkval KSRC_IN_CHROOT)
[ -n "$ROOT" ] && [ -n "$KSRC_IN" ] || die "KROOT or KSRC_IN_CHROOT missing in $ENVMK"
[ -d "$ROOT$KSRC_IN/include/generated" ] || die "kernel tree $ROOT$KSRC_IN is not prepared"
[ -x "$ROOT/usr/bin/bindgen" ] || die "no bindgen in the chroot $ROOT"
[ "$(id -u)" = 0 ] || die "must run as root (chroot)"

OUT=$REPO/build/layout
mkdir -p "$OUT"

# A scratch directory inside the chroot; removed however the script ends.
WORK=$(mktemp -d "$ROOT/tmp/rvmbus-layout.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
WORK_IN=${WORK#"$ROOT"}
# hyperv_net.h pulls in the networking headers, which want a module name
# (netlink's printing macros) and, with the function tracer configured,
# the compiler's fentry support (layout-neutral; bindgen compiles nothing).
cat >"$WORK/wrapper.h" <<'EOH'
#define KBUILD_MODNAME "rvmbus_layout"
#define CC_USING_FENTRY 1
#include <linux/hyperv.h>
#include "hyperv_vmbus.h"
#include "hyperv_net.h"
EOH

TYPES='hv_message_header|hv_message|hv_input_post_message'
TYPES+='|vmbus_channel_message_header|vmbus_channel_offer|vmbus_channel_offer_channel'
TYPES+='|vmbus_channel_rescind_offer|vmbus_channel_open_channel|vmbus_channel_open_result'
TYPES+='|vmbus_channel_modifychannel_response|vmbus_channel_close_channel'
TYPES+='|vmbus_channel_gpadl_header|gpa_range|vmbus_channel_gpadl_body'
TYPES+='|vmbus_channel_gpadl_created|vmbus_channel_gpadl_teardown|vmbus_channel_gpadl_torndown'
TYPES+='|vmbus_channel_relid_released|vmbus_channel_initiate_contact'
TYPES+='|vmbus_channel_version_response|vmbus_channel_tl_connect_request'
TYPES+='|vmbus_channel_modifychannel|hv_ring_buffer|vmpacket_descriptor'
TYPES+='|vmtransfer_page_range|vmtransfer_page_packet_header|vmdata_gpa_direct'
TYPES+='|hv_page_buffer|vmbus_channel_packet_page_buffer'
TYPES+='|vmbuspipe_hdr|ic_version|icmsg_hdr|icmsg_negotiate|heartbeat_msg_data'
TYPES+='|shutdown_msg_data|ictimesync_data|ictimesync_ref_data'
TYPES+='|hv_kvp_hdr|hv_kvp_exchg_msg_value|hv_kvp_msg_enumerate|hv_kvp_msg_delete'
TYPES+='|hv_kvp_ipaddr_value|hv_kvp_ip_msg|hv_vss_msg'
TYPES+='|hv_fcopy_hdr|hv_start_fcopy|hv_do_fcopy'
TYPES+='|hv_monitor_trigger_group|hv_monitor_parameter|hv_monitor_page'
TYPES+='|nvsp_message|nvsp_message_header|nvsp_message_init|nvsp_message_init_complete'
TYPES+='|nvsp_1_message_send_ndis_version|nvsp_1_message_send_receive_buffer'
TYPES+='|nvsp_1_receive_buffer_section|nvsp_1_message_send_receive_buffer_complete'
TYPES+='|nvsp_1_message_revoke_receive_buffer|nvsp_1_message_send_send_buffer'
TYPES+='|nvsp_1_message_send_send_buffer_complete|nvsp_1_message_revoke_send_buffer'
TYPES+='|nvsp_1_message_send_rndis_packet|nvsp_1_message_send_rndis_packet_complete'
TYPES+='|nvsp_2_send_ndis_config|nvsp_4_sw_datapath|nvsp_5_subchannel_request'
TYPES+='|nvsp_5_subchannel_complete|nvsp_5_send_indirect_table'
TYPES+='|rndis_message|rndis_initialize_request|rndis_initialize_complete|rndis_halt_request'
TYPES+='|rndis_query_request|rndis_query_complete|rndis_set_request|rndis_set_complete'
TYPES+='|rndis_reset_complete|rndis_indicate_status|rndis_keepalive_request'
TYPES+='|rndis_keepalive_complete|rndis_packet|rndis_per_packet_info'
TYPES+='|ndis_obj_header|ndis_recv_scale_cap|ndis_recv_scale_param|ndis_offload'

# The kernel's own C flags for x86_64 (as in scripts/mod/.empty.o.cmd),
# reduced to what matters for parsing, plus drivers/hv for the private
# header.
CFLAGS="-nostdinc -I arch/x86/include -I arch/x86/include/generated -I include"
CFLAGS+=" -I include/generated -I arch/x86/include/uapi -I arch/x86/include/generated/uapi"
CFLAGS+=" -I include/uapi -I include/generated/uapi -I drivers/hv -I drivers/net/hyperv"
CFLAGS+=" -include include/linux/compiler-version.h -include include/linux/kconfig.h"
CFLAGS+=" -include include/linux/compiler_types.h -D__KERNEL__ -DMODULE -D__BINDGEN__"
CFLAGS+=" -std=gnu11 -fms-extensions -fshort-wchar -funsigned-char -fno-common -fno-builtin"
CFLAGS+=" -m64 -mcmodel=kernel --target=x86_64-linux-gnu"
CFLAGS+=" -Wno-address-of-packed-member -Wno-ignored-attributes -Wno-duplicate-decl-specifier"
CFLAGS+=" -Wno-missing-declarations"

chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
	/bin/sh -c "cd '$KSRC_IN' && exec bindgen '$WORK_IN/wrapper.h' \
		--use-core --no-layout-tests --no-doc-comments --formatter none \
		--allowlist-type '$TYPES' -o '$WORK_IN/kbindings.rs' -- $CFLAGS" \
	>"$WORK/bindgen.log" 2>&1 || { grep -v warning "$WORK/bindgen.log" | tail -20 >&2; die "bindgen failed"; }
# The storage protocol's structures are private to storvsc_drv.c, so
# bindgen reads that file itself (as the kernel compiles it: as a module
# named hv_storvsc, with fentry).
STORVSC_TYPES='vstor_packet|vmscsi_request|vmstorage_channel_properties'
STORVSC_TYPES+='|vmstorage_protocol_version|hv_fc_wwn_packet'
echo '#include "../scsi/storvsc_drv.c"' >"$WORK/storvsc.h"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
	/bin/sh -c "cd '$KSRC_IN' && exec bindgen '$WORK_IN/storvsc.h' \
		--use-core --no-layout-tests --no-doc-comments --formatter none \
		--allowlist-type '$STORVSC_TYPES' -o '$WORK_IN/kstorvsc.rs' -- $CFLAGS \
		-DKBUILD_MODNAME=\\\"hv_storvsc\\\" -DCC_USING_FENTRY" \
	>"$WORK/bindgen-storvsc.log" 2>&1 ||
	{ grep -v warning "$WORK/bindgen-storvsc.log" | tail -20 >&2; die "bindgen of storvsc_drv.c failed"; }
cp "$WORK/kstorvsc.rs" "$OUT/kstorvsc.rs"
# The synthetic keyboard's messages are private to hyperv-keyboard.c
# (compiled as the module hyperv_keyboard).
KBD_TYPES='synth_kbd_msg_type|synth_kbd_msg_hdr|synth_kbd_protocol_request'
KBD_TYPES+='|synth_kbd_protocol_response|synth_kbd_keystroke'
echo '#include "../input/serio/hyperv-keyboard.c"' >"$WORK/kbd.h"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
	/bin/sh -c "cd '$KSRC_IN' && exec bindgen '$WORK_IN/kbd.h' \
		--use-core --no-layout-tests --no-doc-comments --formatter none \
		--allowlist-type '$KBD_TYPES' -o '$WORK_IN/kkbd.rs' -- $CFLAGS \
		-DKBUILD_MODNAME=\\\"hyperv_keyboard\\\" -DCC_USING_FENTRY" \
	>"$WORK/bindgen-kbd.log" 2>&1 ||
	{ grep -v warning "$WORK/bindgen-kbd.log" | tail -20 >&2; die "bindgen of hyperv-keyboard.c failed"; }
cp "$WORK/kkbd.rs" "$OUT/kkbd.rs"
# Rust refuses a packed struct (hv_ring_buffer, and netvsc's
# nvsp_2_vsc_capability) that contains a type with #[repr(align)]; bindgen
# puts one on the bitfield struct of feature_bits (and of the capability
# bits). Each union around such a struct has an integer member of that
# alignment's size (u32 feature_bits, u64 data), so dropping the attribute
# changes no offset or size.
sed -e 's/# \[repr (align (4))\] \(# \[derive ([A-Za-z ,]*)\] pub struct hv_ring_buffer__bindgen_ty_1__bindgen_ty_1 \)/\1/' \
	-e 's/# \[repr (align (8))\] \(# \[derive ([A-Za-z ,]*)\] pub struct nvsp_2_vsc_capability__bindgen_ty_1__bindgen_ty_1 \)/\1/' \
	"$WORK/kbindings.rs" >"$OUT/kbindings.rs"
grep -q 'repr (align (4))\] # \[derive ([A-Za-z ,]*)\] pub struct hv_ring_buffer__bindgen_ty_1__bindgen_ty_1 ' \
	"$OUT/kbindings.rs" && die "could not adjust hv_ring_buffer's bitfield struct"

cd "$REPO"
set +e
RVMBUS_KBINDINGS=$OUT/kbindings.rs RVMBUS_KSTORVSC=$OUT/kstorvsc.rs RVMBUS_KKBD=$OUT/kkbd.rs cargo test -q -p vmbus_proto --features layout-check \
	--test layout -- --nocapture >"$OUT/test.log" 2>&1
rc=$?
set -e
grep -E '^LAYOUT' "$OUT/test.log" || true
if [ $rc -ne 0 ]; then
	grep -E '^LAYOUT' "$OUT/test.log" >/dev/null || tail -30 "$OUT/test.log" >&2
	die "layout check failed (log: $OUT/test.log)"
fi
echo "layout-check: OK"
