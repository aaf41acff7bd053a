// SPDX-License-Identifier: GPL-2.0

//! Property tests of the IC framework: arbitrary bytes never make decoding
//! or answering panic, and every request the host can build is answered
//! with a version both sides list.

use proptest::prelude::*;
use vmbus_proto::ic;
use vmbus_proto::wire::ic::IcVersion;

fn version() -> impl Strategy<Value = IcVersion> {
    (0u16..5, 0u16..3).prop_map(|(a, b)| IcVersion::new(a, b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn decode_never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = ic::parse(&b);
        let _ = ic::parse_negotiate(&b);
        let _ = ic::parse_negotiate_response(&b);
        let mut out = [0u8; 256];
        let _ = ic::answer_negotiate(&b, &mut out, &[IcVersion::new(3, 0)], &[IcVersion::new(1, 0)]);
        let mut copy = b.clone();
        let _ = ic::make_response(&mut copy, 0);
    }

    #[test]
    fn negotiation_agrees(
        hf in prop::collection::vec(version(), 0..6),
        hm in prop::collection::vec(version(), 0..6),
        gf in prop::collection::vec(version(), 0..6),
        gm in prop::collection::vec(version(), 0..6),
    ) {
        let mut req = [0u8; 128];
        let n = ic::build_negotiate_request(&mut req, &hf, &hm, 3).unwrap();
        let mut resp = [0u8; 128];
        let (len, chosen) = ic::answer_negotiate(&req[..n], &mut resp, &gf, &gm).unwrap();
        prop_assert_eq!(ic::parse_negotiate_response(&resp[..len]).unwrap(), chosen);
        if let Some((f, m)) = chosen {
            prop_assert!(hf.contains(&f) && gf.contains(&f));
            prop_assert!(hm.contains(&m) && gm.contains(&m));
            prop_assert!(hf.iter().filter(|v| gf.contains(v)).all(|v| (v.major, v.minor) <= (f.major, f.minor)));
        } else {
            prop_assert!(!hf.iter().any(|v| gf.contains(v)) || !hm.iter().any(|v| gm.contains(v)));
        }
    }
}
