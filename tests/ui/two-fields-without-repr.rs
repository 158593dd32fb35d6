use iobuf::BufferTier;

#[derive(BufferTier)]
struct Frame {
    header: [u8; 16],
    body: [u8; 2032],
}

fn main() {}
