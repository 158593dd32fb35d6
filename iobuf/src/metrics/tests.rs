//! The metrics against a recorder that keeps what it is given: the
//! histogram's samples (as an exporter with the pool's buckets would count
//! them), the counters and gauges, and the reporter thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use super::{Reporter, WAIT_SECONDS_BUCKETS, WAIT_SECONDS_METRIC, record, record_set};
use crate::{BoundedPool, PicoBuffer, PoolConfig, PoolStats};

/// What a `Capture` recorder was given, by `name{label=value,...}`.
#[derive(Default)]
struct Sinks {
    /// Counters and gauges: their last value.
    values: Mutex<BTreeMap<String, f64>>,
    /// Histograms: every `(value, count)` batch.
    samples: Mutex<BTreeMap<String, Vec<(f64, usize)>>>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Sinks>);

struct Handle {
    key: String,
    sinks: Arc<Sinks>,
}

fn describe(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Capture {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        Arc::new(Handle {
            key: describe(key),
            sinks: self.0.clone(),
        })
    }

    fn value(&self, key: &str) -> Option<f64> {
        self.0.values.lock().unwrap().get(key).copied()
    }

    fn samples(&self, pool: &str) -> Vec<(f64, usize)> {
        let key = format!("{WAIT_SECONDS_METRIC}{{pool={pool}}}");
        self.0
            .samples
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }

    /// The histogram of `pool` as an exporter with `WAIT_SECONDS_BUCKETS`
    /// counts it: per bucket (not cumulative, the last one `+Inf`), with
    /// the sum of each bucket's samples.
    fn histogram(&self, pool: &str) -> ([u64; 7], [f64; 7]) {
        let mut counts = [0; 7];
        let mut sums = [0.0; 7];
        for (value, count) in self.samples(pool) {
            // `le` semantics: the first bound at least the value.
            let bucket = WAIT_SECONDS_BUCKETS.partition_point(|&bound| bound < value);
            counts[bucket] += count as u64;
            sums[bucket] += value * count as f64;
        }
        (counts, sums)
    }
}

/// Each bucket's sum of samples is its summed wait nanoseconds, in
/// seconds, up to `f64` rounding.
fn assert_sums(sums: [f64; 7], stats: &PoolStats) {
    for (bucket, (sum, nanos)) in sums.iter().zip(stats.wait_nanos).enumerate() {
        let expected = nanos as f64 / 1e9;
        assert!(
            (sum - expected).abs() <= expected * 1e-14,
            "bucket {bucket}: {sum} s, expected {expected} s"
        );
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self
            .sinks
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.sinks
            .values
            .lock()
            .unwrap()
            .insert(self.key.clone(), value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        *self
            .sinks
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self
            .sinks
            .values
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.sinks
            .values
            .lock()
            .unwrap()
            .insert(self.key.clone(), value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.record_many(value, 1);
    }
    fn record_many(&self, value: f64, count: usize) {
        self.sinks
            .samples
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default()
            .push((value, count));
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// Statistics with `waits[i]` waits in bucket `i`, of the lengths given.
fn stats_with_waits(waits: &[&[u64]; 7]) -> PoolStats {
    let mut stats = PoolStats::default();
    for (bucket, lengths) in waits.iter().enumerate() {
        stats.wait_histogram[bucket] = lengths.len() as u64;
        stats.wait_nanos[bucket] = lengths.iter().sum();
    }
    stats
}

/// The lowest and highest length, in nanoseconds, of each bucket.
fn extremes() -> [[u64; 2]; 7] {
    let bounds = PoolStats::WAIT_BOUNDS_MICROS.map(|micros| micros * 1_000);
    std::array::from_fn(|i| {
        let lower = if i == 0 { 0 } else { bounds[i - 1] + 1 };
        let upper = bounds.get(i).copied().unwrap_or(3_600_000_000_000);
        [lower, upper]
    })
}

#[test]
fn the_bucket_bounds_are_the_pools_in_seconds() {
    for (seconds, micros) in WAIT_SECONDS_BUCKETS
        .iter()
        .zip(PoolStats::WAIT_BOUNDS_MICROS)
    {
        // Both ways of computing a bound give the same `f64`: a sample of
        // exactly the bound's nanoseconds is in its bucket.
        assert_eq!(*seconds, (micros * 1_000) as f64 / 1e9, "{micros} us");
        assert!(
            ((micros * 1_000 + 1) as f64 / 1e9) > *seconds,
            "{micros} us + 1 ns"
        );
    }
}

#[test]
fn the_histogram_has_the_pools_counts_and_sum_exactly() {
    let capture = Capture::default();
    let [b0, b1, b2, b3, b4, b5, b6] = extremes();
    // Waits at each bucket's very edges, so that a mean and its remainder
    // sample sit on them; bucket 2 has a remainder (2 + 3 + 3 = 8 ns over
    // three waits), bucket 4 none.
    let first = stats_with_waits(&[
        &b0,
        &[b1[1]],
        &[b2[0], b2[0] + 1, b2[0] + 1],
        &[],
        &[b4[0]; 5],
        &b5,
        &[b6[0], b6[1]],
    ]);
    metrics::with_local_recorder(&capture, || record("exact-first", &first));
    let (counts, sums) = capture.histogram("exact-first");
    assert_eq!(counts, first.wait_histogram);
    assert_sums(sums, &first);
    // Each bucket gives at most two batches of samples.
    assert!(capture.samples("exact-first").len() <= 14);

    // Two more waits in bucket 3: only they are published.
    let mut second = first;
    second.wait_histogram[3] += 2;
    second.wait_nanos[3] += b3[0] + b3[1];
    metrics::with_local_recorder(&capture, || record("exact-first", &second));
    let (counts, sums) = capture.histogram("exact-first");
    assert_eq!(counts, second.wait_histogram);
    assert_sums(sums, &second);

    // A snapshot older than one already published (another caller's)
    // publishes nothing again; the same one again neither.
    metrics::with_local_recorder(&capture, || {
        record("exact-first", &first);
        record("exact-first", &second);
    });
    assert_eq!(capture.histogram("exact-first").0, second.wait_histogram);
}

#[test]
fn a_pools_waits_and_counters_are_published() {
    let capture = Capture::default();
    let pool =
        BoundedPool::<PicoBuffer>::with_config(1, PoolConfig::new().thread_cache(0)).unwrap();
    let held = pool.get();
    assert!(pool.try_get().is_err());
    for _ in 0..3 {
        assert!(pool.get_timeout(Duration::from_millis(2)).is_err());
    }
    drop(held);
    let stats = pool.stats();
    assert_eq!(stats.wait_histogram.iter().sum::<u64>(), 3, "{stats:?}");
    metrics::with_local_recorder(&capture, || {
        record_set(&[("published", Some(stats)), ("absent", None)]);
    });
    let (counts, sums) = capture.histogram("published");
    assert_eq!(counts, stats.wait_histogram);
    assert_sums(sums, &stats);
    assert_eq!(capture.value("iobuf_capacity{pool=published}"), Some(1.0));
    assert_eq!(capture.value("iobuf_in_use{pool=published}"), Some(0.0));
    assert_eq!(
        capture.value("iobuf_waits_total{pool=published,waiter=thread}"),
        Some(3.0)
    );
    assert_eq!(
        capture.value("iobuf_timeouts_total{pool=published}"),
        Some(3.0)
    );
    assert_eq!(
        capture.value("iobuf_try_get_failures_total{pool=published}"),
        Some(1.0)
    );
    assert_eq!(capture.value("iobuf_capacity{pool=absent}"), None);
}

#[test]
fn a_reporter_needs_an_interval() {
    let err = Reporter::spawn(Duration::ZERO, || [("zero", None::<PoolStats>)]).unwrap_err();
    assert!(matches!(err, crate::Error::InvalidArgument { .. }), "{err}");
}

/// The process's recorder, for the reporter's thread (a local recorder
/// covers only the thread that sets it).
fn global() -> &'static Capture {
    static GLOBAL: OnceLock<Capture> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let capture = Capture::default();
        metrics::set_global_recorder(capture.clone()).expect("only this test module sets it");
        capture
    })
}

/// Polls `done` every millisecond for up to 10 s.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn a_reporter_keeps_the_values_current_until_stopped() {
    let capture = global();
    let pool = Arc::new(
        BoundedPool::<PicoBuffer>::with_config(2, PoolConfig::new().thread_cache(0)).unwrap(),
    );
    let p = pool.clone();
    let reporter = Reporter::spawn(Duration::from_millis(5), move || {
        [("reported", Some(p.stats()))]
    })
    .unwrap();
    let in_use = || capture.value("iobuf_in_use{pool=reported}");
    assert!(eventually(|| in_use() == Some(0.0)), "{:?}", in_use());
    // Values move with no call from here: the thread publishes them.
    let held = pool.get();
    assert!(eventually(|| in_use() == Some(1.0)), "{:?}", in_use());
    let other = pool.get();
    assert!(pool.get_timeout(Duration::from_millis(1)).is_err());
    assert!(
        eventually(|| capture.histogram("reported").0.iter().sum::<u64>() == 1),
        "{:?}",
        capture.histogram("reported")
    );
    reporter.stop().unwrap();
    // Every report since the wait saw both buffers held.
    assert_eq!(in_use(), Some(2.0));
    // Stopped and joined: nothing more is published.
    drop((held, other));
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(in_use(), Some(2.0));
}

#[test]
fn a_reporter_that_panicked_says_so_when_stopped() {
    let reporter = Reporter::spawn(
        Duration::from_millis(1),
        || -> [(&str, Option<PoolStats>); 0] { panic!("the stats function fails") },
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(reporter.stop().is_err());
    // Dropping one stops it too.
    drop(
        Reporter::spawn(Duration::from_secs(3600), || {
            [("dropped", None::<PoolStats>)]
        })
        .unwrap(),
    );
}
