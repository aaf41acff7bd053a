// SPDX-License-Identifier: GPL-2.0

//! Key-value pair (KVP) exchange messages, the body of an IC message of
//! type `KVPEXCHANGE`, as the host sends them and the guest answers them
//! (`include/uapi/linux/hyperv.h`).
//!
//! Every KVP body starts with a [`KvpHdr`]; what follows depends on the
//! operation. Keys and values travel as UTF-16LE strings with a NUL
//! terminator, their sizes counted in bytes including the terminator.
//! The guest answers in the same buffer, so the host sends each body at
//! its full size.

use super::Wire;

/// Bytes of a value, terminator included (`HV_KVP_EXCHANGE_MAX_VALUE_SIZE`).
pub const KVP_MAX_VALUE_SIZE: usize = 2048;
/// Bytes of a key, terminator included (`HV_KVP_EXCHANGE_MAX_KEY_SIZE`).
pub const KVP_MAX_KEY_SIZE: usize = 512;
/// UTF-16 units of an adapter id (`MAX_ADAPTER_ID_SIZE`).
pub const MAX_ADAPTER_ID_SIZE: usize = 128;
/// UTF-16 units of an address list (`MAX_IP_ADDR_SIZE`).
pub const MAX_IP_ADDR_SIZE: usize = 1024;
/// UTF-16 units of a gateway list (`MAX_GATEWAY_SIZE`).
pub const MAX_GATEWAY_SIZE: usize = 512;

/// Registry value type: a string.
pub const REG_SZ: u32 = 1;
/// Registry value type: a 32-bit number.
pub const REG_U32: u32 = 4;
/// Registry value type: a 64-bit number.
pub const REG_U64: u32 = 8;

/// Address family flag: IPv4.
pub const ADDR_FAMILY_IPV4: u8 = 1;
/// Address family flag: IPv6.
pub const ADDR_FAMILY_IPV6: u8 = 2;

open_enum! {
    /// `enum hv_kvp_exchg_op`.
    pub struct KvpOp(u8);
    {
        /// Read a key of a pool.
        GET = 0,
        /// Write a key of a pool.
        SET = 1,
        /// Delete a key of a pool.
        DELETE = 2,
        /// Name the key at an index of a pool, with its value.
        ENUMERATE = 3,
        /// Read an adapter's IP configuration.
        GET_IP_INFO = 4,
        /// Write an adapter's IP configuration.
        SET_IP_INFO = 5,
    }
}

open_enum! {
    /// `enum hv_kvp_exchg_pool`.
    pub struct KvpPool(u8);
    {
        /// Written by the host, read by the guest.
        EXTERNAL = 0,
        /// Written by the guest, read by the host.
        GUEST = 1,
        /// The guest's own facts (host name, addresses, OS), by index.
        AUTO = 2,
        /// Written by the host, automatically.
        AUTO_EXTERNAL = 3,
        /// Written by the guest, automatically.
        AUTO_INTERNAL = 4,
    }
}

wire_struct! {
    /// `struct hv_kvp_hdr`.
    pub struct KvpHdr, size 4;
    {
        /// [`KvpOp`].
        pub operation: KvpOp,
        /// [`KvpPool`].
        pub pool: KvpPool,
        /// Padding.
        pub pad: u16,
    }
}

wire_struct! {
    /// `struct hv_kvp_exchg_msg_value`: a key and its value.
    pub struct KvpExchgMsgValue, size 2572;
    {
        /// `REG_*`.
        pub value_type: u32,
        /// Bytes of `key` in use, terminator included.
        pub key_size: u32,
        /// Bytes of `value` in use, terminator included.
        pub value_size: u32,
        /// The key, UTF-16LE.
        pub key: [u8; KVP_MAX_KEY_SIZE],
        /// The value: UTF-16LE for `REG_SZ`, else a little-endian number.
        pub value: [u8; KVP_MAX_VALUE_SIZE],
    }
}

wire_struct! {
    /// `struct hv_kvp_msg_enumerate`.
    pub struct KvpMsgEnumerate, size 2576;
    {
        /// The index asked for.
        pub index: u32,
        /// The key and value the guest named for it.
        pub data: KvpExchgMsgValue,
    }
}

wire_struct! {
    /// `struct hv_kvp_msg_delete`.
    pub struct KvpMsgDelete, size 516;
    {
        /// Bytes of `key` in use, terminator included.
        pub key_size: u32,
        /// The key, UTF-16LE.
        pub key: [u8; KVP_MAX_KEY_SIZE],
    }
}

wire_struct! {
    /// `struct hv_kvp_ipaddr_value`: one adapter's IP configuration, every
    /// list a UTF-16LE string of `;`-separated entries.
    pub struct KvpIpaddrValue, size 7426;
    {
        /// The adapter (its MAC address, as the guest prints it).
        pub adapter_id: [u16; MAX_ADAPTER_ID_SIZE],
        /// `ADDR_FAMILY_*` flags.
        pub addr_family: u8,
        /// Whether DHCP configures the adapter.
        pub dhcp_enabled: u8,
        /// Addresses.
        pub ip_addr: [u16; MAX_IP_ADDR_SIZE],
        /// Subnet masks.
        pub sub_net: [u16; MAX_IP_ADDR_SIZE],
        /// Gateways.
        pub gate_way: [u16; MAX_GATEWAY_SIZE],
        /// DNS servers.
        pub dns_addr: [u16; MAX_IP_ADDR_SIZE],
    }
}

wire_struct! {
    /// `struct hv_kvp_ip_msg`: the body of `GET_IP_INFO` and `SET_IP_INFO`
    /// (no padding between the operation and the value).
    pub struct KvpIpMsg, size 7428;
    {
        /// [`KvpOp`].
        pub operation: KvpOp,
        /// [`KvpPool`].
        pub pool: KvpPool,
        /// The configuration.
        pub kvp_ip_val: KvpIpaddrValue,
    }
}
