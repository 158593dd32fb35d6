use iobuf::{BufferTier, Tier};

#[derive(BufferTier)]
#[buffer_tier(tier = Medium)]
#[repr(C)]
struct Page {
    header: [u8; 64],
    body: [u8; 8064],
    trailer: [u8; 64],
}

#[derive(BufferTier)]
#[repr(C)]
struct Pair([u8; 3], [u8; 5]);

fn main() {
    assert_eq!(Page::TIER, Some(Tier::Medium));
    let mut p = Page::zeroed_box();
    p.trailer[63] = 1;
    assert_eq!(p.as_bytes()[8191], 1);
    assert_eq!(Pair::SIZE, 8);
}
