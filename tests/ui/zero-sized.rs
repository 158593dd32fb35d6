use iobuf::BufferTier;

#[derive(BufferTier)]
struct Empty([u8; 0]);

fn main() {}
