//! The macros' output names only absolute paths: it compiles with no
//! prelude and beside local items that shadow the usual names.

#![no_implicit_prelude]
#![allow(dead_code, non_camel_case_types)]

struct Option;
struct Result;
struct Box;
struct Some;
struct None;
struct usize;
mod core {}
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
