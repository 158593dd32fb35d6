//! The twelve power-of-4 buffer tiers, 32 B to 128 MiB.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The tier table: the one place the twelve tiers are written. Everything
/// else is generated from it or checked against it: the `BUFFER_SIZE_*`
/// constants, [`Tier`] and its tables (here), the standard buffer types
/// (`buffer.rs`), their pool aliases (`pool/aliases.rs`) and the root
/// re-exports (`lib.rs`). The derive's `#[buffer_tier(tier = X)]` checks
/// sizes against [`Tier::size`]; `iobuf-macros` keeps only the names, and a
/// formula for literal lengths that `tests/tiers.rs` holds to this table.
///
/// `for_each_tier!(callback)` calls `callback!` with one row per tier,
/// smallest first:
///
/// ```text
/// { Variant, "name", BUFFER_SIZE_CONST = size, "doc size", "article",
///   BufferType, BufferTypePool, "use case" }
/// ```
///
/// A callback matches every field and uses what it needs. Each size is
/// four times the one before, from 32 B; a compile-time assertion below
/// holds the table to it.
macro_rules! for_each_tier {
    ($callback:ident) => {
        $callback! {
            { Pico, "pico", BUFFER_SIZE_PICO = 32, "32 B", "A",
              PicoBuffer, PicoBufferPool, "UUIDs, flags, tiny control messages." }
            { Nano, "nano", BUFFER_SIZE_NANO = 128, "128 B", "A",
              NanoBuffer, NanoBufferPool, "HTTP headers, JSON tokens, small RPC payloads." }
            { Micro, "micro", BUFFER_SIZE_MICRO = 512, "512 B", "A",
              MicroBuffer, MicroBufferPool, "DNS packets, MQTT messages, protocol frames." }
            { Small, "small", BUFFER_SIZE_SMALL = 2 << 10, "2 KiB", "A",
              SmallBuffer, SmallBufferPool, "WebSocket frames, small HTTP responses." }
            { Medium, "medium", BUFFER_SIZE_MEDIUM = 8 << 10, "8 KiB", "An",
              MediumBuffer, MediumBufferPool, "TCP segments, gRPC messages, page I/O." }
            { Big, "big", BUFFER_SIZE_BIG = 32 << 10, "32 KiB", "A",
              BigBuffer, BigBufferPool, "TLS records (16 KiB max), stream chunks." }
            { Large, "large", BUFFER_SIZE_LARGE = 128 << 10, "128 KiB", "A",
              LargeBuffer, LargeBufferPool, "io_uring buffer rings, bulk network transfers." }
            { Great, "great", BUFFER_SIZE_GREAT = 512 << 10, "512 KiB", "A",
              GreatBuffer, GreatBufferPool, "database pages, large API responses." }
            { Huge, "huge", BUFFER_SIZE_HUGE = 2 << 20, "2 MiB", "A",
              HugeBuffer, HugeBufferPool, "one huge page, memory-mapped files." }
            { Vast, "vast", BUFFER_SIZE_VAST = 8 << 20, "8 MiB", "An",
              VastBuffer, VastBufferPool, "image processing, compressed archives." }
            { Giant, "giant", BUFFER_SIZE_GIANT = 32 << 20, "32 MiB", "A",
              GiantBuffer, GiantBufferPool, "video frames, model weights." }
            { Titan, "titan", BUFFER_SIZE_TITAN = 128 << 20, "128 MiB", "A",
              TitanBuffer, TitanBufferPool, "large data sets; the largest tier." }
        }
    };
}
pub(crate) use for_each_tier;

/// Declares the size constants, [`Tier`], and the tables behind
/// [`Tier::ALL`], [`Tier::size`] and [`Tier::name`].
macro_rules! tier_items {
    ($({
        $variant:ident, $name:literal, $size_const:ident = $size:expr, $doc_size:literal,
        $article:literal, $buffer:ident, $pool:ident, $use_case:literal
    })*) => {
        $(
            #[doc = concat!($doc_size, ": ", $use_case)]
            pub const $size_const: usize = $size;
        )*

        /// One of the twelve buffer sizes, each four times the one before.
        ///
        /// # Examples
        ///
        /// ```
        /// use iobuf::Tier;
        ///
        /// assert_eq!(Tier::Small.size(), 2048);
        /// assert_eq!(Tier::for_size(2049), Some(Tier::Medium));
        /// assert_eq!("huge".parse::<Tier>(), Ok(Tier::Huge));
        /// assert_eq!(Tier::Titan.to_string(), "titan");
        /// assert!(Tier::Pico < Tier::Titan);
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Tier {
            $(
                #[doc = concat!($doc_size, " ([`", stringify!($size_const), "`]).")]
                $variant,
            )*
        }

        /// [`Tier::ALL`].
        const ALL: [Tier; 12] = [$(Tier::$variant),*];
        /// The sizes in bytes, indexed by [`Tier::index`].
        const SIZES: [usize; 12] = [$($size_const),*];
        /// The lower-case names, indexed by [`Tier::index`].
        const NAMES: [&str; 12] = [$($name),*];
    };
}

for_each_tier!(tier_items);

// `for_size` relies on the table being sorted, and the docs promise powers
// of 4 from 32 B.
const _: () = {
    assert!(SIZES[0] == 32, "the smallest tier is 32 bytes");
    let mut i = 1;
    while i < SIZES.len() {
        assert!(
            SIZES[i] == 4 * SIZES[i - 1],
            "each tier is four times the one before"
        );
        i += 1;
    }
};

impl Tier {
    /// Every tier, smallest first.
    pub const ALL: [Tier; 12] = ALL;

    /// The largest tier.
    pub const MAX: Tier = Tier::Titan;

    /// The tier's buffer size in bytes: `32 * 4^index`.
    ///
    /// ```
    /// assert_eq!(iobuf::Tier::Large.size(), iobuf::BUFFER_SIZE_LARGE);
    /// ```
    pub const fn size(self) -> usize {
        SIZES[self.index()]
    }

    /// The position of the tier in [`Tier::ALL`] (0 for `Pico`).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The smallest tier whose buffers hold `len` bytes; `None` above
    /// 128 MiB. A `len` of 0 fits the smallest tier.
    ///
    /// ```
    /// use iobuf::Tier;
    /// assert_eq!(Tier::for_size(0), Some(Tier::Pico));
    /// assert_eq!(Tier::for_size(33), Some(Tier::Nano));
    /// assert_eq!(Tier::for_size(iobuf::BUFFER_SIZE_TITAN + 1), None);
    /// ```
    pub const fn for_size(len: usize) -> Option<Tier> {
        let mut i = 0;
        while i < Tier::ALL.len() {
            if len <= Tier::ALL[i].size() {
                return Some(Tier::ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// The tier whose size is exactly `size`, if any.
    ///
    /// ```
    /// use iobuf::Tier;
    /// assert_eq!(Tier::exact(8192), Some(Tier::Medium));
    /// assert_eq!(Tier::exact(8000), None);
    /// ```
    pub const fn exact(size: usize) -> Option<Tier> {
        match Tier::for_size(size) {
            Some(t) if t.size() == size => Some(t),
            _ => None,
        }
    }

    /// The lower-case name (`"pico"` … `"titan"`), as [`Display`](fmt::Display)
    /// prints it and [`FromStr`] reads it.
    pub const fn name(self) -> &'static str {
        NAMES[self.index()]
    }
}

/// The buffer size of the smallest tier that holds `len` bytes; `None` above
/// 128 MiB.
///
/// ```
/// assert_eq!(iobuf::buffer_size_for(1500), Some(2048));
/// assert_eq!(iobuf::buffer_size_for(usize::MAX), None);
/// ```
pub const fn buffer_size_for(len: usize) -> Option<usize> {
    match Tier::for_size(len) {
        Some(t) => Some(t.size()),
        None => None,
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The error of parsing a [`Tier`] from a string that is not one of the
/// twelve lower-case names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTierError {
    input: String,
}

impl fmt::Display for ParseTierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown tier `{}`; expected one of ", self.input)?;
        for (i, t) in Tier::ALL.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseTierError {}

impl FromStr for Tier {
    type Err = ParseTierError;

    /// Reads a lower-case tier name, as [`Tier::name`] writes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ParseTierError {
                input: s.to_owned(),
            })
    }
}

impl TryFrom<usize> for Tier {
    type Error = Error;

    /// The smallest tier holding `len` bytes, as [`Tier::for_size`]; an
    /// [`Error::InvalidArgument`] above 128 MiB.
    fn try_from(len: usize) -> Result<Self, Self::Error> {
        Tier::for_size(len).ok_or_else(|| {
            Error::invalid(format!(
                "{len} bytes is larger than the largest tier ({BUFFER_SIZE_TITAN} bytes)"
            ))
        })
    }
}

impl From<Tier> for usize {
    fn from(t: Tier) -> usize {
        t.size()
    }
}
