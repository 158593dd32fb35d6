//! Per-index side data the slab may keep for an integration: one
//! `AtomicU32` per index ("side words"), all 0 until an integration writes
//! them, allocated on first use (4 bytes per buffer, once per pool).
//!
//! The pool never reads or writes them and knows nothing of what they
//! mean; it only keeps them alive as long as itself, at a fixed address
//! (a `Box` in a `OnceLock` of the pool, never moved or freed before the
//! pool drops), so an integration may keep a pointer to a word for as long
//! as it keeps the pool alive, and may key a table by a word's address.
//!
//! One integration uses them: the share counts of `shared`'s views (its
//! `count.rs` owns their protocol). A second integration that needs
//! per-index data gets an array of its own beside this one, rather than
//! sharing these words.

use crate::sync::AtomicU32;

/// One word per index of a pool, for an integration (module docs).
pub(crate) struct SideWords {
    words: Box<[AtomicU32]>,
}

impl SideWords {
    /// `capacity` words, all 0.
    pub(super) fn new(capacity: usize) -> SideWords {
        SideWords {
            words: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The word of index `index` (`index < capacity`, I3).
    pub(crate) fn get(&self, index: u32) -> &AtomicU32 {
        &self.words[index as usize]
    }
}
