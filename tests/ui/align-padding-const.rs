use iobuf::BufferTier;

const LEN: usize = 1000;

#[derive(BufferTier)]
#[repr(C, align(4096))]
struct Page([u8; LEN]);

fn main() {}
