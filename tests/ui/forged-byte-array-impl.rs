//! `ByteArray` is sealed: no crate but `iobuf` can declare a pointer a byte
//! array to sneak it into a `BufferTier`.

struct MyPtr(&'static u64);

impl iobuf::__private::ByteArray for MyPtr {}

#[derive(iobuf::BufferTier)]
struct Evil(MyPtr);

fn main() {}
