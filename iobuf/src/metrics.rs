//! The pools' counters through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`): whatever exporter the program installed
//! (Prometheus, StatsD, OpenTelemetry, …) gets them, labelled by pool.
//!
//! Call [`record`] for one pool or [`record_set`] with a `buffer_pools!`
//! set's `stats()`, when you want the numbers published: from a periodic
//! task, or just before a scrape is rendered. Each call reads the pool's
//! [`PoolStats`] and sets the gauges and counters below; it allocates the
//! label strings and walks the pool's thread caches under their registry
//! lock (as `stats()` does), so keep it off the hot path.
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
//! | `iobuf_wait_seconds_bucket{le}` | counter | queued waits up to `le` seconds (cumulative, as Prometheus histograms; `+Inf` for all) |
//!
//! Every metric carries a `pool` label with the name given.

use metrics::{counter, gauge};

use crate::PoolStats;

/// Publishes `stats`, a pool's statistics, under the label `pool = name`.
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
    let mut cumulative = 0;
    for (i, &count) in stats.wait_histogram.iter().enumerate() {
        cumulative += count;
        let le = match PoolStats::WAIT_BOUNDS_MICROS.get(i) {
            Some(&micros) => format!("{}", micros as f64 / 1e6),
            None => "+Inf".to_owned(),
        };
        counter!("iobuf_wait_seconds_bucket", "pool" => pool.clone(), "le" => le)
            .absolute(cumulative);
    }
}

/// Publishes every pool of a `buffer_pools!` set: pass the set's
/// `stats()`. Pools not created yet are skipped.
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
