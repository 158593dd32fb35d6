use iobuf::BufferTier;

#[derive(BufferTier)]
struct Packet(Vec<u8>);

fn main() {}
