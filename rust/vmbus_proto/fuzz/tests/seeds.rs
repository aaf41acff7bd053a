// SPDX-License-Identifier: GPL-2.0

//! The seed corpus: what is kept in git is what the generator makes, no
//! seed (and no saved regression) crashes its target, and the host
//! sessions get as deep as they are meant to.

use std::collections::BTreeMap;
use std::path::Path;

use vmbus_host::server::VmbusServer;
use vmbus_proto_fuzz::{host, seeds, target, TARGETS};

fn seed(target: &str, name: &str) -> Vec<u8> {
    seeds::all()
        .into_iter()
        .find(|(t, n, _)| *t == target && n == name)
        .map(|(_, _, b)| b)
        .unwrap_or_else(|| panic!("no seed {target}/{name}"))
}

/// The host's counters as `key=value` lines, by key.
fn stats(rig: &host::Rig) -> BTreeMap<String, u64> {
    let mut out = Vec::new();
    VmbusServer::stats(&rig.server, &mut out);
    out.iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

#[test]
fn committed_seeds_are_the_generated_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let made = seeds::all();
    let mut on_disk = 0;
    for (t, _) in TARGETS {
        let d = dir.join(t);
        let n = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .count();
        assert!(n > 0, "no seeds for {t}");
        on_disk += n;
    }
    assert_eq!(on_disk, made.len(), "run fuzz-seeds to update seeds/");
    for (t, name, bytes) in made {
        let p = dir.join(t).join(&name);
        let kept = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(kept == bytes, "{t}/{name} differs: run fuzz-seeds");
    }
}

#[test]
fn seeds_and_regressions_run() {
    for (t, _, bytes) in seeds::all() {
        target(t).expect("a target")(&bytes);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    for (t, f) in TARGETS {
        if let Ok(entries) = std::fs::read_dir(dir.join(t)) {
            for e in entries.flatten() {
                f(&std::fs::read(e.path()).expect("a saved input"));
            }
        }
    }
}

#[test]
fn host_vmbus_sessions_get_deep() {
    let s = stats(&host::run_vmbus(&seed("host-vmbus", "echo-5.3")));
    assert_eq!(s["vmbus.versions_accepted"], 1);
    assert_eq!(s["vmbus.offers"], 7, "{s:?}");
    assert_eq!(s["vmbus.opens"], 2, "{s:?}");
    assert!(s["vmbus.packets_in"] >= 4, "{s:?}");
    assert_eq!(s["dev.5.echo.subchannels"], 2, "{s:?}");
    assert_eq!(s["dev.4.echo.packets_out"], 1, "{s:?}");
    assert_eq!(s["vmbus.gpadls_torndown"], 1, "{s:?}");
    assert_eq!(s["vmbus.tl_connects"], 1, "{s:?}");
    assert_eq!(s["vmbus.unloads"], 1, "{s:?}");
    let s = stats(&host::run_vmbus(&seed("host-vmbus", "heartbeat")));
    assert_eq!(s["dev.1.heartbeat.negotiated"], 1, "{s:?}");
    assert!(s["dev.1.heartbeat.ok"] >= 2, "{s:?}");
    let s = stats(&host::run_vmbus(&seed("host-vmbus", "shutdown")));
    assert_eq!(s["dev.2.shutdown.ok"], 1, "{s:?}");
    let s = stats(&host::run_vmbus(&seed("host-vmbus", "timesync")));
    assert_eq!(s["dev.3.timesync.negotiated"], 1, "{s:?}");
    assert!(s["dev.3.timesync.answered"] >= 1, "{s:?}");
    let s = stats(&host::run_vmbus(&seed("host-vmbus", "old-guest")));
    assert_eq!(s["vmbus.released"], 1, "{s:?}");
    assert_eq!(s["vmbus.packets_out"], 1, "{s:?}");
    let s = stats(&host::run_vmbus(&seed("host-vmbus", "qemu-profile")));
    assert_eq!(s["vmbus.versions_rejected"], 1, "{s:?}");
    assert_eq!(s["vmbus.versions_accepted"], 2, "{s:?}");
    assert_eq!(s["dev.5.echo.packets_out"], 1, "{s:?}");
}

#[test]
fn host_mailbox_session_gets_deep() {
    let rig = host::run_mailbox(&seed("host-mailbox", "session"));
    let hv = &rig.hv.stats;
    assert_eq!(hv.messages_in, 2);
    assert_eq!(hv.events_in, 0);
    assert_eq!(hv.by_status.get("SUCCESS"), Some(&11), "{:?}", hv.by_status);
    assert_eq!(rig.hv.guest_vcpus, None, "GOODBYE was the last word");
    let s = stats(&rig);
    assert_eq!(s["vmbus.offers"], 5, "{s:?}");
}

#[test]
fn host_devices_sessions_get_deep() {
    let get = |name: &str, key: &str| {
        host::run_devices(&seed("host-devices", name))
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {name}"))
    };
    assert_eq!(get("heartbeat", "ok"), 2);
    assert_eq!(get("shutdown", "ok"), 1);
    assert!(get("timesync", "answered") >= 2);
    assert!(get("timesync-3.0", "answered") >= 2);
    assert_eq!(get("echo", "packets_out"), 3);
    assert_eq!(get("echo", "subchannels"), 3);
    // The guest's answers to every kind of KVP, VSS and file-copy request
    // reach the host's parsers and parse (none is "bad"): two enumerated
    // pairs, a value, an adapter's addresses, a set, and a failed delete;
    // a hot-backup query, freezes and thaws, one failed; a file of two
    // fragments copied, and a copy that fails at its first fragment.
    assert_eq!(get("kvp-answers", "requests"), 6);
    assert_eq!(get("kvp-answers", "answered"), 5);
    assert_eq!(get("kvp-answers", "failed"), 1);
    assert_eq!(get("kvp-answers", "bad"), 0);
    assert_eq!(get("vss-answers", "ok"), 4);
    assert_eq!(get("vss-answers", "failed"), 1);
    assert_eq!(get("vss-answers", "bad"), 0);
    assert_eq!(get("fcopy-file", "messages"), 4);
    assert_eq!(get("fcopy-file", "copied"), 1);
    assert_eq!(get("fcopy-fails", "failed"), 1);
    assert_eq!(get("fcopy-fails", "bad"), 0);
}

/// The storage session seed gets past initialisation into the SRBs, the
/// disks' data and a bus change notification.
#[test]
fn storage_session_gets_deep() {
    let stats: BTreeMap<&str, u64> =
        vmbus_proto_fuzz::storage::run_storage(&seed("host-storage", "session"))
            .into_iter()
            .collect();
    assert!(stats["srbs"] >= 10, "{stats:?}");
    assert!(stats["srb_errors"] >= 2, "{stats:?}");
    assert!(stats["bytes_written"] >= 1024, "{stats:?}");
    assert!(stats["bytes_read"] >= 1024, "{stats:?}");
    assert!(stats["notifications"] >= 1, "{stats:?}");
    let stats: BTreeMap<&str, u64> =
        vmbus_proto_fuzz::storage::run_storage(&seed("host-storage", "init-and-subchannels"))
            .into_iter()
            .collect();
    assert_eq!(stats["refused"], 0, "{stats:?}");
    assert!(stats["completions"] >= 5, "{stats:?}");
}

#[test]
fn host_net_sessions_get_deep() {
    use vmbus_proto_fuzz::net::run_net;
    let get = |name: &str, key: &str| {
        run_net(&seed("host-net", name))
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {name}"))
    };
    assert_eq!(get("bring-up", "nvsp_version"), 0x60001);
    assert_eq!(get("bring-up", "control"), 3);
    assert_eq!(
        get("bring-up", "tx_dropped"),
        1,
        "the frame sent by GPA, no TAP"
    );
    assert_eq!(get("bring-up", "subchannels"), 3);
    assert_eq!(get("bring-up", "bad"), 0);
    assert!(get("hostile", "bad") >= 4);
}

/// The hv_vmbus interface seeds take ids, have the host answer them (and
/// ids nobody took), and read packets by iteration and by receive,
/// including one too long for the driver's buffer and broken ones.
#[test]
fn hv_iface_sessions_get_deep() {
    use vmbus_proto_fuzz::hv_iface::run_hv_iface;
    let s = run_hv_iface(&seed("hv-iface", "storvsc"));
    assert_eq!(s.ids, 4, "{s:?}");
    assert!(s.matched >= 4, "{s:?}");
    assert!(s.refused >= 2, "{s:?}");
    assert!(s.delivered >= 3, "{s:?}");
    let s = run_hv_iface(&seed("hv-iface", "netvsc"));
    assert_eq!(s.ids, 67, "{s:?}");
    assert!(s.delivered >= 5, "{s:?}");
    assert!(s.too_small >= 1, "{s:?}");
    let s = run_hv_iface(&seed("hv-iface", "hostile"));
    assert_eq!(s.bad_packets, 2, "{s:?}");
    assert_eq!(s.matched, 1, "{s:?}");
    assert!(s.refused >= 3, "{s:?}");
}
