//! What the io_uring runtime examples (`monoio_echo`, `compio_echo`,
//! `tokio_uring_echo`) share: the load's shape, the byte patterns every
//! echoed and read-back byte is checked against, the refusal test and the
//! watchdog. Each example includes it with `#[path]`.

use std::io;
use std::time::Duration;

/// Client connections, each with one request in flight per round.
pub const CONNECTIONS: usize = 4;
/// Rounds before measuring: the runtime's op slab, the pools' thread
/// caches and the examples' vectors reach their size here.
pub const WARMUP: usize = 200;
/// Measured rounds.
pub const ROUNDS: usize = 2_000;
/// What the server asks of its pool per read.
pub const READ_LEN: usize = 4096;
/// Blocks of the file round trip, one pooled buffer each.
pub const FILE_BLOCKS: usize = 32;
/// A run that hangs (a lost wake-up, a server that stopped echoing) fails
/// after this instead of blocking CI.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The byte a request carries at offset `i`.
pub fn pattern(conn: usize, request: usize, i: usize) -> u8 {
    (conn.wrapping_mul(131) ^ request.wrapping_mul(31) ^ i.wrapping_mul(7) ^ (i >> 8)) as u8
}

/// The byte file block `block` carries at offset `i`.
pub fn file_pattern(block: usize, i: usize) -> u8 {
    (block.wrapping_mul(97) ^ i.wrapping_mul(13) ^ (i >> 8)) as u8
}

/// Whether the kernel refused io_uring (the examples then pass, saying so).
pub fn refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM))
}

/// Ends the process with a failure if it is still running after
/// `DEADLINE`.
pub fn watchdog(name: &'static str) {
    std::thread::spawn(move || {
        std::thread::sleep(DEADLINE);
        eprintln!("{name}: not done in {DEADLINE:?}");
        std::process::exit(1);
    });
}
