use iobuf::{BufferTier, Tier};

macro_rules! tiers {
    ($($name:ident = $tier:ident;)*) => {$(
        #[derive(BufferTier)]
        #[buffer_tier(tier = $tier)]
        struct $name([u8; Tier::$tier.size()]);
        assert_eq!($name::TIER, Some(Tier::$tier));
    )*};
}

fn main() {
    tiers! {
        A = Pico; B = Nano; C = Micro; D = Small; E = Medium; F = Big;
        G = Large; H = Great; I = Huge; J = Vast; K = Giant; L = Titan;
    }
}
