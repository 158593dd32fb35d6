use iobuf::{BufferTier, Tier};

#[derive(BufferTier)]
pub struct Packet([u8; 1500]);

fn main() {
    assert_eq!(Packet::SIZE, 1500);
    assert_eq!(Packet::TIER, None);
    let p = Packet::zeroed_box();
    assert_eq!(p.0.len(), 1500);
    assert_eq!(Tier::for_size(Packet::SIZE), Some(Tier::Small));
}
