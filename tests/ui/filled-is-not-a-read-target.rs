// `read(&mut filled)` would read into the (empty) filled part and return
// Ok(0), which looks like end of file: `Filled` has no `DerefMut` to `[u8]`,
// so it does not compile.
use std::io::Read;

fn main() {
    let pool = iobuf::SmallBufferPool::new(1).unwrap();
    let mut filled = iobuf::Filled::new(pool.get());
    let mut input: &[u8] = b"data";
    let _ = input.read(&mut filled);
}
