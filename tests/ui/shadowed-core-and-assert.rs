//! A crate that shadows `core` and `assert!` cannot turn the padding check
//! off: it is the real trait's constant, evaluated in `iobuf`'s scope.

extern crate self as core;

#[allow(dead_code)]
pub mod mem {
    pub const fn size_of<T>() -> usize {
        4096
    }
}

#[macro_export]
macro_rules! assert {
    ($($t:tt)*) => {
        ()
    };
}

const LEN: usize = 1000;

#[derive(iobuf::BufferTier)]
#[repr(C, align(4096))]
struct Padded([u8; LEN]);

fn main() {
    let _ = <Padded as iobuf::BufferTier>::zeroed_box();
}
