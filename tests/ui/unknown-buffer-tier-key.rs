use iobuf::BufferTier;

#[derive(BufferTier)]
#[buffer_tier(size = 2048)]
struct Packet([u8; 2048]);

fn main() {}
