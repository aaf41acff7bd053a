// SPDX-License-Identifier: GPL-2.0

//! rvmbus_timesync: a sample VMBus driver for the time sync integration
//! component, with Linux hv_utils' policy: a sample flagged `SYNC` (sent
//! when the channel opens and after the guest resumes) sets the wall clock
//! to the host's time; regular samples only record how far the guest clock
//! is from the host's (hv_utils hands them to its PTP clock, this sample
//! logs them).
//!
//! The packet callback runs in the channel's tasklet (softirq), where the
//! clock cannot be set (`do_settimeofday64()` takes the CPU hotplug lock,
//! which sleeps): a `SYNC` sample is answered at once and applied by a
//! work item on the system workqueue, advanced by the time it waited, as
//! hv_utils does with its `adj_time_work`.

mod ic;
#[allow(unused_attributes, missing_docs, dead_code, unreachable_pub)]
#[path = "../rust/vmbus_proto/src/lib.rs"]
mod proto;
#[path = "../rust/rvmbus_api/mod.rs"]
mod vmbus;

use kernel::{
    new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc, SpinLockIrq,
    },
    time::{Instant, Monotonic},
    workqueue::{self, impl_has_work, new_work, Work, WorkItem},
};

use proto::wire::{
    ic::{
        IcMsgType, IcTimesyncData, IcTimesyncRefData, IcVersion, ICTIMESYNCFLAG_SAMPLE,
        ICTIMESYNCFLAG_SYNC, WLTIMEDELTA,
    },
    Wire,
};
use vmbus::{Device, Driver, Packet, Registration};

kernel::prelude::module! {
    type: TimesyncModule,
    name: "rvmbus_timesync",
    authors: ["rvmbus developers"],
    description: "Sample VMBus driver: sets the clock from the host's time samples",
    license: "GPL",
    alias: ["vmbus:30e62795aed07b49adcee80ab0175caf"],
}

/// The time sync class, 9527e630-d0ae-497b-adce-e80ab0175caf.
const TIMESYNC_CLASS: vmbus::Guid = vmbus::guid(
    0x9527e630,
    0xd0ae,
    0x497b,
    [0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c, 0xaf],
);

/// Message versions, as Linux's hv_utils offers them (4.0 carries a
/// reference time with each sample).
const VERSIONS: &[IcVersion] = &[
    IcVersion::new(1, 0),
    IcVersion::new(3, 0),
    IcVersion::new(4, 0),
];

/// Log the first samples and then every this many.
const LOG_EVERY: u64 = 10;

/// Nanoseconds since 1970 of a host time (100 ns units since 1601), if it
/// is after 1970 and fits.
fn host_ns(t: u64) -> Option<i64> {
    let since_1970 = t.checked_sub(WLTIMEDELTA)?;
    i64::try_from(since_1970).ok()?.checked_mul(100)
}

fn now_ns() -> i64 {
    let mut ts = kernel::bindings::timespec64::default();
    // SAFETY: `ts` is a valid `timespec64` for the call to fill; it reads
    // the wall clock.
    unsafe { kernel::bindings::ktime_get_real_ts64(&mut ts) };
    // CAST: `tv_nsec` is below 10^9 (`isize` is 64 bits on x86_64).
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as i64)
}

/// Sets the wall clock to `ns` nanoseconds since 1970.
fn set_now_ns(ns: i64) -> i32 {
    // SAFETY: No preconditions; it converts a number.
    let ts = unsafe { kernel::bindings::ns_to_timespec64(ns) };
    // SAFETY: `ts` is a valid, normalised `timespec64` for the call.
    unsafe { kernel::bindings::do_settimeofday64(&ts) }
}

/// The clock setting that a `SYNC` sample asks for, deferred from the
/// packet callback (softirq) to the system workqueue.
#[pin_data]
struct ClockWork {
    /// The latest `SYNC` sample not applied yet: the host's time in
    /// nanoseconds since 1970, and when it came on the guest's monotonic
    /// clock. A spinlock with interrupts off (the packet callback and the
    /// work item take it); a leaf.
    #[pin]
    pending: SpinLockIrq<Option<(i64, Instant<Monotonic>)>>,
    /// Clock settings done.
    syncs: Atomic<u64>,
    #[pin]
    work: Work<ClockWork>,
}

impl_has_work! {
    impl HasWork<Self> for ClockWork { self.work }
}

impl WorkItem for ClockWork {
    type Pointer = Arc<ClockWork>;

    fn run(this: Arc<ClockWork>) {
        this.apply();
    }
}

impl ClockWork {
    /// Sets the clock from the pending sample, if any, advanced by the
    /// time it waited. Process context (the work item).
    fn apply(&self) {
        let Some((host, when)) = self.pending.lock().take() else {
            return;
        };
        let host = host.saturating_add(when.elapsed().as_nanos());
        let offset_ms = (host - now_ns()) / 1_000_000;
        let r = set_now_ns(host);
        if r == 0 {
            self.syncs.add(1, Relaxed);
            pr_info!(
                "timesync: clock set from the host (it was {} ms off)\n",
                offset_ms
            );
        } else {
            pr_warn!("timesync: setting the clock failed ({})\n", r);
        }
    }
}

struct Timesync {
    ic: ic::IcChannel,
    clock: Arc<ClockWork>,
    samples: Atomic<u64>,
}

impl Timesync {
    /// Acts on one time sample; returns the IC status. Softirq (the packet
    /// callback): a clock setting goes to the work item.
    fn on_sample(&self, parenttime: u64, flags: u8) -> u32 {
        let Some(host) = host_ns(parenttime) else {
            pr_warn!(
                "timesync: host time {:#x} is before 1970; ignored\n",
                parenttime
            );
            return proto::ic::HV_E_FAIL;
        };
        if flags & ICTIMESYNCFLAG_SYNC != 0 {
            *self.clock.pending.lock() = Some((host, Instant::<Monotonic>::now()));
            // Already queued: that run takes this newer sample.
            let _ = workqueue::system().enqueue(self.clock.clone());
        } else if flags & ICTIMESYNCFLAG_SAMPLE != 0 {
            let offset_ms = (host - now_ns()) / 1_000_000;
            let n = self.samples.fetch_add(1, Relaxed) + 1;
            if n <= 3 || n % LOG_EVERY == 0 {
                pr_info!(
                    "timesync: sample {}: host clock is {} ms from ours\n",
                    n,
                    offset_ms
                );
            }
        }
        ic::OK
    }
}

struct TimesyncDriver;

impl Driver for TimesyncDriver {
    type Data = Timesync;
    const NAME: &'static CStr = c"rvmbus_timesync";
    const IDS: &'static [vmbus::Guid] = &[TIMESYNC_CLASS];

    fn probe(_dev: &Device) -> Result<Pin<KBox<Timesync>>> {
        let clock = Arc::pin_init(
            pin_init!(ClockWork {
                pending <- new_spinlock_irq!(None, "ClockWork::pending"),
                syncs: Atomic::new(0),
                work <- new_work!("rvmbus_timesync::ClockWork::work"),
            }),
            GFP_KERNEL,
        )?;
        Ok(KBox::pin(
            Timesync {
                ic: ic::IcChannel::new("timesync", VERSIONS),
                clock,
                samples: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn start(_t: &Timesync, dev: &Device) -> Result {
        dev.open(ic::RING_BYTES)
    }

    fn packet(t: &Timesync, dev: &Device, pkt: &Packet<'_>) {
        t.ic.on_packet(dev, pkt, |req| {
            if req.msgtype != IcMsgType::TIMESYNC {
                return ic::unknown("timesync", req.msgtype);
            }
            let sample = if req.version.major >= 4 {
                IcTimesyncRefData::read_from(req.body).map(|d| (d.parenttime.get(), d.flags))
            } else {
                IcTimesyncData::read_from(req.body).map(|d| (d.parenttime.get(), d.flags))
            };
            match sample {
                Some((time, flags)) => t.on_sample(time, flags),
                None => {
                    pr_warn!("timesync: sample too short ({} bytes)\n", req.body.len());
                    proto::ic::HV_E_FAIL
                }
            }
        });
    }

    fn remove(t: Pin<KBox<Timesync>>, _dev: &Device) {
        // No packet callback runs any more, so nothing queues the work
        // again: once a queued run has ended, no code of this module is
        // left on the workqueue.
        // SAFETY: `work` is an initialised work item that lives as long as
        // `t.clock` (held here); `flush_work` may be called in process
        // context, which remove is.
        unsafe { kernel::bindings::flush_work(Work::raw_get(&t.clock.work)) };
        pr_info!(
            "timesync: removed after {} clock settings and {} samples\n",
            t.clock.syncs.load(Relaxed),
            t.samples.load(Relaxed)
        );
    }
}

struct TimesyncModule {
    _reg: Registration<TimesyncDriver>,
}

impl kernel::Module for TimesyncModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _reg: Registration::new(module)?,
        })
    }
}
