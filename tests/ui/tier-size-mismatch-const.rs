use iobuf::BufferTier;

const LEN: usize = 1000;

#[derive(BufferTier)]
#[buffer_tier(tier = Small)]
struct Odd([u8; LEN]);

fn main() {}
