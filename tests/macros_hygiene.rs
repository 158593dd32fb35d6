//! The macros' output names only absolute paths: it compiles with no
//! prelude and beside local items that shadow the usual names, `core` and
//! `assert!` included (tests/ui/shadowed-core-and-assert.rs shows that such
//! shadowing cannot switch the derive's safety checks off).

#![no_implicit_prelude]
#![allow(dead_code, non_camel_case_types, clippy::extra_unused_type_parameters)]

struct Option;
struct Result;
struct Box;
struct Some;
struct None;
struct usize;
extern crate self as core;
mod mem {
    pub const fn size_of<T>() -> usize {
        0
    }
}
#[macro_export]
macro_rules! assert {
    ($($t:tt)*) => {
        ()
    };
}
mod std {}
fn size_of() {}

mod inner {
    #[derive(::iobuf::BufferTier)]
    #[buffer_tier(tier = Small)]
    #[repr(C)]
    pub struct Packet {
        pub header: [u8; 48],
        pub body: [u8; 2000],
    }

    #[derive(::iobuf::BufferTier)]
    pub struct Token([u8; 32]);

    pub mod pools {
        ::iobuf::buffer_pools! {
            /// Documented.
            small: 2KiB x 4,
            #[pool(zero_on_return, thread_cache = 0)]
            large: 64KiB x 2,
        }
    }
}

#[test]
fn derive_expands_without_prelude() {
    ::std::assert_eq!(<inner::Packet as ::iobuf::BufferTier>::SIZE, 2048);
    ::std::assert_eq!(
        <inner::Token as ::iobuf::BufferTier>::TIER,
        ::std::option::Option::Some(::iobuf::Tier::Pico)
    );
    let p = <inner::Packet as ::iobuf::BufferTier>::zeroed_box();
    ::std::assert_eq!(p.body.len(), 2000);
}

#[test]
fn buffer_pools_expands_without_prelude() {
    inner::pools::init().unwrap();
    let b = inner::pools::get(3000).unwrap();
    ::std::assert_eq!(b.name(), "large");
    ::std::assert_eq!(inner::pools::small().capacity(), 4);
    ::std::assert!(inner::pools::try_get(1 << 20).is_err());
    ::std::assert_eq!(inner::pools::TOTAL_BYTES, 2048 * 4 + 65536 * 2);
}
