//! Many tokio tasks over few buffers: `get_owned_async` in spawned tasks,
//! `tokio::time::timeout` around `get_async` (the futures are cancel-safe),
//! and an exclusive-ownership check on every buffer.
//!
//! Run: `cargo run --release --example tokio_pool`. It fails (exit code 1)
//! if a buffer is ever held twice or is missing at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iobuf::SmallBufferPool;

const TASKS: usize = 256;
const BUFFERS: usize = 16;
const ROUNDS: usize = 400;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Arc::new(SmallBufferPool::new(BUFFERS)?);
    let held: Arc<Vec<AtomicBool>> =
        Arc::new((0..BUFFERS).map(|_| AtomicBool::new(false)).collect());
    let (served, timed_out) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (pool, held) = (pool.clone(), held.clone());
            let (served, timed_out) = (served.clone(), timed_out.clone());
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    // Every fourth get gives up after 50 µs: a cancelled
                    // future must lose neither the buffer nor the wake-up.
                    let buf = if round % 4 == 0 {
                        match tokio::time::timeout(
                            Duration::from_micros(50),
                            pool.get_owned_async(),
                        )
                        .await
                        {
                            Ok(buf) => buf,
                            Err(_) => {
                                timed_out.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                    } else {
                        pool.get_owned_async().await
                    };
                    let i = buf.index() as usize;
                    assert!(
                        !held[i].swap(true, Ordering::SeqCst),
                        "buffer {i} held twice"
                    );
                    let mut buf = buf;
                    buf.0[0] = t as u8;
                    tokio::task::yield_now().await; // hold it across an await
                    assert_eq!(buf.0[0], t as u8, "another holder wrote buffer {i}");
                    held[i].store(false, Ordering::SeqCst);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed();
    let served = served.load(Ordering::Relaxed);
    println!(
        "{TASKS} tasks over {BUFFERS} buffers: {served} gets served, {} timed out, in {elapsed:.2?} ({:.0} gets/s)",
        timed_out.load(Ordering::Relaxed),
        served as f64 / elapsed.as_secs_f64()
    );
    let stats = pool.stats();
    println!("{stats:?}");
    if stats.available != BUFFERS || stats.waiting != 0 {
        eprintln!("a buffer is missing or a waiter is left: {stats:?}");
        std::process::exit(1);
    }
    Ok(())
}
