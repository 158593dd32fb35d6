use iobuf::BufferTier;

// Every mistake is reported at once, not one per compile.
#[derive(BufferTier)]
#[buffer_tier(tier = Tiny, colour = red)]
struct Frame {
    header: [u8; 0],
    body: [u8; 2032],
}

fn main() {}
