//! A stand-in for the pool's engine in the cache layer's own tests: the
//! cache reaches its pool only through [`Home`], so its tests need no
//! engine.

use super::{Home, Registry};
use crate::bitmap::Bitmap;
use crate::wait::Delivery;

/// A pool's home with no waiters: its bitmap and its registry, which is
/// all the cache layer reaches for on these paths.
pub(super) struct Pool {
    pub(super) free: Bitmap,
    pub(super) caches: Registry,
    me: std::sync::Weak<Pool>,
}

// Only the loom models make one; the unit tests only name the type.
#[cfg_attr(not(loom), allow(dead_code))]
impl Pool {
    pub(super) fn new(capacity: usize) -> std::sync::Arc<Pool> {
        std::sync::Arc::new_cyclic(|me| Pool {
            free: Bitmap::new_full(capacity),
            caches: Registry::default(),
            me: me.clone(),
        })
    }

    /// What a `try_get` strikes with: the exact take over the caches.
    pub(super) fn try_get(&self) -> Option<u32> {
        let (got, _moved, _source) = super::take(self, true);
        got
    }
}

impl Home for Pool {
    fn pool_id(&self) -> u32 {
        1
    }

    fn cache_capacity(&self) -> u32 {
        2
    }

    fn free(&self) -> &Bitmap {
        &self.free
    }

    fn caches(&self) -> &Registry {
        &self.caches
    }

    fn take_free(&self) -> Option<u32> {
        self.free.take(0)
    }

    fn has_waiters(&self) -> bool {
        false
    }

    fn serve_waiters(&self, _: &mut Delivery) {}

    fn weak(&self) -> std::sync::Weak<dyn Home> {
        self.me.clone()
    }
}
