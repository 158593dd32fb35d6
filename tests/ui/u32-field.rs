use iobuf::BufferTier;

#[derive(BufferTier)]
#[repr(C)]
struct Header {
    magic: [u8; 4],
    len: u32,
}

fn main() {}
