//! This thread's side of the caches: the tables that find a pool's
//! magazine, the fast path built on them, and the slow paths (refill, spill,
//! first use) behind a [`Local`] handle.
//!
//! # Why a magazine pointer from the table is valid
//!
//! The fast table holds raw pointers, because a `thread_local!` with a
//! destructor costs several ns per access. Each pointer is valid for as long
//! as it is in the table, because:
//!
//! - the thread's `OWNED` list holds an `Arc` of every magazine in the
//!   table, and a magazine leaves `OWNED` only after `forget` removed it
//!   from the table (`attach` pruning a dropped pool's magazine) or after
//!   the table was disabled and cleared (thread exit, `Owned::drop`);
//! - only this thread reads or writes its table and its `OWNED`, and none of
//!   the functions that dereference a table pointer can reach `Owned::drop`
//!   or `attach`'s pruning while the reference lives.
//!
//! [`magazine`] is the one place that turns such a pointer into a
//! reference; every use below goes through it, with the reference bounded
//! by the call (`with_front`) or by a `Local<'a>` that is `!Send` and
//! borrows the pool's home.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;

use super::{Fast, Home, Magazine, Moved, SLOTS};
use crate::sync::{Held, Ordering};

/// The fast table: no destructor, so `thread_local!` access is a plain
/// thread-pointer-relative load.
struct Table {
    ids: [Cell<u32>; SLOTS],
    magazines: [Cell<*const Magazine>; SLOTS],
    /// Set once the thread's exit guard ran: caching is over for this thread.
    disabled: Cell<bool>,
}

thread_local! {
    static TABLE: Table = const {
        Table {
            ids: [const { Cell::new(0) }; SLOTS],
            magazines: [const { Cell::new(std::ptr::null()) }; SLOTS],
            disabled: Cell::new(false),
        }
    };
    /// Owns this thread's magazines; its destructor flushes them.
    static OWNED: Owned = const { Owned(RefCell::new(Vec::new())) };
}

struct Owned(RefCell<Vec<Arc<Magazine>>>);

impl Drop for Owned {
    fn drop(&mut self) {
        // First stop the fast table from handing out pointers we free below.
        let _ = TABLE.try_with(|t| {
            t.disabled.set(true);
            for id in &t.ids {
                id.set(0);
            }
        });
        // Out of the `RefCell` before any flush: flushing serves waiters,
        // whose wakers must not run under a borrow (W4 in `wait.rs`).
        let magazines = std::mem::take(self.0.get_mut());
        for magazine in magazines {
            let delivery = magazine.flush();
            // ORDERING: Release: after the flush; see `Magazine::is_retired`.
            magazine.retired.store(true, Ordering::Release);
            // A panic cannot unwind out of a thread-local destructor (the
            // process would abort): a waker's panic is dropped here, after
            // every wake-up was delivered.
            drop(delivery);
        }
    }
}

/// The magazine behind a pointer taken from this thread's table.
///
/// # Safety
///
/// `ptr` must have been read from this thread's `TABLE` (non-null), and the
/// reference must not outlive the current pool operation of this thread
/// (module docs: the thread's `OWNED` keeps it alive until then).
#[inline(always)]
unsafe fn magazine<'a>(ptr: *const Magazine) -> &'a Magazine {
    debug_assert!(!ptr.is_null(), "a null magazine in the fast table");
    // SAFETY: the caller's contract, which the module docs prove for every
    // pointer in the table.
    unsafe { &*ptr }
}

/// Runs `f` on this thread's most recently used magazine, if it is
/// `pool_id`'s: the only lookup on the fast path. Pools without caching
/// never enter the table, so they always miss here.
#[inline(always)]
fn with_front<R>(pool_id: u32, f: impl FnOnce(&Magazine) -> R) -> Option<R> {
    // `with`, not `try_with`: the table has no destructor, so it is never
    // torn down, and `with` skips the state check. Ids start at 1, so an
    // empty slot (0) never matches.
    let ptr = TABLE.with(|t| (t.ids[0].get() == pool_id).then(|| t.magazines[0].get()))?;
    // SAFETY: read from the table just now; the reference does not leave
    // this call.
    Some(f(unsafe { magazine(ptr) }))
}

/// Fast path: an index from this thread's cache of `pool_id`, if it is at
/// the front of the table and holds one. Inlined into `get`/`try_get`.
#[inline(always)]
pub(crate) fn pop(pool_id: u32) -> Option<u32> {
    match with_front(pool_id, Magazine::pop)? {
        Fast::Got(i) => Some(i),
        _ => None,
    }
}

/// Fast path: caches `index` in this thread's cache of `pool_id`; `false`
/// (nothing done) if it is not at the front, is full, is being stolen
/// from, or a getter waits. Inlined into the guard's drop.
#[inline(always)]
pub(crate) fn push(pool_id: u32, index: u32) -> bool {
    matches!(with_front(pool_id, |m| m.push(index)), Some(Fast::Done))
}

/// A strike past a missed fast path, for a pool with caching on: this
/// thread's cache (found or made), a refill from the bitmap, then the other
/// threads' caches. The engine serves the waiters for what a steal moved
/// (`Moved`) once this returns.
///
/// `exact` (a `try_get`): when that finds nothing, a second, frozen pass
/// over every cache (`Registry::steal_exact`) makes "nothing" mean that
/// every index was held at some instant of the call.
pub(crate) fn take<H: Home>(home: &H, exact: bool) -> (Option<u32>, Moved, Source) {
    let own = match Local::find(home) {
        Some(local) => {
            // (`pop` counts its own hit.)
            if let Fast::Got(i) = local.magazine.pop() {
                return (Some(i), Moved::default(), Source::Cache);
            }
            if let Some((i, source)) = local.refill() {
                return (Some(i), Moved::default(), source);
            }
            Some(local.magazine)
        }
        // The thread is exiting: the bitmap, then the other caches.
        None => {
            if let Some(i) = home.take_free() {
                return (Some(i), Moved::default(), Source::Shared);
            }
            None
        }
    };
    let moved = home.caches().steal(own, false, home.free());
    let got = home.take_free();
    if got.is_some() || !exact {
        return (got, moved, Source::Steal);
    }
    let (got, more) = home
        .caches()
        .steal_exact(own, home.free(), || home.take_free());
    (got, moved.and(more), Source::Steal)
}

/// Where a strike's index came from, for the pool's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// This thread's cache (counted by the cache itself).
    Cache,
    /// A refill of this thread's cache from the bitmap.
    Refill,
    /// The bitmap, after moving other threads' cached indices there.
    Steal,
    /// The bitmap, no cache involved.
    Shared,
}

/// What [`give`] did with an index.
pub(crate) enum Gave {
    /// Cached in this thread's magazine.
    Kept,
    /// Cached, after a batch went to the bitmap to make room: the engine
    /// serves the waiters for it.
    Spilled(Moved),
    /// Not cached (a getter waits, or the thread is exiting): the engine
    /// gives it to a waiter or the bitmap.
    Shared(u32),
}

/// A return past a missed fast path, for a pool with caching on: this
/// thread's cache (found or made), spilling a batch when full; back to the
/// engine when a getter waits or the thread is exiting.
pub(crate) fn give<H: Home>(home: &H, index: u32) -> Gave {
    match Local::find(home) {
        Some(local) => {
            if let Fast::Done = local.magazine.push(index) {
                return Gave::Kept;
            }
            local.spill(index)
        }
        None => Gave::Shared(index),
    }
}

/// This thread's cache of one pool, for the length of one operation: it
/// borrows the engine and cannot leave the thread.
struct Local<'a, H> {
    magazine: &'a Magazine,
    home: &'a H,
    /// A magazine reached through this thread's table is only valid on it.
    _not_send: PhantomData<*const ()>,
}

impl<'a, H: Home> Local<'a, H> {
    /// This thread's cache of `home`'s pool, registering one on first use
    /// and moving it to the front of the table; `None` if the thread is
    /// exiting.
    fn find(home: &'a H) -> Option<Local<'a, H>> {
        if cfg!(all(loom, test)) {
            // Loom's model threads share the OS thread's thread-locals,
            // which would outlive each model: under loom every thread is an
            // exiting one, and the models drive magazines directly.
            return None;
        }
        let ptr = match lookup(home.pool_id()) {
            Lookup::Found(ptr) => ptr,
            Lookup::Missing => attach(home)?,
            Lookup::Disabled => return None,
        };
        Some(Local {
            // SAFETY: read from the table (`lookup` or `attach` just put it
            // there); the reference lives as long as this `Local`, which is
            // `!Send` and bounded by the caller's pool operation.
            magazine: unsafe { magazine(ptr) },
            home,
            _not_send: PhantomData,
        })
    }

    /// The fast pop found nothing: the cache is empty, was being stolen
    /// from, or its hit count carries. Under the lock, a cached index (a
    /// hit) if there is one now; else take a batch from the bitmap, keep
    /// all but one, and return that one (a refill). `None` when the bitmap
    /// is empty too (the caller then steals).
    #[cold]
    fn refill(&self) -> Option<(u32, Source)> {
        let mut mag = self.magazine.lock();
        if let Some(i) = mag.pop_hit() {
            return Some((i, Source::Cache));
        }
        mag.fill_from_free(self.home.free(), mag.batch());
        mag.pop_one().map(|i| (i, Source::Refill))
    }

    /// The cache is full, being stolen from, or a getter waits: back to
    /// the engine if someone waits, else make room by moving a batch to
    /// the bitmap.
    #[cold]
    fn spill(&self, index: u32) -> Gave {
        let mut mag = self.magazine.lock();
        if self.home.has_waiters() {
            return Gave::Shared(index);
        }
        if mag.push_one(index) {
            return Gave::Kept;
        }
        let moved = mag.move_to_free(self.home.free(), mag.batch());
        let kept = mag.push_one(index);
        debug_assert!(kept, "a spill left no room");
        Gave::Spilled(moved)
    }
}

/// What `lookup` found.
enum Lookup {
    Found(*const Magazine),
    /// Not at hand: register one (`attach`).
    Missing,
    /// The thread is exiting: use the bitmap directly.
    Disabled,
}

/// This thread's magazine for `pool_id`, if it has one at hand, moved to
/// the front of the table.
fn lookup(pool_id: u32) -> Lookup {
    TABLE.with(|t| {
        if t.ids[0].get() == pool_id {
            return Lookup::Found(t.magazines[0].get());
        }
        if t.disabled.get() {
            return Lookup::Disabled;
        }
        for i in 1..SLOTS {
            if t.ids[i].get() == pool_id {
                // Move to the front: most recently used first.
                let (id, magazine) = (t.ids[i].get(), t.magazines[i].get());
                t.ids[i].set(t.ids[0].get());
                t.magazines[i].set(t.magazines[0].get());
                t.ids[0].set(id);
                t.magazines[0].set(magazine);
                return Lookup::Found(magazine);
            }
        }
        Lookup::Missing
    })
}

/// Removes a magazine from this thread's fast table.
fn forget(magazine: *const Magazine) {
    let _ = TABLE.try_with(|t| {
        for i in 0..SLOTS {
            if t.magazines[i].get() == magazine {
                t.ids[i].set(0);
                t.magazines[i].set(std::ptr::null());
            }
        }
    });
}

/// Finds or makes this thread's magazine for `home`'s pool and puts it at
/// the front of the fast table; `None` if the thread is exiting. A magazine
/// evicted from the table (of this pool or another) is flushed to its pool
/// once the thread's `RefCell` borrow is released (W4 in `wait.rs`).
#[cold]
fn attach<H: Home>(home: &H) -> Option<*const Magazine> {
    let (ptr, evicted) = OWNED
        .try_with(|owned| {
            let mut owned = owned.0.borrow_mut();
            let _held = Held::new();
            // Forget magazines of dropped pools, in the fast table first so
            // that it never holds a pointer to a freed magazine.
            owned.retain(|m| {
                let live = !m.is_detached();
                if !live {
                    forget(Arc::as_ptr(m));
                }
                live
            });
            let mine = match owned.iter().find(|m| m.pool_id == home.pool_id()) {
                Some(m) => m.clone(),
                None => {
                    let m = home.caches().register(home);
                    owned.push(m.clone());
                    m
                }
            };
            let ptr = Arc::as_ptr(&mine);
            let evicted = TABLE.with(|t| {
                let last = SLOTS - 1;
                let evicted = (t.ids[last].get() != 0).then(|| t.magazines[last].get());
                for i in (1..SLOTS).rev() {
                    t.ids[i].set(t.ids[i - 1].get());
                    t.magazines[i].set(t.magazines[i - 1].get());
                }
                t.ids[0].set(home.pool_id());
                t.magazines[0].set(ptr);
                evicted
            });
            // `owned` holds every magazine the table pointed to: the
            // evicted one's `Arc`, kept past the borrow for its flush.
            let evicted = evicted.and_then(|e| owned.iter().find(|m| Arc::as_ptr(m) == e).cloned());
            (ptr, evicted)
        })
        .ok()?;
    if let Some(evicted) = evicted {
        // Its indices go back to its pool, where other threads can have
        // them.
        evicted.flush().finish();
    }
    Some(ptr)
}
