//! `buffer_pools!` sizes set at run time: counts from a configuration read
//! at start-up, a memory budget, and the errors for misuse. Each test has
//! its own set (statics are per set), so the tests do not see each other.

use iobuf::Error;

mod from_config {
    iobuf::buffer_pools! {
        small: 2KiB x 1024,
        large: 128KiB x 64,
    }
}

#[test]
fn counts_read_at_run_time_set_the_capacities() {
    // As a server would: values read at run time (a configuration file's
    // text, here behind `black_box` so nothing is known at compile time).
    let config = std::hint::black_box("small=100\nlarge=3\n");
    for line in config.lines() {
        let (name, count) = line.split_once('=').unwrap();
        from_config::set_count(name, count.parse().unwrap()).unwrap();
    }
    from_config::init().unwrap();
    // Exactly the counts asked for: no rounding.
    assert_eq!(from_config::small().capacity(), 100);
    assert_eq!(from_config::large().capacity(), 3);
    let stats = from_config::stats();
    assert_eq!(stats[0].0, "small");
    assert_eq!(stats[1].1.as_ref().unwrap().capacity, 3);
    // Too late now: a clear error, not a silent no-op.
    let err = from_config::set_count("small", 8).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("already created"), "{err}");
    assert!(from_config::set_budget(1).is_err());
}

mod misuse {
    iobuf::buffer_pools! {
        tiny: 512 x 8,
    }
}

#[test]
fn bad_counts_and_names_are_errors() {
    let err = misuse::set_count("nope", 4).unwrap_err();
    assert!(
        err.to_string()
            .contains("no pool named `nope`; the pools are tiny"),
        "{err}"
    );
    assert!(misuse::set_count("tiny", 0).is_err());
    assert!(misuse::set_count("tiny", (1 << 31) + 1).is_err());
    // None of that created or changed the pool.
    assert!(misuse::stats()[0].1.is_none());
    assert_eq!(misuse::tiny().capacity(), 8);
}

mod budget {
    iobuf::buffer_pools! {
        small: 2KiB x 1024,
        large: 128KiB x 64,
    }
}

#[test]
fn a_budget_scales_every_pool_down_to_fit() {
    // Declared: 2 MiB + 8 MiB. Budget: 2.5 MiB, a quarter exactly.
    budget::set_budget(2_621_440).unwrap();
    let bytes = budget::small().capacity() * 2048 + budget::large().capacity() * 131_072;
    assert!(bytes <= 2_621_440, "{bytes}");
    assert_eq!(budget::small().capacity(), 256);
    assert_eq!(budget::large().capacity(), 16);
    assert!(budget::get(100).is_some());
}

mod too_small {
    iobuf::buffer_pools! {
        small: 2KiB x 4,
        large: 128KiB x 4,
    }
}

#[test]
fn a_budget_below_one_buffer_each_is_an_error_and_changes_nothing() {
    let err = too_small::set_budget(100_000).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert_eq!(too_small::small().capacity(), 4);
    assert_eq!(too_small::large().capacity(), 4);
}

mod odd_budget {
    iobuf::buffer_pools! {
        small: 2KiB x 100_000,
        large: 128KiB x 1000,
    }
}

#[test]
fn a_budget_is_filled_to_within_one_buffer_per_pool() {
    // 200 MB + 131 MB into 64 MiB: a factor of 0.1998..., which the old
    // powers of two turned into 16 384 + 128 buffers (48 MiB).
    let budget = 64 << 20;
    odd_budget::set_budget(budget).unwrap();
    let (small, large) = (odd_budget::small(), odd_budget::large());
    let bytes = small.capacity() * 2048 + large.capacity() * 131_072;
    assert!(bytes <= budget, "{bytes}");
    assert!(budget - bytes < 2048 + 131_072, "{bytes}");
    // Each count is its share (count x budget / total) rounded down.
    assert_eq!((small.capacity(), large.capacity()), (19_980, 199));
}

mod exact {
    iobuf::buffer_pools! {
        small: 2KiB x 8,
    }
}

#[test]
fn a_count_is_the_capacity() {
    exact::set_count("small", 1000).unwrap();
    assert_eq!(exact::small().capacity(), 1000);
    assert_eq!(exact::stats()[0].1.unwrap().available, 1000);
}

mod above_memory {
    iobuf::buffer_pools! {
        small: 2KiB x 8,
        #[pool(allow_overcommit)]
        sparse: 4KiB x 8,
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri does not model the machine's memory (sysconf), so nothing refuses the count"
)]
fn a_count_above_memory_is_refused_by_set_count() {
    // 2^31 buffers of 2 KiB (4 TiB): above this machine's memory, refused
    // by `set_count` itself, naming the remedy.
    let err = above_memory::set_count("small", 1 << 31).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("pool `small`"), "{msg}");
    assert!(msg.contains("physical memory"), "{msg}");
    assert!(msg.contains("#[pool(allow_overcommit)]"), "{msg}");
    // An entry that allows overcommit takes it (8 TiB; not created here:
    // its bitmap alone would be 8 GiB).
    above_memory::set_count("sparse", 1 << 31).unwrap();
    above_memory::set_count("sparse", 5).unwrap();
    // The refused count changed nothing.
    assert_eq!(above_memory::small().capacity(), 8);
    assert_eq!(above_memory::sparse().capacity(), 5);
}

mod budget_above_memory {
    iobuf::buffer_pools! {
        tiny: 64 x 8,
        // 64 TiB declared: more than any machine this runs on.
        huge: 1GiB x 65_536,
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri does not model the machine's memory (sysconf), so nothing refuses the count"
)]
fn a_budget_that_leaves_a_pool_above_memory_changes_nothing() {
    // Halved, `huge` would still be 32 TiB, a count `set_count` refuses:
    // so the budget is refused before `tiny` (first in order) is halved.
    let err = budget_above_memory::set_budget(32 << 40).unwrap_err();
    assert!(err.to_string().contains("pool `huge`"), "{err}");
    assert!(err.to_string().contains("physical memory"), "{err}");
    assert_eq!(budget_above_memory::tiny().capacity(), 8);
}

mod declared_too_large {
    iobuf::buffer_pools! {
        // 64 TiB: more than any machine this runs on.
        huge: 1GiB x 65_536,
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri does not model the machine's memory (sysconf), so nothing refuses the count"
)]
fn a_failed_creation_leaves_the_count_settable() {
    let err = declared_too_large::init().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    assert!(err.to_string().contains("physical memory"), "{err}");
    assert!(declared_too_large::stats()[0].1.is_none());
    // Not created, so still open to a count that fits (a lazily committed
    // 1 GiB slab).
    declared_too_large::set_count("huge", 1).unwrap();
    declared_too_large::init().unwrap();
    assert_eq!(declared_too_large::huge().capacity(), 1);
}

/// One set for one trial of `set_budget` against first uses: its budget,
/// its pools' first uses, and their capacities.
struct Racing {
    set_budget: fn(usize) -> Result<(), Error>,
    first_uses: [fn(); 3],
    capacities: fn() -> [usize; 4],
}

macro_rules! racing_sets {
    ($($set:ident)*) => {
        $(
            mod $set {
                iobuf::buffer_pools! {
                    a: 64 x 64,
                    b: 128 x 64,
                    c: 256 x 64,
                    d: 512 x 64,
                }
            }
        )*

        fn racing_sets() -> Vec<Racing> {
            vec![$(Racing {
                set_budget: $set::set_budget,
                first_uses: [
                    || drop($set::b().try_get()),
                    || drop($set::c().try_get()),
                    || drop($set::d().try_get()),
                ],
                capacities: || {
                    [$set::a().capacity(), $set::b().capacity(), $set::c().capacity(),
                     $set::d().capacity()]
                },
            }),*]
        }
    };
}

racing_sets! {
    r00 r01 r02 r03 r04 r05 r06 r07 r08 r09 r10 r11 r12 r13 r14 r15
    r16 r17 r18 r19 r20 r21 r22 r23 r24 r25 r26 r27 r28 r29 r30 r31
    r32 r33 r34 r35 r36 r37 r38 r39 r40 r41 r42 r43 r44 r45 r46 r47
    r48 r49 r50 r51 r52 r53 r54 r55 r56 r57 r58 r59 r60 r61 r62 r63
}

#[test]
fn a_budget_racing_first_uses_changes_every_count_or_none() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    // Declared 64 x (64 + 128 + 256 + 512) bytes; half of that halves
    // every count exactly.
    let budget = 64 * (64 + 128 + 256 + 512) / 2;
    let sets = racing_sets();
    let trials = if cfg!(miri) { 4 } else { sets.len() };
    let (mut changed, mut refused) = (0, 0);
    for (trial, set) in sets.iter().take(trials).enumerate() {
        // Four threads released together; the three first uses start a
        // little later each trial, sweeping across `set_budget`.
        let ready = AtomicUsize::new(0);
        let result = std::thread::scope(|s| {
            for (t, first_use) in set.first_uses.into_iter().enumerate() {
                let ready = &ready;
                s.spawn(move || {
                    ready.fetch_add(1, SeqCst);
                    while ready.load(SeqCst) < 4 {
                        std::hint::spin_loop();
                    }
                    for _ in 0..(trial * 7 + t * 3) % 64 * 20 {
                        std::hint::spin_loop();
                    }
                    first_use();
                });
            }
            ready.fetch_add(1, SeqCst);
            while ready.load(SeqCst) < 4 {
                std::hint::spin_loop();
            }
            (set.set_budget)(budget)
        });
        let capacities = (set.capacities)();
        match result {
            Ok(()) => {
                changed += 1;
                assert_eq!(
                    capacities, [32; 4],
                    "trial {trial}: Ok, but not every count changed"
                );
            }
            Err(err) => {
                refused += 1;
                assert!(err.to_string().contains("already created"), "{err}");
                assert_eq!(
                    capacities, [64; 4],
                    "trial {trial}: {err}, but a count changed"
                );
            }
        }
    }
    // Which way each trial went depends on the scheduler; what the test
    // checks is that no trial went half way.
    assert_eq!(changed + refused, trials);
    println!("{changed} budgets applied whole, {refused} refused whole");
}
