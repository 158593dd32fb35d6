//! The bitmap's unit tests (the loom models are in `tests.rs`).

use super::{BITS, Bitmap};

#[test]
fn full_bitmaps_hold_every_index_once() {
    for capacity in (1..=70).chain([1024, 4096]) {
        let b = Bitmap::new_full(capacity);
        assert_eq!(b.len(), capacity);
        let mut seen = vec![false; capacity];
        for k in 0..capacity {
            let i = b.take(k * 7).expect("a free index") as usize;
            assert!(i < capacity && !seen[i], "capacity {capacity}: index {i}");
            seen[i] = true;
        }
        assert_eq!(b.take(0), None);
        assert!(b.looks_empty());
        for i in (0..capacity as u32).rev() {
            b.put(i);
        }
        assert_eq!(b.len(), capacity);
    }
}

#[test]
fn batches_take_one_word_and_come_back_whole() {
    // Four full words (the `SPREAD` minimum).
    let b = Bitmap::new_full(4 * BITS as usize);
    let mut got = Vec::new();
    assert_eq!(b.take_batch(BITS as usize, 40, |i| got.push(i)), BITS);
    assert!(
        got.iter().all(|&i| (BITS..2 * BITS).contains(&i)),
        "word 1 first: {got:?}"
    );
    assert_eq!(b.take_batch(0, 5, |i| got.push(i)), 5);
    assert_eq!(b.len(), 3 * BITS as usize - 5);
    got.sort_unstable();
    b.put_batch(&got);
    assert_eq!(b.len(), 4 * BITS as usize);
}

#[test]
fn small_pools_spread_over_words() {
    for (capacity, words, per) in [
        (1, 1, 1),
        (2, 2, 1),
        (3, 3, 1),
        (4, 4, 1),
        (5, 5, 1),
        (33, 5, 8),
        (64, 4, 16),
        (128, 4, 32),
        (100, 4, 32),
        (129, 5, 32),
        (4096, 128, 32),
    ] {
        let b = Bitmap::new_full(capacity);
        assert_eq!((b.words.len(), b.per), (words, per), "capacity {capacity}");
        assert_eq!(b.len(), capacity);
    }
}

#[test]
fn any_capacity_fills_its_last_word_partly() {
    // Capacities that are no power of two leave the last word partly
    // used: exactly `capacity` indices, each once, none beyond (B1).
    for capacity in [33, 97, 1000, 1025, 4097] {
        let b = Bitmap::new_full(capacity);
        assert_eq!(b.len(), capacity);
        let mut seen = vec![false; capacity];
        while let Some(i) = b.take(0) {
            let i = i as usize;
            assert!(i < capacity && !seen[i], "capacity {capacity}: index {i}");
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s), "capacity {capacity}");
        // Batches too: every index back in one call, then out again.
        b.put_batch(&(0..capacity as u32).collect::<Vec<_>>());
        let mut taken = 0;
        loop {
            let n = b.take_batch(taken, 32, |i| assert!((i as usize) < capacity));
            if n == 0 {
                break;
            }
            taken += n as usize;
        }
        assert_eq!((taken, b.len()), (capacity, 0), "capacity {capacity}");
        assert_eq!(
            super::bytes_for(capacity),
            b.words.len() * std::mem::size_of_val(&b.words[0])
        );
    }
}

#[test]
fn threads_never_share_an_index() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    for capacity in [1, 2, 3, 33, 100] {
        let b = Bitmap::new_full(capacity);
        let held: Vec<AtomicBool> = (0..capacity).map(|_| AtomicBool::new(false)).collect();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (b, held) = (&b, &held);
                s.spawn(move || {
                    for k in 0..if cfg!(miri) { 20 } else { 20_000 } {
                        if let Some(i) = b.take(t * 31 + k) {
                            assert!(!held[i as usize].swap(true, SeqCst), "index {i} twice");
                            assert!(held[i as usize].swap(false, SeqCst));
                            b.put(i);
                        }
                    }
                });
            }
        });
        assert_eq!(b.len(), capacity);
    }
}
