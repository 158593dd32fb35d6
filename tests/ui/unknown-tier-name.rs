use iobuf::BufferTier;

#[derive(BufferTier)]
#[buffer_tier(tier = Tiny)]
struct Packet([u8; 32]);

fn main() {}
