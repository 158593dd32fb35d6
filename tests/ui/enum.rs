use iobuf::BufferTier;

#[derive(BufferTier)]
enum Packet {
    A([u8; 32]),
}

fn main() {}
