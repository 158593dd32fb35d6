use iobuf::BufferTier;

#[derive(BufferTier)]
#[repr(transparent)]
#[buffer_tier(tier = Huge)]
struct Chunk([u8; 2 << 20]);

fn main() {
    assert_eq!(Chunk::SIZE, iobuf::BUFFER_SIZE_HUGE);
}
