//! The clock of the wait statistics: a [`Stamp`] at the two ends of every
//! queued wait, and the nanoseconds between two of them.
//!
//! `Instant::now` costs about 25 ns on the machines we measure on (a vDSO
//! `clock_gettime`), and a queued wait reads the clock twice: a quarter of
//! the CPU an exhausted pool spends per wait. Where Linux itself keeps time
//! with the time-stamp counter (its clocksource is `tsc`: the kernel found
//! the counter invariant and in step on every core, and would have switched
//! away otherwise), a stamp is one `rdtsc` (about 9 ns) instead. Elsewhere,
//! under Miri and under loom, a stamp is an `Instant`.
//!
//! # Why not `quanta`
//!
//! `quanta` gives a TSC clock too, but it calibrates the counter against
//! the OS clock up front, in the thread that first asks for the time: a
//! pause of milliseconds in the first wait of a process that waits for
//! microseconds. Here the calibration is lazy and costs no pause: the
//! first stamp keeps an (`Instant`, counter) pair; a conversion scales
//! ticks by the ratio of the OS clock's and the counter's progress since
//! that pair, read afresh until a millisecond has passed (the two reads are
//! some 30 ns apart, so from then on the ratio is exact to 3·10⁻⁵), and
//! then fixed for the process.

use std::time::Instant;

/// An instant of the wait clock: counter ticks, or an `Instant`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(Repr);

#[derive(Clone, Copy, Debug)]
enum Repr {
    /// Time-stamp counter ticks (only once `tsc::enabled()` said so).
    #[cfg_attr(
        not(all(
            target_arch = "x86_64",
            target_os = "linux",
            not(miri),
            not(all(loom, test))
        )),
        allow(dead_code)
    )]
    Ticks(u64),
    Instant(Instant),
}

impl Stamp {
    /// Now. The first call of the process also reads one sysfs file (the
    /// kernel's clocksource), once.
    #[inline]
    pub(crate) fn now() -> Stamp {
        #[cfg(all(
            target_arch = "x86_64",
            target_os = "linux",
            not(miri),
            not(all(loom, test))
        ))]
        if tsc::enabled() {
            return Stamp(Repr::Ticks(tsc::ticks()));
        }
        Stamp(Repr::Instant(Instant::now()))
    }

    /// The nanoseconds from `self` to `later`; 0 if `later` is not later
    /// (saturating, as `Instant::saturating_duration_since`), and at most
    /// `u64::MAX` (584 years).
    pub(crate) fn nanos_until(self, later: Stamp) -> u64 {
        match (self.0, later.0) {
            (Repr::Instant(a), Repr::Instant(b)) => {
                let d = b.saturating_duration_since(a);
                d.as_secs()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(u64::from(d.subsec_nanos()))
            }
            #[cfg(all(
                target_arch = "x86_64",
                target_os = "linux",
                not(miri),
                not(all(loom, test))
            ))]
            (Repr::Ticks(a), Repr::Ticks(b)) => tsc::nanos(b.saturating_sub(a)),
            // Every stamp of a process has one kind: `tsc::enabled()` is
            // decided once, before the first stamp.
            _ => unreachable!("stamps of two clocks"),
        }
    }
}

/// The time-stamp counter, where the kernel vouches for it.
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(miri),
    not(all(loom, test))
))]
mod tsc {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    /// Where the first stamp was taken, in both clocks; `None` if the
    /// counter is not to be used.
    static EPOCH: OnceLock<Option<(Instant, u64)>> = OnceLock::new();

    /// Nanoseconds per tick, fixed point with 32 fractional bits, once
    /// calibrated; 0 before.
    static SCALE: AtomicU64 = AtomicU64::new(0);

    /// How long after the epoch the ratio is fixed.
    const CALIBRATED_AFTER_NANOS: u128 = 1_000_000;

    /// Whether stamps are counter ticks; decided at the first call.
    #[inline]
    pub(super) fn enabled() -> bool {
        EPOCH.get_or_init(epoch).is_some()
    }

    fn epoch() -> Option<(Instant, u64)> {
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .ok()?;
        (source.trim() == "tsc").then(|| (Instant::now(), ticks()))
    }

    /// The counter.
    #[inline]
    pub(super) fn ticks() -> u64 {
        // SAFETY: `rdtsc` is part of the x86-64 baseline (every x86-64 CPU
        // has it), reads a register and touches no memory; it has no
        // precondition.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// `ticks` in nanoseconds.
    pub(super) fn nanos(ticks: u64) -> u64 {
        // ORDERING: Relaxed: the scale is one self-contained word; a reader
        // that misses it computes it again below.
        let scale = SCALE.load(Ordering::Relaxed);
        if scale != 0 {
            return scaled(ticks, scale);
        }
        let Some(Some((at, ticks_at))) = EPOCH.get() else {
            unreachable!("a tick stamp before the epoch");
        };
        let (nanos_since, ticks_since) = (
            at.elapsed().as_nanos(),
            self::ticks().wrapping_sub(*ticks_at),
        );
        if ticks_since == 0 {
            return 0;
        }
        let scale =
            u64::try_from((nanos_since << 32) / u128::from(ticks_since)).unwrap_or(u64::MAX);
        if nanos_since >= CALIBRATED_AFTER_NANOS {
            // ORDERING: Relaxed, as above; racing calibrations store
            // ratios that agree to the precision above.
            SCALE.store(scale.max(1), Ordering::Relaxed);
        }
        scaled(ticks, scale)
    }

    fn scaled(ticks: u64, scale: u64) -> u64 {
        u64::try_from((u128::from(ticks) * u128::from(scale)) >> 32).unwrap_or(u64::MAX)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Stamp;
    use std::time::{Duration, Instant};

    #[test]
    fn a_stamp_pair_measures_what_instant_measures() {
        // Past the calibration's millisecond, then a measured sleep.
        let first = Stamp::now();
        std::thread::sleep(Duration::from_millis(2));
        let (stamp, instant) = (Stamp::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (stamp_end, elapsed) = (Stamp::now(), instant.elapsed());
        let nanos = stamp.nanos_until(stamp_end);
        let want = elapsed.as_nanos() as u64;
        // Within 1 % and 50 µs: both clocks are read side by side, not at
        // one instant.
        let slack = want / 100 + 50_000;
        assert!(
            nanos.abs_diff(want) <= slack,
            "stamps {nanos} ns, Instant {want} ns"
        );
        assert!(first.nanos_until(stamp_end) >= nanos);
    }

    #[test]
    fn an_earlier_stamp_is_zero_nanoseconds_away() {
        let a = Stamp::now();
        let b = Stamp::now();
        assert_eq!(b.nanos_until(a), 0, "saturates, as Instant's does");
        assert_eq!(a.nanos_until(a), 0);
    }
}
