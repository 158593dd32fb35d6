//! The `Arc` route to the same hole: `OwnedPooled<T>` and
//! `Arc<BoundedPool<T>>` must be invariant in `T` too.

use std::sync::Arc;

use iobuf::{BoundedPool, OwnedPooled};

fn shorten_arc<'a>(pool: Arc<BoundedPool<&'static String>>) -> Arc<BoundedPool<&'a String>> {
    pool
}

fn shorten_owned<'a>(guard: OwnedPooled<&'static String>) -> OwnedPooled<&'a String> {
    guard
}

fn main() {}
