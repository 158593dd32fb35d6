//! Views joined end to end for the frame writer's queue: `n` frames cut
//! one after the other leave as one slice and give back their shares in one
//! decrement.

use super::{View, count};

/// A view that may hold, besides its own share, the shares of views joined
/// onto its end (the frame writer's queue): `n` frames cut one after the
/// other cost one decrement of the count when they leave, not `n`.
///
/// Every share it holds is one of the count's (`extra` of them besides
/// the view's own), so the buffer stays out of the pool while it lives;
/// the drop gives the extra ones back in one decrement (never the last:
/// the view's own share drops after it, and wakes a watcher as any drop
/// does).
#[derive(Debug)]
pub(crate) struct Joined {
    view: View,
    /// Shares of joined views, held besides `view`'s own.
    extra: u32,
}

impl Joined {
    /// `view`, holding its own share only.
    #[inline]
    pub(crate) fn new(view: View) -> Joined {
        Joined { view, extra: 0 }
    }

    /// The bytes: the view's, joined ones included.
    #[inline]
    pub(crate) fn view(&self) -> &View {
        &self.view
    }

    /// Joins `next` onto the end when it starts where this one ends, in
    /// the same buffer (two frames cut one after the other, say): no copy,
    /// no atomic operation (`next`'s shares are kept, and given back with
    /// the others when this drops). Otherwise gives `next` back untouched.
    /// (`BytesMut::unsplit` without its copying fallback.)
    #[inline]
    pub(crate) fn try_join(&mut self, next: Joined) -> Result<(), Joined> {
        let view = &mut self.view;
        // One count per buffer: equal counts, both alive, mean one buffer
        // out of the pool; the addresses compare as integers, never read.
        let same_buffer = view.home.count == next.view.home.count;
        if !same_buffer || view.ptr.as_ptr().wrapping_add(view.len) != next.view.ptr.as_ptr() {
            return Err(next);
        }
        // `ptr..ptr + len + next.len` is this view's frozen range followed
        // by `next`'s, in the buffer both shares keep out of the pool, and
        // `ptr` came from the slab's raw pointer (`SplitBuf::view`), whose
        // provenance covers the whole buffer: `as_slice` stays sound.
        view.len += next.view.len;
        // Every share held here is one of the count's (at most
        // `MAX_SHARES`, `count.rs`), so the sum cannot overflow.
        debug_assert!(
            u64::from(self.extra) + u64::from(next.extra) < u64::from(u32::MAX),
            "more joined shares ({} + {}) than a count holds",
            self.extra,
            next.extra
        );
        self.extra += next.extra + 1;
        // Its shares, its view's own and its extra ones, now count in
        // `extra` (given back in `drop`): neither drop may run.
        std::mem::forget(next);
        Ok(())
    }
}

impl Clone for Joined {
    /// A clone of the view, with one share of its own.
    fn clone(&self) -> Joined {
        Joined::new(self.view.clone())
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        if self.extra > 0 {
            // The view's own share (dropped next) keeps the count above
            // `extra`: never the last one.
            count::give_back(self.view.home.count(), self.extra);
        }
    }
}
