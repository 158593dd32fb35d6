use iobuf::{BufferTier, Tier};

#[derive(BufferTier)]
struct Token {
    bytes: [u8; 32],
}

fn main() {
    assert_eq!(Token::TIER, Some(Tier::Pico));
    assert_eq!(Token::zeroed_box().bytes, [0; 32]);
}
