//! Loom model of the share count (`count.rs`): the last share to drop, and
//! only it, sends the buffer home, after every other share's reads.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::count;
use crate::sync::{AtomicU32, Ordering};

/// A buffer with its count, and how often it was sent home.
struct Buffer {
    count: AtomicU32,
    bytes: UnsafeCell<u64>,
    sent_home: AtomicUsize,
}

impl Buffer {
    /// Drops one share; the last one "sends the buffer home": the next
    /// holder's write (the pool's zeroing, a new fill).
    fn drop_share(&self) {
        if count::remove(&self.count) {
            self.sent_home.fetch_add(1, Ordering::Relaxed);
            self.bytes.with_mut(|b| unsafe { *b = 0 });
        }
    }
}

/// Three shares of one written buffer: the writer's and two views, on
/// three threads. Each reads the bytes, then drops its share. Exactly one
/// drop sends the buffer home, and its write must not race with any read
/// (the mutant `share_drop_without_acquire` makes it race).
#[test]
fn the_last_share_sends_the_buffer_home_after_every_read() {
    loom::model(|| {
        let buffer = Arc::new(Buffer {
            count: AtomicU32::new(0),
            bytes: UnsafeCell::new(0),
            sent_home: AtomicUsize::new(0),
        });
        // The writer fills the buffer and cuts two views (two clones).
        buffer.bytes.with_mut(|b| unsafe { *b = 42 });
        count::first(&buffer.count);
        count::add(&buffer.count);
        count::add(&buffer.count);
        let views: Vec<_> = (0..2)
            .map(|_| {
                let buffer = buffer.clone();
                thread::spawn(move || {
                    assert_eq!(buffer.bytes.with(|b| unsafe { *b }), 42);
                    buffer.drop_share();
                })
            })
            .collect();
        assert_eq!(buffer.bytes.with(|b| unsafe { *b }), 42);
        buffer.drop_share();
        for v in views {
            v.join().unwrap();
        }
        assert_eq!(buffer.sent_home.load(Ordering::Relaxed), 1);
    });
}

/// Wakes a parked loom thread.
struct Unpark(thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A frame reader's writer and one view of its buffer, on two threads: the
/// view reads, then drops its share; the writer watches for being the only
/// share (`count::watch`), parks until it is, then writes (reuses the
/// buffer in place). It must be woken (the mutant `watch_checks_before_flag`
/// loses the wake-up: loom reports the writer parked forever), and its
/// write must not race with the view's read.
#[test]
fn a_watcher_learns_it_is_the_only_share() {
    loom::model(|| {
        let buffer = Arc::new(Buffer {
            count: AtomicU32::new(0),
            bytes: UnsafeCell::new(0),
            sent_home: AtomicUsize::new(0),
        });
        buffer.bytes.with_mut(|b| unsafe { *b = 42 });
        count::first(&buffer.count);
        count::add(&buffer.count);
        let view = {
            let buffer = buffer.clone();
            thread::spawn(move || {
                assert_eq!(buffer.bytes.with(|b| unsafe { *b }), 42);
                buffer.drop_share();
            })
        };
        let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(thread::current())));
        if !count::watch(&buffer.count, &waker) {
            // As the reader does: wait for the wake-up, then look (loom's
            // park does not return spuriously, so a lost wake-up hangs).
            loop {
                thread::park();
                if count::is_only(&buffer.count) {
                    break;
                }
            }
            count::unwatch(&buffer.count);
        }
        // The only share: reuse the buffer.
        buffer.bytes.with_mut(|b| unsafe { *b = 7 });
        view.join().unwrap();
        buffer.drop_share();
        assert_eq!(buffer.sent_home.load(Ordering::Relaxed), 1);
    });
}
