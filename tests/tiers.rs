//! Tier sizes, lookup at every boundary, names and conversions.

use iobuf::*;

const SIZES: [usize; 12] = [
    BUFFER_SIZE_PICO,
    BUFFER_SIZE_NANO,
    BUFFER_SIZE_MICRO,
    BUFFER_SIZE_SMALL,
    BUFFER_SIZE_MEDIUM,
    BUFFER_SIZE_BIG,
    BUFFER_SIZE_LARGE,
    BUFFER_SIZE_GREAT,
    BUFFER_SIZE_HUGE,
    BUFFER_SIZE_VAST,
    BUFFER_SIZE_GIANT,
    BUFFER_SIZE_TITAN,
];

#[test]
fn constants_are_powers_of_four_from_32_to_128_mib() {
    assert_eq!(BUFFER_SIZE_PICO, 32);
    assert_eq!(BUFFER_SIZE_SMALL, 2048);
    assert_eq!(BUFFER_SIZE_HUGE, 2 * 1024 * 1024);
    assert_eq!(BUFFER_SIZE_TITAN, 128 * 1024 * 1024);
    for pair in SIZES.windows(2) {
        assert_eq!(pair[1], pair[0] * 4);
    }
    for (tier, size) in Tier::ALL.iter().zip(SIZES) {
        assert_eq!(tier.size(), size, "{tier}");
    }
}

#[test]
fn all_is_sorted_and_indexed() {
    assert_eq!(Tier::ALL.len(), 12);
    for (i, t) in Tier::ALL.iter().enumerate() {
        assert_eq!(t.index(), i);
    }
    assert!(Tier::ALL.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(Tier::MAX, Tier::Titan);
}

#[test]
fn for_size_at_every_boundary() {
    assert_eq!(Tier::for_size(0), Some(Tier::Pico));
    assert_eq!(Tier::for_size(1), Some(Tier::Pico));
    let mut below = 0;
    for t in Tier::ALL {
        let s = t.size();
        assert_eq!(Tier::for_size(below + 1), Some(t), "{} bytes", below + 1);
        assert_eq!(Tier::for_size(s - 1), Some(t), "{} bytes", s - 1);
        assert_eq!(Tier::for_size(s), Some(t), "{s} bytes");
        assert_eq!(buffer_size_for(s), Some(s));
        assert_eq!(Tier::exact(s), Some(t));
        assert_eq!(Tier::exact(s + 1), None);
        below = s;
    }
    assert_eq!(Tier::for_size(33), Some(Tier::Nano));
    assert_eq!(Tier::for_size(BUFFER_SIZE_TITAN), Some(Tier::Titan));
    assert_eq!(Tier::for_size(BUFFER_SIZE_TITAN + 1), None);
    assert_eq!(Tier::for_size(usize::MAX), None);
    assert_eq!(buffer_size_for(0), Some(32));
    assert_eq!(buffer_size_for(33), Some(128));
    assert_eq!(buffer_size_for(BUFFER_SIZE_TITAN + 1), None);
    assert_eq!(buffer_size_for(usize::MAX), None);
}

#[test]
fn for_size_is_const() {
    const T: Option<Tier> = Tier::for_size(5000);
    const S: Option<usize> = buffer_size_for(5000);
    assert_eq!(T, Some(Tier::Medium));
    assert_eq!(S, Some(8192));
}

#[test]
fn names_display_and_parse_round_trip() {
    let names = [
        "pico", "nano", "micro", "small", "medium", "big", "large", "great", "huge", "vast",
        "giant", "titan",
    ];
    for (t, name) in Tier::ALL.iter().zip(names) {
        assert_eq!(t.name(), name);
        assert_eq!(t.to_string(), name);
        assert_eq!(name.parse::<Tier>(), Ok(*t));
    }
    assert_eq!(format!("{:>6}", Tier::Big), "   big");
    let err = "Small".parse::<Tier>().unwrap_err();
    assert!(err.to_string().contains("unknown tier `Small`"), "{err}");
    assert!(err.to_string().contains("pico, nano"), "{err}");
    assert!("".parse::<Tier>().is_err());
}

#[test]
fn try_from_usize_mirrors_for_size() {
    assert_eq!(Tier::try_from(2048), Ok(Tier::Small));
    assert_eq!(Tier::try_from(2049), Ok(Tier::Medium));
    let err = Tier::try_from(usize::MAX).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert_eq!(usize::from(Tier::Nano), 128);
}

/// `#[buffer_tier(tier = X)]` checks literal lengths with the macro's
/// formula for the tier sizes; deriving every tier with its length written
/// out holds that formula to iobuf's tier table.
#[test]
fn derive_accepts_every_tier_at_its_literal_size() {
    macro_rules! tiers {
        ($($name:ident([u8; $len:tt]) = $tier:ident;)*) => {$(
            #[derive(BufferTier)]
            #[buffer_tier(tier = $tier)]
            #[allow(dead_code)]
            struct $name([u8; $len]);
            assert_eq!($name::SIZE, $len);
            assert_eq!($name::TIER, Some(Tier::$tier));
        )*};
    }
    tiers! {
        A([u8; 32]) = Pico;
        B([u8; 128]) = Nano;
        C([u8; 512]) = Micro;
        D([u8; 2048]) = Small;
        E([u8; 8192]) = Medium;
        F([u8; 32768]) = Big;
        G([u8; 131072]) = Large;
        H([u8; 524288]) = Great;
        I([u8; 2097152]) = Huge;
        J([u8; 8388608]) = Vast;
        K([u8; 33554432]) = Giant;
        L([u8; 134217728]) = Titan;
    }
}
