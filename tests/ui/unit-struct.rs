use iobuf::BufferTier;

#[derive(BufferTier)]
struct Nothing;

fn main() {}
