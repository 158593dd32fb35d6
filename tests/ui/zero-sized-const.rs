use iobuf::BufferTier;

const LEN: usize = 0;

#[derive(BufferTier)]
struct Empty([u8; LEN]);

fn main() {}
