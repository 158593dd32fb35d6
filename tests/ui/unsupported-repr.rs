use iobuf::BufferTier;

#[derive(BufferTier)]
#[repr(packed(2), C)]
struct Packet([u8; 32], [u8; 32]);

fn main() {}
