use iobuf::BufferTier;

#[derive(BufferTier)]
#[repr(C, align(4096))]
struct Page([u8; 1000]);

fn main() {}
