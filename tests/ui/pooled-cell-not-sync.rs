// A guard over a Send-but-not-Sync item must not be shared between threads:
// two threads would then reach the same `Cell`.
use std::cell::Cell;

fn main() {
    let pool = iobuf::BoundedPool::from_fn(1, |_| Cell::new(0u8)).unwrap();
    let guard = pool.get();
    std::thread::scope(|s| {
        s.spawn(|| guard.set(1));
    });
}
