//! The pools' counters through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): whatever exporter the program installed
//! (Prometheus, StatsD, OpenTelemetry, …) gets them, labelled by pool.
//!
//! Keep them current with a [`Reporter`], a thread that publishes a set's
//! statistics every interval, or call [`record`] (one pool) or
//! [`record_set`] (a `buffer_pools!` set's `stats()`) yourself, from a
//! periodic task or just before a scrape is rendered. Each call reads the
//! pool's [`PoolStats`] and sets the metrics below; it allocates the label
//! strings, takes this module's lock (the histogram's baseline, below) and
//! walks the pool's thread caches under their registry lock (as `stats()`
//! does), so keep it off the hot path.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `iobuf_capacity` | gauge | buffers in the pool |
//! | `iobuf_available` | gauge | buffers held by nobody |
//! | `iobuf_in_use` | gauge | buffers held |
//! | `iobuf_high_water` | gauge | most buffers in use at once (see `PoolStats::high_water`) |
//! | `iobuf_cached` | gauge | of `available`, idle in thread caches |
//! | `iobuf_waiting` | gauge | getters queued now |
//! | `iobuf_gets_total{source}` | counter | gets by where they were served: `cache`, `shared`, `refill`, `steal` |
//! | `iobuf_try_get_failures_total` | counter | `try_get`s that found the pool empty |
//! | `iobuf_waits_total{waiter}` | counter | queued waits: `thread` or `task` |
//! | `iobuf_timeouts_total` | counter | timed waits that ran out |
//! | `iobuf_cancellations_total` | counter | queued futures dropped |
//! | `iobuf_wait_seconds` | histogram | how long each queued wait lasted, in seconds |
//!
//! Every metric carries a `pool` label with the name given.
//!
//! # The wait-time histogram
//!
//! The pool counts its queued waits in seven buckets
//! ([`PoolStats::wait_histogram`], bounds 10 µs … 1 s) and keeps each
//! bucket's summed length in nanoseconds ([`PoolStats::wait_nanos`]), the
//! two under its wait queue's lock, taken anyway when a wait begins or
//! ends, so a snapshot's count and sum of a bucket come from the same
//! waits. The facade takes
//! histograms as samples, so each call publishes the waits that ended
//! since the previous call for that pool name: for each bucket, its new
//! count of samples, whose values are the new waits' mean (to the
//! nanosecond; values one nanosecond apart carry the remainder). The mean
//! of waits in a bucket lies in that bucket, so:
//!
//! - with bucket bounds equal to the pool's ([`WAIT_SECONDS_BUCKETS`]; for
//!   metrics-exporter-prometheus,
//!   `set_buckets_for_metric(Matcher::Full(WAIT_SECONDS_METRIC.into()), &WAIT_SECONDS_BUCKETS)`),
//!   the exporter's `_bucket` and `_count` series equal the pool's counts
//!   exactly, and `_sum` is the waits' measured total up to `f64`
//!   rounding (`# TYPE iobuf_wait_seconds histogram`);
//! - with other bounds, or an exporter that keeps quantiles
//!   (metrics-exporter-prometheus renders a `summary` when no buckets are
//!   set), the sum and count are still exact, but a wait is seen only
//!   as its bucket's mean: finer bounds or quantiles than the pool's seven
//!   buckets are not measured.
//!
//! Why samples through the facade rather than, say, a function that writes
//! the pools' histogram in Prometheus text for the program to append to
//! its exporter's output: through the facade it reaches any exporter,
//! including one that serves its own endpoint (where nothing can be
//! appended), and a [`Reporter`] keeps it current with the rest; the
//! price is the exporter's bucket setting above, and the limits below.
//!
//! Limits, truthfully: the baseline of "since the previous call" is kept
//! per process and per pool name (this module's lock), so every caller
//! (a [`Reporter`], a call before a render, both at once) publishes each
//! wait once. So one name must mean one pool for the life of the process
//! (as a `buffer_pools!` set's names do): a new pool under an old name is
//! published only once its counts pass the old pool's, and then not
//! exactly. Waits published while no recorder was installed are lost to
//! the histogram (the counters, set absolutely, catch up). An exporter may
//! store each sample until it renders (metrics-exporter-prometheus does:
//! 8 bytes per wait that ended since the last scrape).
//!
//! # Examples
//!
//! A set's statistics published every second, on a thread:
//!
//! ```
//! mod pools {
//!     iobuf::buffer_pools! { small: 2KiB x 64, large: 128KiB x 4 }
//! }
//! # fn main() -> Result<(), iobuf::Error> {
//! // (Install the exporter's recorder first; with none, the facade drops
//! // the values: harmless.)
//! let reporter = iobuf::metrics::Reporter::spawn(std::time::Duration::from_secs(1), pools::stats)?;
//! drop(pools::get(100));
//! // ... serve; the scrape stays current with no call before it ...
//! drop(reporter); // stops and joins the thread
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};

use crate::sync::std_only::{AtomicBool, Mutex, Ordering};
use crate::{Error, PoolStats};

#[cfg(test)]
mod tests;

/// The name of the wait-time histogram, for an exporter's per-metric
/// settings (its buckets: [`WAIT_SECONDS_BUCKETS`]).
pub const WAIT_SECONDS_METRIC: &str = "iobuf_wait_seconds";

/// The pool's wait-time bucket bounds in seconds
/// ([`PoolStats::WAIT_BOUNDS_MICROS`] / 10^6: 10 µs, 100 µs, 1 ms, 10 ms,
/// 100 ms, 1 s), for the exporter's buckets of [`WAIT_SECONDS_METRIC`]:
/// with these, its `_bucket` series are the pool's counts exactly (see the
/// module docs).
///
/// ```
/// assert_eq!(iobuf::metrics::WAIT_SECONDS_BUCKETS, [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]);
/// ```
pub const WAIT_SECONDS_BUCKETS: [f64; 6] = {
    let micros = PoolStats::WAIT_BOUNDS_MICROS;
    let mut seconds = [0.0; 6];
    let mut i = 0;
    while i < micros.len() {
        seconds[i] = micros[i] as f64 / 1e6;
        i += 1;
    }
    seconds
};

/// What the histogram of each pool name has published: the counts and
/// sums of the waits it has turned into samples.
static PUBLISHED: Mutex<BTreeMap<String, Published>> = Mutex::new(BTreeMap::new());

/// A pool's wait buckets as last published.
#[derive(Clone, Copy, Default)]
struct Published {
    counts: [u64; 7],
    nanos: [u64; 7],
}

/// One batch of identical samples for the histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Samples {
    /// The value of each, in seconds.
    seconds: f64,
    count: u64,
}

/// The waits in `stats` that `name`'s histogram has not published yet, as
/// at most two batches of samples per bucket, each inside its bucket; the
/// baseline of each bucket with new waits moves on to `stats`.
///
/// A pool's snapshots are ordered (its wait queue's lock), and a later one has
/// at least the earlier one's waits in every bucket: a bucket whose count
/// is not above the baseline (a snapshot older than one published already,
/// by a concurrent caller) publishes nothing and keeps its baseline, so
/// each wait is published once whatever the order of the calls.
fn new_samples(name: &str, stats: &PoolStats) -> Vec<Samples> {
    let mut published = PUBLISHED.lock().unwrap_or_else(|e| e.into_inner());
    let last = published.entry(name.to_owned()).or_default();
    let mut samples = Vec::new();
    for bucket in 0..stats.wait_histogram.len() {
        let Some(count) = stats.wait_histogram[bucket]
            .checked_sub(last.counts[bucket])
            .filter(|&count| count > 0)
        else {
            continue;
        };
        let nanos = stats.wait_nanos[bucket].wrapping_sub(last.nanos[bucket]);
        last.counts[bucket] = stats.wait_histogram[bucket];
        last.nanos[bucket] = stats.wait_nanos[bucket];
        // The new waits' lengths lie in (lower, upper] (`WaitTimes::bucket`
        // in the engine) and sum to `nanos`, so `nanos / count` does too,
        // and so does one more where there is a remainder. The clamp acts
        // only on input that breaks this (two pools under one name).
        let lower = match bucket {
            0 => 0,
            _ => PoolStats::WAIT_BOUNDS_MICROS[bucket - 1] * 1_000 + 1,
        };
        let upper = PoolStats::WAIT_BOUNDS_MICROS
            .get(bucket)
            .map_or(u64::MAX, |&micros| micros * 1_000);
        let mean = (nanos / count).clamp(lower, upper);
        let over = if mean < upper { nanos % count } else { 0 };
        let seconds = |nanos: u64| nanos as f64 / 1e9;
        if count > over {
            samples.push(Samples {
                seconds: seconds(mean),
                count: count - over,
            });
        }
        if over > 0 {
            samples.push(Samples {
                seconds: seconds(mean + 1),
                count: over,
            });
        }
    }
    samples
}

/// Publishes `stats`, a pool's statistics, under the label `pool = name`:
/// sets the gauges and counters, and adds the waits that ended since the
/// previous call for `name` to the histogram (see the module docs).
///
/// Allocates the labels and takes this module's lock; no blocking
/// otherwise.
///
/// ```
/// let pool = iobuf::SmallBufferPool::new(16)?;
/// drop(pool.get());
/// // With no recorder installed, the facade drops them: harmless.
/// iobuf::metrics::record("small", &pool.stats());
/// # Ok::<(), iobuf::Error>(())
/// ```
pub fn record(name: &str, stats: &PoolStats) {
    let pool = name.to_owned();
    let set = |metric: &'static str, value: usize| {
        gauge!(metric, "pool" => pool.clone()).set(value as f64);
    };
    set("iobuf_capacity", stats.capacity);
    set("iobuf_available", stats.available);
    set("iobuf_in_use", stats.in_use);
    set("iobuf_high_water", stats.high_water);
    set("iobuf_cached", stats.cached);
    set("iobuf_waiting", stats.waiting);
    for (source, value) in [
        ("cache", stats.cache_hits),
        ("shared", stats.shared_gets),
        ("refill", stats.refill_gets),
        ("steal", stats.steal_gets),
    ] {
        counter!("iobuf_gets_total", "pool" => pool.clone(), "source" => source).absolute(value);
    }
    counter!("iobuf_try_get_failures_total", "pool" => pool.clone())
        .absolute(stats.try_get_failures);
    for (waiter, value) in [("thread", stats.thread_waits), ("task", stats.task_waits)] {
        counter!("iobuf_waits_total", "pool" => pool.clone(), "waiter" => waiter).absolute(value);
    }
    counter!("iobuf_timeouts_total", "pool" => pool.clone()).absolute(stats.timeouts);
    counter!("iobuf_cancellations_total", "pool" => pool.clone()).absolute(stats.cancellations);
    let waits = histogram!(WAIT_SECONDS_METRIC, "pool" => pool);
    for Samples { seconds, count } in new_samples(name, stats) {
        waits.record_many(seconds, usize::try_from(count).unwrap_or(usize::MAX));
    }
}

/// Publishes every pool of a `buffer_pools!` set: pass the set's
/// `stats()`. Pools not created yet are skipped. As [`record`] for each.
///
/// ```
/// mod pools {
///     iobuf::buffer_pools! { small: 2KiB x 64, large: 128KiB x 4 }
/// }
/// drop(pools::get(100));
/// iobuf::metrics::record_set(&pools::stats());
/// ```
pub fn record_set(set: &[(&str, Option<PoolStats>)]) {
    for (name, stats) in set {
        if let Some(stats) = stats {
            record(name, stats);
        }
    }
}

/// A thread that publishes pools' statistics every interval, so that the
/// exported values stay current with no call before each scrape.
///
/// [`spawn`](Self::spawn) starts a thread named `iobuf-metrics` that calls
/// the given function, publishes what it returns ([`record`] for each pool
/// with statistics) and sleeps for the interval, until the `Reporter` is
/// dropped or [stopped](Self::stop): that wakes the thread and joins it
/// (waiting for a report in progress to finish). The values an exporter
/// serves are thus at most one interval (plus a report's duration) old.
///
/// # Examples
///
/// One pool, every 100 ms:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let pool = Arc::new(iobuf::SmallBufferPool::new(16)?);
/// let p = pool.clone();
/// let reporter = iobuf::metrics::Reporter::spawn(Duration::from_millis(100), move || {
///     [("small", Some(p.stats()))]
/// })?;
/// drop(pool.get());
/// reporter.stop().expect("the stats function did not panic");
/// # Ok::<(), iobuf::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the Reporter stops it at once"]
pub struct Reporter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts a thread that publishes `stats()` now and then every
    /// `interval` (after the previous report ended). `stats` returns
    /// pools' names and statistics, as a `buffer_pools!` set's `stats`
    /// does (pass `pools::stats`); `None`s are skipped.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a zero `interval` (the thread would
    /// never sleep); [`Error::Os`] if the thread could not be spawned.
    pub fn spawn<F, S, N>(interval: Duration, mut stats: F) -> Result<Reporter, Error>
    where
        F: FnMut() -> S + Send + 'static,
        S: IntoIterator<Item = (N, Option<PoolStats>)>,
        N: AsRef<str>,
    {
        if interval.is_zero() {
            return Err(Error::invalid(
                "a metrics reporter's interval must be above zero",
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("iobuf-metrics".into())
            .spawn(move || {
                // ORDERING: Acquire: pairs with the Release store in
                // `finish`; nothing is published through it but the flag.
                while !stopped.load(Ordering::Acquire) {
                    for (name, pool) in stats() {
                        if let Some(pool) = pool {
                            record(name.as_ref(), &pool);
                        }
                    }
                    // A deadline too far to represent: until stopped.
                    let deadline = Instant::now().checked_add(interval);
                    // ORDERING: as above.
                    while !stopped.load(Ordering::Acquire) {
                        match deadline {
                            Some(d) => match d.checked_duration_since(Instant::now()) {
                                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                                _ => break,
                            },
                            None => std::thread::park(),
                        }
                    }
                }
            })
            .map_err(|e| Error::os("spawning the metrics reporter thread", e))?;
        Ok(Reporter {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and joins it, as dropping the `Reporter` does, but
    /// says how it ended.
    ///
    /// # Errors
    ///
    /// The panic payload, if `stats` (or the installed recorder) panicked
    /// on the reporter's thread; it published nothing since.
    pub fn stop(mut self) -> std::thread::Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> std::thread::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // ORDERING: Release: pairs with the thread's Acquire loads; the
        // unpark then wakes it if it sleeps.
        self.stop.store(true, Ordering::Release);
        thread.thread().unpark();
        thread.join()
    }
}

impl Drop for Reporter {
    /// Stops the thread and joins it; a panic on it was reported by the
    /// panic hook already and is not raised again here.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
