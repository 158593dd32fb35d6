use iobuf::BufferTier;

#[derive(BufferTier)]
struct Packet<const N: usize>([u8; N]);

fn main() {}
