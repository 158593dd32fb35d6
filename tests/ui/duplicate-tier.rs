use iobuf::BufferTier;

#[derive(BufferTier)]
#[buffer_tier(tier = Pico, tier = Pico)]
struct Packet([u8; 32]);

fn main() {}
