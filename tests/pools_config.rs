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
    // Pools round counts up to a power of two.
    assert_eq!(from_config::small().capacity(), 128);
    assert_eq!(from_config::large().capacity(), 4);
    let stats = from_config::stats();
    assert_eq!(stats[0].0, "small");
    assert_eq!(stats[1].1.as_ref().unwrap().capacity, 4);
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
    // Declared: 2 MiB + 8 MiB. Budget: 2.5 MiB, a quarter.
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
