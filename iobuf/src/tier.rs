//! The twelve power-of-4 buffer tiers, 32 B to 128 MiB.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// 32 B: UUIDs, flags, tiny control messages.
pub const BUFFER_SIZE_PICO: usize = 32;
/// 128 B: HTTP headers, JSON tokens, small RPC payloads.
pub const BUFFER_SIZE_NANO: usize = 128;
/// 512 B: DNS packets, MQTT messages, protocol frames.
pub const BUFFER_SIZE_MICRO: usize = 512;
/// 2 KiB: WebSocket frames, small HTTP responses.
pub const BUFFER_SIZE_SMALL: usize = 2 << 10;
/// 8 KiB: TCP segments, gRPC messages, page I/O.
pub const BUFFER_SIZE_MEDIUM: usize = 8 << 10;
/// 32 KiB: TLS records (16 KiB max), stream chunks.
pub const BUFFER_SIZE_BIG: usize = 32 << 10;
/// 128 KiB: io_uring buffer rings, bulk network transfers.
pub const BUFFER_SIZE_LARGE: usize = 128 << 10;
/// 512 KiB: database pages, large API responses.
pub const BUFFER_SIZE_GREAT: usize = 512 << 10;
/// 2 MiB: one huge page, memory-mapped files.
pub const BUFFER_SIZE_HUGE: usize = 2 << 20;
/// 8 MiB: image processing, compressed archives.
pub const BUFFER_SIZE_VAST: usize = 8 << 20;
/// 32 MiB: video frames, model weights.
pub const BUFFER_SIZE_GIANT: usize = 32 << 20;
/// 128 MiB: large data sets; the largest tier.
pub const BUFFER_SIZE_TITAN: usize = 128 << 20;

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
    /// 32 B ([`BUFFER_SIZE_PICO`]).
    Pico,
    /// 128 B ([`BUFFER_SIZE_NANO`]).
    Nano,
    /// 512 B ([`BUFFER_SIZE_MICRO`]).
    Micro,
    /// 2 KiB ([`BUFFER_SIZE_SMALL`]).
    Small,
    /// 8 KiB ([`BUFFER_SIZE_MEDIUM`]).
    Medium,
    /// 32 KiB ([`BUFFER_SIZE_BIG`]).
    Big,
    /// 128 KiB ([`BUFFER_SIZE_LARGE`]).
    Large,
    /// 512 KiB ([`BUFFER_SIZE_GREAT`]).
    Great,
    /// 2 MiB ([`BUFFER_SIZE_HUGE`]).
    Huge,
    /// 8 MiB ([`BUFFER_SIZE_VAST`]).
    Vast,
    /// 32 MiB ([`BUFFER_SIZE_GIANT`]).
    Giant,
    /// 128 MiB ([`BUFFER_SIZE_TITAN`]).
    Titan,
}

impl Tier {
    /// Every tier, smallest first.
    pub const ALL: [Tier; 12] = [
        Tier::Pico,
        Tier::Nano,
        Tier::Micro,
        Tier::Small,
        Tier::Medium,
        Tier::Big,
        Tier::Large,
        Tier::Great,
        Tier::Huge,
        Tier::Vast,
        Tier::Giant,
        Tier::Titan,
    ];

    /// The largest tier.
    pub const MAX: Tier = Tier::Titan;

    /// The tier's buffer size in bytes: `32 * 4^index`.
    ///
    /// ```
    /// assert_eq!(iobuf::Tier::Large.size(), iobuf::BUFFER_SIZE_LARGE);
    /// ```
    pub const fn size(self) -> usize {
        BUFFER_SIZE_PICO << (2 * self as u32)
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
        match self {
            Tier::Pico => "pico",
            Tier::Nano => "nano",
            Tier::Micro => "micro",
            Tier::Small => "small",
            Tier::Medium => "medium",
            Tier::Big => "big",
            Tier::Large => "large",
            Tier::Great => "great",
            Tier::Huge => "huge",
            Tier::Vast => "vast",
            Tier::Giant => "giant",
            Tier::Titan => "titan",
        }
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
