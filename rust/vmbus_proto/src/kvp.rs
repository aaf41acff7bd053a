// SPDX-License-Identifier: GPL-2.0

//! The KVP exchange as the host speaks it: encoding requests
//! ([`encode_request`]) and reading the guest's answers
//! ([`parse_enumerate_answer`], [`parse_get_answer`], [`parse_ip_answer`]).
//!
//! The guest writes its answer into the request's own buffer and sends
//! back as many bytes as it received, so every request is encoded at the
//! full size of its body. Strings are UTF-16LE; an answer's strings are
//! returned as [`Utf16Str`] views, bounded by the sizes the guest claims
//! (checked against the field sizes) and by their first NUL.
//!
//! ```
//! use vmbus_proto::kvp::{encode_request, parse_enumerate_answer, KvpRequest};
//! use vmbus_proto::wire::kvp::KvpPool;
//!
//! let mut buf = [0u8; 2580];
//! let n = encode_request(&KvpRequest::Enumerate { pool: KvpPool::AUTO, index: 0 }, &mut buf).unwrap();
//! assert_eq!(n, 2580);
//! // An answer with no key: the guest has nothing at this index.
//! let a = parse_enumerate_answer(&buf[..n]).unwrap();
//! assert!(a.key.is_empty());
//! ```

use core::mem::offset_of;

use super::wire::kvp::{
    KvpExchgMsgValue, KvpHdr, KvpIpMsg, KvpIpaddrValue, KvpMsgDelete, KvpMsgEnumerate, KvpOp,
    KvpPool, KVP_MAX_KEY_SIZE, KVP_MAX_VALUE_SIZE, REG_SZ,
};
use super::wire::Wire;

pub use super::utf16::{put_utf16, Utf16Error, Utf16Str};

/// Why a KVP message could not be encoded or was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvpError {
    /// The message is shorter than its operation's body.
    Truncated {
        /// Bytes the operation needs.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// The output buffer is too small.
    BufferTooSmall,
    /// A key or value does not fit its field (with its terminator).
    TooLong,
    /// The answer is for another operation than the one asked.
    WrongOp {
        /// The operation asked.
        want: KvpOp,
        /// The operation in the answer.
        got: KvpOp,
    },
    /// A size field larger than its field, or odd.
    BadSize(u32),
    /// A value type other than `REG_SZ` in an answer.
    BadValueType(u32),
    /// A string that is not valid UTF-16 (an unpaired surrogate).
    BadUtf16,
}

impl From<Utf16Error> for KvpError {
    fn from(e: Utf16Error) -> Self {
        match e {
            Utf16Error::TooLong => KvpError::TooLong,
            Utf16Error::BadUtf16 => KvpError::BadUtf16,
            Utf16Error::BufferTooSmall => KvpError::BufferTooSmall,
        }
    }
}

/// A request of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvpRequest<'a> {
    /// The key and value at `index` of `pool`.
    Enumerate {
        /// The pool.
        pool: KvpPool,
        /// The index.
        index: u32,
    },
    /// The value of `key` in `pool`.
    Get {
        /// The pool.
        pool: KvpPool,
        /// The key.
        key: &'a str,
    },
    /// Sets `key` to the string `value` in `pool`.
    Set {
        /// The pool.
        pool: KvpPool,
        /// The key.
        key: &'a str,
        /// The value.
        value: &'a str,
    },
    /// Deletes `key` from `pool`.
    Delete {
        /// The pool.
        pool: KvpPool,
        /// The key.
        key: &'a str,
    },
    /// The IP configuration of the adapter `adapter_id` (its MAC address).
    GetIpInfo {
        /// The adapter.
        adapter_id: &'a str,
    },
}

impl KvpRequest<'_> {
    /// The operation.
    pub fn op(&self) -> KvpOp {
        match self {
            KvpRequest::Enumerate { .. } => KvpOp::ENUMERATE,
            KvpRequest::Get { .. } => KvpOp::GET,
            KvpRequest::Set { .. } => KvpOp::SET,
            KvpRequest::Delete { .. } => KvpOp::DELETE,
            KvpRequest::GetIpInfo { .. } => KvpOp::GET_IP_INFO,
        }
    }
}

/// Bytes of the KVP body of `op`: what the host sends and the guest answers.
pub fn body_size(op: KvpOp) -> usize {
    match op {
        KvpOp::ENUMERATE => KvpHdr::SIZE + KvpMsgEnumerate::SIZE,
        KvpOp::DELETE => KvpHdr::SIZE + KvpMsgDelete::SIZE,
        KvpOp::GET_IP_INFO | KvpOp::SET_IP_INFO => KvpIpMsg::SIZE,
        _ => KvpHdr::SIZE + KvpExchgMsgValue::SIZE,
    }
}

/// The largest KVP body.
pub const KVP_MAX_BODY: usize = KvpIpMsg::SIZE;

// Byte offsets inside a body; the wire structs have no implicit padding, so
// their Rust offsets are the wire offsets.
const ENUM_DATA: usize = KvpHdr::SIZE + offset_of!(KvpMsgEnumerate, data);
const GET_DATA: usize = KvpHdr::SIZE;
const VALUE_TYPE: usize = offset_of!(KvpExchgMsgValue, value_type);
const KEY_SIZE: usize = offset_of!(KvpExchgMsgValue, key_size);
const VALUE_SIZE: usize = offset_of!(KvpExchgMsgValue, value_size);
const KEY: usize = offset_of!(KvpExchgMsgValue, key);
const VALUE: usize = offset_of!(KvpExchgMsgValue, value);
const IP_VAL: usize = offset_of!(KvpIpMsg, kvp_ip_val);

/// The `len` bytes of `out` at `at`.
fn field(out: &mut [u8], at: usize, len: usize) -> Result<&mut [u8], KvpError> {
    out.get_mut(at..at + len).ok_or(KvpError::BufferTooSmall)
}

/// Encodes `req` into `buf`; returns the body's length ([`body_size`]).
pub fn encode_request(req: &KvpRequest<'_>, buf: &mut [u8]) -> Result<usize, KvpError> {
    let op = req.op();
    let n = body_size(op);
    let out = buf.get_mut(..n).ok_or(KvpError::BufferTooSmall)?;
    out.fill(0);
    let put_u32 = |out: &mut [u8], at: usize, v: u32| {
        let mut off = at;
        v.put(out, &mut off).ok_or(KvpError::BufferTooSmall)
    };
    let pool = match *req {
        KvpRequest::Enumerate { pool, index } => {
            put_u32(out, KvpHdr::SIZE, index)?;
            pool
        }
        KvpRequest::Get { pool, key } => {
            let k = put_utf16(key, field(out, GET_DATA + KEY, KVP_MAX_KEY_SIZE)?)?;
            put_u32(out, GET_DATA + KEY_SIZE, k as u32)?;
            pool
        }
        KvpRequest::Set { pool, key, value } => {
            let k = put_utf16(key, field(out, GET_DATA + KEY, KVP_MAX_KEY_SIZE)?)?;
            let v = put_utf16(value, field(out, GET_DATA + VALUE, KVP_MAX_VALUE_SIZE)?)?;
            put_u32(out, GET_DATA + VALUE_TYPE, REG_SZ)?;
            put_u32(out, GET_DATA + KEY_SIZE, k as u32)?;
            put_u32(out, GET_DATA + VALUE_SIZE, v as u32)?;
            pool
        }
        KvpRequest::Delete { pool, key } => {
            let at = KvpHdr::SIZE + offset_of!(KvpMsgDelete, key);
            let k = put_utf16(key, field(out, at, KVP_MAX_KEY_SIZE)?)?;
            put_u32(
                out,
                KvpHdr::SIZE + offset_of!(KvpMsgDelete, key_size),
                k as u32,
            )?;
            pool
        }
        KvpRequest::GetIpInfo { adapter_id } => {
            let at = IP_VAL + offset_of!(KvpIpaddrValue, adapter_id);
            put_utf16(
                adapter_id,
                field(out, at, 2 * super::wire::kvp::MAX_ADAPTER_ID_SIZE)?,
            )?;
            KvpPool::EXTERNAL
        }
    };
    // The IP message has no padding field: its header is two bytes.
    let mut off = 0;
    op.put(out, &mut off).ok_or(KvpError::BufferTooSmall)?;
    pool.put(out, &mut off).ok_or(KvpError::BufferTooSmall)?;
    Ok(n)
}

/// A key and its string value from an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvpPair<'a> {
    /// The key (empty where the guest had none at an index).
    pub key: Utf16Str<'a>,
    /// The value.
    pub value: Utf16Str<'a>,
}

fn check_op(body: &[u8], want: KvpOp) -> Result<(), KvpError> {
    let need = body_size(want);
    if body.len() < need {
        return Err(KvpError::Truncated {
            need,
            have: body.len(),
        });
    }
    let got = KvpOp::read_from(body).ok_or(KvpError::Truncated { need, have: 0 })?;
    if got != want {
        return Err(KvpError::WrongOp { want, got });
    }
    Ok(())
}

fn read_u32(body: &[u8], at: usize) -> Result<u32, KvpError> {
    let mut off = at;
    u32::get(body, &mut off).ok_or(KvpError::Truncated {
        need: at + 4,
        have: body.len(),
    })
}

/// A string field of `max` bytes at `at` whose claimed size is `size`.
fn sized_str(body: &[u8], at: usize, size: u32, max: usize) -> Result<Utf16Str<'_>, KvpError> {
    let n = usize::try_from(size).map_err(|_| KvpError::BadSize(size))?;
    if n > max || n % 2 != 0 {
        return Err(KvpError::BadSize(size));
    }
    let f = body.get(at..at + n).ok_or(KvpError::Truncated {
        need: at + n,
        have: body.len(),
    })?;
    Ok(Utf16Str::from_field(f))
}

fn pair_at(body: &[u8], data: usize, with_key: bool) -> Result<KvpPair<'_>, KvpError> {
    let value_type = read_u32(body, data + VALUE_TYPE)?;
    let key_size = read_u32(body, data + KEY_SIZE)?;
    let value_size = read_u32(body, data + VALUE_SIZE)?;
    let key = if with_key {
        sized_str(body, data + KEY, key_size, KVP_MAX_KEY_SIZE)?
    } else {
        Utf16Str::empty()
    };
    // An index the guest does not know comes back without a key and value,
    // whatever the type says.
    if with_key && key.is_empty() && value_size == 0 {
        return Ok(KvpPair { key, value: key });
    }
    if value_type != REG_SZ {
        return Err(KvpError::BadValueType(value_type));
    }
    let value = sized_str(body, data + VALUE, value_size, KVP_MAX_VALUE_SIZE)?;
    Ok(KvpPair { key, value })
}

/// Reads the answer to an `ENUMERATE` request.
pub fn parse_enumerate_answer(body: &[u8]) -> Result<KvpPair<'_>, KvpError> {
    check_op(body, KvpOp::ENUMERATE)?;
    pair_at(body, ENUM_DATA, true)
}

/// Reads the answer to a `GET` request: the value (the key is the one
/// asked, and is not returned).
pub fn parse_get_answer(body: &[u8]) -> Result<Utf16Str<'_>, KvpError> {
    check_op(body, KvpOp::GET)?;
    Ok(pair_at(body, GET_DATA, false)?.value)
}

/// An adapter's IP configuration from a `GET_IP_INFO` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo<'a> {
    /// `ADDR_FAMILY_*` flags.
    pub addr_family: u8,
    /// Whether DHCP configures the adapter.
    pub dhcp_enabled: bool,
    /// The adapter.
    pub adapter_id: Utf16Str<'a>,
    /// Addresses.
    pub ip_addr: Utf16Str<'a>,
    /// Subnet masks.
    pub sub_net: Utf16Str<'a>,
    /// Gateways.
    pub gate_way: Utf16Str<'a>,
    /// DNS servers.
    pub dns_addr: Utf16Str<'a>,
}

/// Reads the answer to a `GET_IP_INFO` request.
pub fn parse_ip_answer(body: &[u8]) -> Result<IpInfo<'_>, KvpError> {
    check_op(body, KvpOp::GET_IP_INFO)?;
    let f = |off: usize, units: usize| -> Result<Utf16Str<'_>, KvpError> {
        let at = IP_VAL + off;
        body.get(at..at + 2 * units)
            .map(Utf16Str::from_field)
            .ok_or(KvpError::Truncated {
                need: at + 2 * units,
                have: body.len(),
            })
    };
    use super::wire::kvp::{MAX_ADAPTER_ID_SIZE, MAX_GATEWAY_SIZE, MAX_IP_ADDR_SIZE};
    let byte = |off: usize| body.get(IP_VAL + off).copied().unwrap_or(0);
    Ok(IpInfo {
        addr_family: byte(offset_of!(KvpIpaddrValue, addr_family)),
        dhcp_enabled: byte(offset_of!(KvpIpaddrValue, dhcp_enabled)) != 0,
        adapter_id: f(offset_of!(KvpIpaddrValue, adapter_id), MAX_ADAPTER_ID_SIZE)?,
        ip_addr: f(offset_of!(KvpIpaddrValue, ip_addr), MAX_IP_ADDR_SIZE)?,
        sub_net: f(offset_of!(KvpIpaddrValue, sub_net), MAX_IP_ADDR_SIZE)?,
        gate_way: f(offset_of!(KvpIpaddrValue, gate_way), MAX_GATEWAY_SIZE)?,
        dns_addr: f(offset_of!(KvpIpaddrValue, dns_addr), MAX_IP_ADDR_SIZE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: Utf16Str<'_>) -> [u8; 64] {
        let mut out = [0u8; 64];
        s.decode_into(&mut out).unwrap();
        out
    }

    fn same(s: Utf16Str<'_>, want: &str) {
        let t = text(s);
        assert_eq!(&t[..want.len()], want.as_bytes());
        assert!(t[want.len()..].iter().all(|&b| b == 0));
    }

    /// Writes an enumerate answer as Linux's hv_kvp does into `buf`.
    fn answer(buf: &mut [u8], key: &str, value: &str) {
        let k = put_utf16(key, &mut buf[ENUM_DATA + KEY..ENUM_DATA + VALUE]).unwrap();
        let v = put_utf16(value, &mut buf[ENUM_DATA + VALUE..]).unwrap();
        buf[ENUM_DATA + VALUE_TYPE..][..4].copy_from_slice(&REG_SZ.to_le_bytes());
        buf[ENUM_DATA + KEY_SIZE..][..4].copy_from_slice(&(k as u32).to_le_bytes());
        buf[ENUM_DATA + VALUE_SIZE..][..4].copy_from_slice(&(v as u32).to_le_bytes());
    }

    #[test]
    fn offsets_match_linux() {
        assert_eq!(ENUM_DATA, 8);
        assert_eq!(KEY, 12);
        assert_eq!(VALUE, 524);
        assert_eq!(IP_VAL, 2);
        assert_eq!(offset_of!(KvpIpaddrValue, ip_addr), 258);
        assert_eq!(body_size(KvpOp::ENUMERATE), 2580);
        assert_eq!(body_size(KvpOp::SET), 2576);
        assert_eq!(body_size(KvpOp::DELETE), 520);
        assert_eq!(body_size(KvpOp::GET_IP_INFO), 7428);
    }

    #[test]
    fn set_request_bytes() {
        let mut buf = [0xffu8; KVP_MAX_BODY];
        let n = encode_request(
            &KvpRequest::Set {
                pool: KvpPool::EXTERNAL,
                key: "Ab",
                value: "é",
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, 2576);
        assert_eq!(&buf[..4], &[1, 0, 0, 0]);
        assert_eq!(&buf[4..16], &[1, 0, 0, 0, 6, 0, 0, 0, 4, 0, 0, 0]);
        assert_eq!(&buf[16..22], &[b'A', 0, b'b', 0, 0, 0]);
        assert_eq!(&buf[4 + VALUE..4 + VALUE + 4], &[0xe9, 0, 0, 0]);
        assert_eq!(buf[n - 1], 0);
    }

    #[test]
    fn enumerate_round_trip() {
        let mut buf = [0u8; KVP_MAX_BODY];
        let req = KvpRequest::Enumerate {
            pool: KvpPool::AUTO,
            index: 2,
        };
        let n = encode_request(&req, &mut buf).unwrap();
        assert_eq!(&buf[..8], &[3, 2, 0, 0, 2, 0, 0, 0]);
        answer(&mut buf, "NetworkAddressIPv4", "192.0.2.7");
        let p = parse_enumerate_answer(&buf[..n]).unwrap();
        same(p.key, "NetworkAddressIPv4");
        same(p.value, "192.0.2.7");
    }

    #[test]
    fn get_and_delete_requests() {
        let mut buf = [0u8; KVP_MAX_BODY];
        let n = encode_request(
            &KvpRequest::Get {
                pool: KvpPool::GUEST,
                key: "k",
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(&buf[..2], &[0, 1]);
        assert_eq!(&buf[8..12], &[4, 0, 0, 0]);
        let v = put_utf16("v1", &mut buf[4 + VALUE..]).unwrap();
        buf[4..8].copy_from_slice(&REG_SZ.to_le_bytes());
        buf[12..16].copy_from_slice(&(v as u32).to_le_bytes());
        same(parse_get_answer(&buf[..n]).unwrap(), "v1");
        let n = encode_request(
            &KvpRequest::Delete {
                pool: KvpPool::GUEST,
                key: "k",
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, 520);
        assert_eq!(&buf[..10], &[2, 1, 0, 0, 4, 0, 0, 0, b'k', 0]);
    }

    #[test]
    fn ip_info_round_trip() {
        let mut buf = [0u8; KVP_MAX_BODY];
        let n = encode_request(
            &KvpRequest::GetIpInfo {
                adapter_id: "52:54:00:12:34:56",
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, 7428);
        assert_eq!(&buf[..4], &[4, 0, b'5', 0]);
        buf[2 + 256] = 1;
        put_utf16("10.0.0.2;", &mut buf[2 + 258..]).unwrap();
        let ip = parse_ip_answer(&buf[..n]).unwrap();
        assert_eq!(ip.addr_family, 1);
        same(ip.adapter_id, "52:54:00:12:34:56");
        same(ip.ip_addr, "10.0.0.2;");
        assert!(ip.dns_addr.is_empty());
    }

    #[test]
    fn unknown_index_is_empty() {
        let mut buf = [0u8; KVP_MAX_BODY];
        let n = encode_request(
            &KvpRequest::Enumerate {
                pool: KvpPool::AUTO,
                index: 99,
            },
            &mut buf,
        )
        .unwrap();
        let p = parse_enumerate_answer(&buf[..n]).unwrap();
        assert!(p.key.is_empty() && p.value.is_empty());
    }

    #[test]
    fn malformed_answers() {
        let mut buf = [0u8; KVP_MAX_BODY];
        let n = encode_request(
            &KvpRequest::Enumerate {
                pool: KvpPool::AUTO,
                index: 0,
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(
            parse_enumerate_answer(&buf[..n - 1]),
            Err(KvpError::Truncated {
                need: n,
                have: n - 1
            })
        );
        assert_eq!(
            parse_enumerate_answer(&[]),
            Err(KvpError::Truncated { need: n, have: 0 })
        );
        assert_eq!(
            parse_get_answer(&buf[..n]),
            Err(KvpError::WrongOp {
                want: KvpOp::GET,
                got: KvpOp::ENUMERATE
            })
        );
        answer(&mut buf, "k", "v");
        // A key size past the key field, an odd size, a huge size.
        for bad in [514u32, 3, u32::MAX] {
            buf[ENUM_DATA + KEY_SIZE..][..4].copy_from_slice(&bad.to_le_bytes());
            assert_eq!(
                parse_enumerate_answer(&buf[..n]),
                Err(KvpError::BadSize(bad))
            );
        }
        buf[ENUM_DATA + KEY_SIZE..][..4].copy_from_slice(&4u32.to_le_bytes());
        buf[ENUM_DATA + VALUE_SIZE..][..4].copy_from_slice(&2050u32.to_le_bytes());
        assert_eq!(
            parse_enumerate_answer(&buf[..n]),
            Err(KvpError::BadSize(2050))
        );
        buf[ENUM_DATA + VALUE_SIZE..][..4].copy_from_slice(&4u32.to_le_bytes());
        buf[ENUM_DATA + VALUE_TYPE..][..4].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            parse_enumerate_answer(&buf[..n]),
            Err(KvpError::BadValueType(4))
        );
        buf[ENUM_DATA + VALUE_TYPE..][..4].copy_from_slice(&REG_SZ.to_le_bytes());
        // An unpaired surrogate in the value.
        buf[ENUM_DATA + VALUE..][..2].copy_from_slice(&0xd800u16.to_le_bytes());
        let p = parse_enumerate_answer(&buf[..n]).unwrap();
        assert_eq!(
            p.value.decode_into(&mut [0u8; 16]),
            Err(Utf16Error::BadUtf16)
        );
        // A string fills the field without a terminator: it ends there.
        buf[ENUM_DATA + KEY..][..2].copy_from_slice(&[b'x', 0]);
        buf[ENUM_DATA + KEY + 2..][..2].copy_from_slice(&[b'y', 0]);
        let p = parse_enumerate_answer(&buf[..n]).unwrap();
        same(p.key, "xy");
        // An output buffer too small for the text.
        assert_eq!(
            p.key.decode_into(&mut [0u8; 1]),
            Err(Utf16Error::BufferTooSmall)
        );
    }

    #[test]
    fn too_long_and_small_buffer() {
        let mut buf = [0u8; KVP_MAX_BODY];
        // 256 characters: one unit too many with the terminator.
        let bytes = [b'k'; 256];
        let long = core::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            encode_request(
                &KvpRequest::Get {
                    pool: KvpPool::GUEST,
                    key: long
                },
                &mut buf
            ),
            Err(KvpError::TooLong)
        );
        assert_eq!(
            encode_request(
                &KvpRequest::Enumerate {
                    pool: KvpPool::AUTO,
                    index: 0
                },
                &mut buf[..100]
            ),
            Err(KvpError::BufferTooSmall)
        );
    }
}
