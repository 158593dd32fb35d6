// An `IoVec` may point to bytes that were only lent shared, so there is no
// way from it to anything a reader writes through: neither an `IoVecMut`
// nor a `&mut [IoSliceMut]` view for `read_vectored`.

use std::io::Read;

use iobuf::{IoVec, IoVecMut};

fn main() {
    let data = [0u8; 4];
    let shared = IoVec::from(&data[..]);

    let _exclusive = IoVecMut::from(shared);

    let mut iov = [shared];
    let _ = (&b"abcd"[..]).read_vectored(IoVecMut::as_io_slices_mut(&mut iov));
}
