//! Runs `examples/uring.rs`: registered pool buffers, WriteFixed/ReadFixed
//! by pool index, every byte verified. A kernel that refuses io_uring
//! (ENOSYS, EPERM) makes the test say so and pass as skipped; any other
//! failure fails it.

#[path = "../examples/uring.rs"]
#[allow(dead_code)]
mod uring;

#[test]
fn fixed_buffers_round_trip_through_a_file() {
    match uring::run(16).unwrap() {
        uring::Outcome::Verified { blocks, bytes } => {
            assert_eq!(blocks, 16);
            assert_eq!(bytes, 16 * iobuf::BUFFER_SIZE_LARGE);
        }
        uring::Outcome::Unsupported(reason) => {
            println!("SKIPPED: the kernel refused io_uring: {reason}");
        }
    }
}
