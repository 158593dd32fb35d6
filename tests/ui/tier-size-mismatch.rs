use iobuf::BufferTier;

#[derive(BufferTier)]
#[buffer_tier(tier = Small)]
struct Odd([u8; 1000]);

fn main() {}
