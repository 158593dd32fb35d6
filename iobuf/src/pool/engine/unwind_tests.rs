//! `settle` when a waker panicked: outside an unwind the acquired index
//! goes back and the panic resumes; during one (an acquire in a `Drop`)
//! the panic cannot resume, so the index stays the caller's and is not
//! also free.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::Waker;

use super::{Engine, Wait};
use crate::wait::{Delivery, Wakeup};

struct Panicking;

impl std::task::Wake for Panicking {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}

/// A delivery whose waker panicked (caught, to resume at `finish`).
fn panicked() -> Delivery {
    let mut delivery = Delivery::default();
    delivery.wake(Wakeup::Task(Waker::from(Arc::new(Panicking))));
    assert!(delivery.panicked());
    delivery
}

#[test]
fn outside_an_unwind_the_index_goes_back_and_the_panic_resumes() {
    let engine = Engine::new(2, 0, 0);
    let i = engine.take(Wait::Never).expect("a free index");
    let settled = catch_unwind(AssertUnwindSafe(|| engine.settle(Some(i), panicked())));
    assert!(settled.is_err(), "the waker's panic resumes");
    assert_eq!(engine.free.len(), 2, "the index went back");
}

#[test]
fn during_an_unwind_the_index_stays_the_callers_alone() {
    /// Acquires in its `Drop`, as a guard dropped by a panic may.
    struct AcquiresInDrop<'a> {
        engine: &'a Engine,
        index: u32,
        settled: &'a Cell<Option<Option<u32>>>,
    }

    impl Drop for AcquiresInDrop<'_> {
        fn drop(&mut self) {
            assert!(std::thread::panicking());
            let got = self.engine.settle(Some(self.index), panicked());
            self.settled.set(Some(got));
        }
    }

    let engine = Engine::new(2, 0, 0);
    let index = engine.take(Wait::Never).expect("a free index");
    let settled = Cell::new(None);
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _guard = AcquiresInDrop {
            engine: &engine,
            index,
            settled: &settled,
        };
        panic!("an unwind");
    }));
    assert!(unwound.is_err());
    assert_eq!(settled.get(), Some(Some(index)), "the caller keeps it");
    assert_eq!(engine.free.len(), 1, "and it is not free as well");
}
