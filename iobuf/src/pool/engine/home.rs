//! The engine as its thread caches' [`Home`]: what the cache layer needs of
//! its pool, through a trait the cache owns, so that the cache never names
//! the engine and the imports point one way (engine → cache).

use std::sync::Weak;

use super::Engine;
use crate::bitmap::Bitmap;
use crate::pool::cache::{Home, Registry};
use crate::wait::Delivery;

impl Home for Engine {
    #[inline]
    fn pool_id(&self) -> u32 {
        self.pool_id
    }

    #[inline]
    fn cache_capacity(&self) -> u32 {
        self.cache_capacity
    }

    #[inline]
    fn free(&self) -> &Bitmap {
        &self.free
    }

    #[inline]
    fn caches(&self) -> &Registry {
        &self.caches
    }

    #[inline]
    fn take_free(&self) -> Option<u32> {
        Engine::take_free(self)
    }

    #[inline]
    fn has_waiters(&self) -> bool {
        self.waiters.has_waiters()
    }

    fn serve_waiters(&self, delivery: &mut Delivery) {
        Engine::serve_waiters(self, delivery);
    }

    fn weak(&self) -> Weak<dyn Home> {
        self.me.clone()
    }
}
