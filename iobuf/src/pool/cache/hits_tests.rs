//! The hit count shares the length's word: a pop whose count carries out
//! of it goes the slow way and loses no hit.

use std::sync::Weak;

use super::test_home::Pool;
use super::{Fast, HIT, Magazine};
use crate::sync::Ordering;

/// Sets the magazine's hit count (its low 32 bits) to `hits`, keeping the
/// length.
fn set_hits(magazine: &Magazine, hits: u32) {
    let word = magazine.hot.len_hits.load(Ordering::Relaxed);
    let word = (word & super::LEN_MASK) | (u64::from(hits) * HIT);
    magazine.hot.len_hits.store(word, Ordering::Relaxed);
}

#[test]
fn a_pop_that_carries_goes_slow_and_the_total_stays_exact() {
    let magazine = Magazine::new(Weak::<Pool>::new(), 1, 8, false);
    for index in [10, 11, 12] {
        assert!(matches!(magazine.push(index), Fast::Done));
    }
    set_hits(&magazine, u32::MAX - 1);
    assert!(matches!(magazine.pop(), Fast::Got(12)));
    assert_eq!(magazine.hits(), u64::from(u32::MAX));
    // The next fast pop would carry out of the word: it declines, and
    // changes nothing.
    assert!(matches!(magazine.pop(), Fast::Slow));
    assert_eq!(magazine.len(), 2);
    assert_eq!(magazine.hits(), u64::from(u32::MAX));
    // The slow pop carries under the lock.
    assert_eq!(magazine.lock().pop_hit(), Some(11));
    assert_eq!(magazine.hits(), 1 << 32);
    assert_eq!(magazine.len(), 1);
    // And the fast path counts on from there.
    assert!(matches!(magazine.pop(), Fast::Got(10)));
    assert_eq!(magazine.hits(), (1 << 32) + 1);
    assert_eq!(magazine.len(), 0);
    assert!(matches!(magazine.pop(), Fast::Slow));
    assert_eq!(magazine.lock().pop_hit(), None);
}

#[test]
fn lengths_set_under_the_lock_keep_the_hit_count() {
    let magazine = Magazine::new(Weak::<Pool>::new(), 1, 8, false);
    for index in 0..4 {
        assert!(matches!(magazine.push(index), Fast::Done));
    }
    set_hits(&magazine, 7);
    let mut mag = magazine.lock();
    assert!(mag.push_one(4));
    assert_eq!(mag.pop_one(), Some(4));
    drop(mag);
    assert_eq!(magazine.len(), 4);
    assert_eq!(magazine.hits(), 7);
}
