use iobuf::{BufferTier, Tier};

const LEN: usize = 1 << 11;
type Bytes = [u8; LEN];

#[derive(BufferTier)]
#[buffer_tier(tier = Small)]
struct Packet(Bytes);

#[derive(BufferTier)]
#[buffer_tier(tier = Titan)]
struct Huge([u8; iobuf::BUFFER_SIZE_TITAN]);

fn main() {
    assert_eq!(Packet::TIER, Some(Tier::Small));
    assert_eq!(Huge::TIER, Some(Tier::Titan));
}
