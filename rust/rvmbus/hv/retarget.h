/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Retargets Linux's own VMBus drivers at rvmbus.
 *
 * On kernels whose hv_vmbus is built in (Debian's cloud kernel), vmlinux
 * already exports vmbus_open() and the rest of hv_vmbus's driver interface,
 * so rvmbus.ko cannot export the same names.  It exports them with the
 * prefix rvmbus_hv_ instead (the C files in hv/, through this header),
 * and a driver built from Linux's unchanged source is compiled with this
 * header forced in front of every file (ccflags-y += -include
 * .../hv/retarget.h; see
 * linux-drivers/hv_utils/Kbuild): each name hv_vmbus exports becomes its
 * rvmbus_hv_ twin, in the kernel's own prototypes of <linux/hyperv.h> and
 * drivers/hv/hyperv_vmbus.h as well as at every call, so the compiler
 * checks each call against the kernel's own declaration and the module
 * imports only rvmbus_hv_* symbols.
 *
 * The list is every EXPORT_SYMBOL* of hv_vmbus's objects (vmbus_drv.c,
 * hv.c, connection.c, channel.c, channel_mgmt.c, ring_buffer.c) in Linux
 * 7.3, whether rvmbus implements it or not: a driver that needs one that
 * rvmbus lacks fails at modpost and at load ("Unknown symbol
 * rvmbus_hv_..."), never silently reaching the built-in hv_vmbus.
 * scripts/linux-modules.sh checks the list against the kernel's sources
 * and each built module's imports.
 *
 * rvmbus's own C files of the interface (in hv/) include it first too and
 * define each function under hv_vmbus's name, so that their definitions
 * are renamed alike and checked against the same prototypes.
 *
 * On kernels whose hv_vmbus is a module (CONFIG_HYPERV_VMBUS=m, the debug
 * kernel of the tests) or absent, no name is taken, and the header renames
 * nothing: rvmbus.ko exports hv_vmbus's own names, so that the kernel's own
 * unmodified driver modules (hv_utils.ko, hv_storvsc.ko, ...) load against
 * it, in place of hv_vmbus.ko.  Kbuild includes <linux/kconfig.h> before
 * any -include of a module's flags, so IS_BUILTIN() is defined here.
 * Kernels older than CONFIG_HYPERV_VMBUS built hv_vmbus under
 * CONFIG_HYPERV, which the second test covers.
 */
#ifndef RVMBUS_HV_RETARGET_H
#define RVMBUS_HV_RETARGET_H

#if IS_BUILTIN(CONFIG_HYPERV_VMBUS) || \
	(!IS_ENABLED(CONFIG_HYPERV_VMBUS) && IS_BUILTIN(CONFIG_HYPERV))

#define __hv_pkt_iter_next rvmbus_hv___hv_pkt_iter_next
#define __vmbus_driver_register rvmbus_hv___vmbus_driver_register
#define __vmbus_request_addr_match rvmbus_hv___vmbus_request_addr_match
#define hv_context rvmbus_hv_hv_context
#define hv_create_ring_sysfs rvmbus_hv_hv_create_ring_sysfs
#define hv_get_vmbus_root_device rvmbus_hv_hv_get_vmbus_root_device
#define hv_pkt_iter_close rvmbus_hv_hv_pkt_iter_close
#define hv_pkt_iter_first rvmbus_hv_hv_pkt_iter_first
#define hv_post_message rvmbus_hv_hv_post_message
#define hv_remove_ring_sysfs rvmbus_hv_hv_remove_ring_sysfs
#define hv_ringbuffer_get_debuginfo rvmbus_hv_hv_ringbuffer_get_debuginfo
#define hv_ringbuffer_spinlock_busy rvmbus_hv_hv_ringbuffer_spinlock_busy
#define hv_vmbus_exists rvmbus_hv_hv_vmbus_exists
#define vmbus_alloc_buffer rvmbus_hv_vmbus_alloc_buffer
#define vmbus_alloc_ring rvmbus_hv_vmbus_alloc_ring
#define vmbus_allocate_mmio rvmbus_hv_vmbus_allocate_mmio
#define vmbus_close rvmbus_hv_vmbus_close
#define vmbus_connect_ring rvmbus_hv_vmbus_connect_ring
#define vmbus_connection rvmbus_hv_vmbus_connection
#define vmbus_device_unregister rvmbus_hv_vmbus_device_unregister
#define vmbus_devs rvmbus_hv_vmbus_devs
#define vmbus_disconnect_ring rvmbus_hv_vmbus_disconnect_ring
#define vmbus_driver_unregister rvmbus_hv_vmbus_driver_unregister
#define vmbus_establish_gpadl rvmbus_hv_vmbus_establish_gpadl
#define vmbus_establish_gpadl_caller_decrypted rvmbus_hv_vmbus_establish_gpadl_caller_decrypted
#define vmbus_free_buffer rvmbus_hv_vmbus_free_buffer
#define vmbus_free_mmio rvmbus_hv_vmbus_free_mmio
#define vmbus_free_ring rvmbus_hv_vmbus_free_ring
#define vmbus_hvsock_device_unregister rvmbus_hv_vmbus_hvsock_device_unregister
#define vmbus_initiate_unload rvmbus_hv_vmbus_initiate_unload
#define vmbus_is_confidential rvmbus_hv_vmbus_is_confidential
#define vmbus_isr rvmbus_hv_vmbus_isr
#define vmbus_next_request_id rvmbus_hv_vmbus_next_request_id
#define vmbus_open rvmbus_hv_vmbus_open
#define vmbus_prep_negotiate_resp rvmbus_hv_vmbus_prep_negotiate_resp
#define vmbus_proto_version rvmbus_hv_vmbus_proto_version
#define vmbus_recvpacket rvmbus_hv_vmbus_recvpacket
#define vmbus_recvpacket_raw rvmbus_hv_vmbus_recvpacket_raw
#define vmbus_request_addr rvmbus_hv_vmbus_request_addr
#define vmbus_request_addr_match rvmbus_hv_vmbus_request_addr_match
#define vmbus_send_modifychannel rvmbus_hv_vmbus_send_modifychannel
#define vmbus_send_tl_connect_request rvmbus_hv_vmbus_send_tl_connect_request
#define vmbus_sendpacket rvmbus_hv_vmbus_sendpacket
#define vmbus_sendpacket_getid rvmbus_hv_vmbus_sendpacket_getid
#define vmbus_sendpacket_mpb_desc rvmbus_hv_vmbus_sendpacket_mpb_desc
#define vmbus_set_chn_rescind_callback rvmbus_hv_vmbus_set_chn_rescind_callback
#define vmbus_set_event rvmbus_hv_vmbus_set_event
#define vmbus_set_sc_create_callback rvmbus_hv_vmbus_set_sc_create_callback
#define vmbus_set_skip_unload rvmbus_hv_vmbus_set_skip_unload
#define vmbus_setevent rvmbus_hv_vmbus_setevent
#define vmbus_teardown_gpadl rvmbus_hv_vmbus_teardown_gpadl

#endif /* hv_vmbus built in */

#endif /* RVMBUS_HV_RETARGET_H */
