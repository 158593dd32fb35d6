//! A pool hands out `&mut T` through `&self`, so it must be invariant in `T`:
//! were `&BoundedPool<&'static String>` to coerce to `&BoundedPool<&'a
//! String>`, a short-lived reference stored through the shortened pool could
//! be read back through the original after it dangles.

use iobuf::{BoundedPool, Pooled};

fn shorten_pool<'a>(pool: &'a BoundedPool<&'static String>) -> &'a BoundedPool<&'a String> {
    pool
}

fn shorten_guard<'a>(guard: Pooled<'a, &'static String>) -> Pooled<'a, &'a String> {
    guard
}

fn main() {}
