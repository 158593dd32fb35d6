//! A `crate = …` path that re-exports the real trait but forges the
//! derive's helpers cannot make a pointer field pass: the field check is the
//! bound of the real trait's `__Fields`, not an item reached through the path.

mod forged {
    pub use iobuf::BufferTier;
    pub mod __private {
        pub const fn require_byte_array<T>() {}
    }
}

#[derive(iobuf::BufferTier)]
#[buffer_tier(crate = forged)]
struct Evil(&'static u64);

fn main() {
    let _ = <Evil as iobuf::BufferTier>::zeroed_box();
}
