//! Decoders: how a frame reader finds frames in the bytes it has read.

use std::io;
use std::ops::Range;

/// What a [`Decoder`] found at the front of the buffered bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame: the bytes `frame` of the buffered ones are handed
    /// out (as a view, no copy), and the first `consumed` bytes are gone
    /// from the buffer. `frame.start <= frame.end <= consumed <= ` the
    /// number of bytes the decoder was shown; a decoder that breaks this
    /// makes the reader fail with `InvalidData`, not panic.
    Frame {
        /// The frame's bytes, as a range of the buffered bytes.
        frame: Range<usize>,
        /// How many bytes the frame took, header and trailer included.
        consumed: usize,
    },
    /// No complete frame yet. `Some(total)`: the next frame needs `total`
    /// bytes in all, counted from the front (the reader then makes sure one
    /// buffer can hold them); `None`: unknown, read more.
    Incomplete(Option<usize>),
}

/// Finds frames in a byte stream: the user's framing for a frame reader.
///
/// [`decode`](Self::decode) sees the bytes read and not yet consumed, and
/// says where the first frame is. It never copies: the reader cuts the
/// frame out of its buffer as a [`View`](crate::shared::View).
///
/// ```
/// use std::io;
/// use iobuf::frame::{Decoded, Decoder};
///
/// /// Frames that end with a NUL byte (not part of the frame).
/// struct NulTerminated;
///
/// impl Decoder for NulTerminated {
///     fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
///         Ok(match buf.iter().position(|&b| b == 0) {
///             Some(n) => Decoded::Frame { frame: 0..n, consumed: n + 1 },
///             None => Decoded::Incomplete(None),
///         })
///     }
/// }
///
/// assert_eq!(
///     NulTerminated.decode(b"ab\0cd")?,
///     Decoded::Frame { frame: 0..2, consumed: 3 }
/// );
/// # Ok::<(), io::Error>(())
/// ```
pub trait Decoder {
    /// Where the first frame of `buf` is, or how much more is needed. An
    /// error ends the stream: the reader returns it and gives its buffers
    /// back.
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded>;
}

impl<D: Decoder + ?Sized> Decoder for &mut D {
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        (**self).decode(buf)
    }
}

/// Byte order of a length field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Most significant byte first (network order).
    Big,
    /// Least significant byte first.
    Little,
}

/// Length-prefixed frames, with the knobs of tokio-util's
/// `LengthDelimitedCodec`: a length field of 1, 2, 3, 4 or 8 bytes at an
/// offset, either byte order, an adjustment to the length it holds, how
/// many bytes to strip from the front of each frame, and a maximum frame
/// length.
///
/// The default: a 4-byte big-endian length, then that many bytes of
/// payload; the frame handed out is the payload; at most 8 MiB.
///
/// ```
/// use iobuf::frame::{Decoded, Decoder, LengthDelimited};
///
/// let mut d = LengthDelimited::new();
/// assert_eq!(d.decode(b"\0\0\0\x03abcde")?, Decoded::Frame { frame: 4..7, consumed: 7 });
/// assert_eq!(d.decode(b"\0\0\0\x09ab")?, Decoded::Incomplete(Some(13)));
///
/// // A 2-byte little-endian length that counts itself, header kept.
/// let mut d = LengthDelimited::new()
///     .length_field_length(2)
///     .little_endian()
///     .length_adjustment(-2)
///     .num_skip(0);
/// assert_eq!(d.decode(b"\x05\0xyz")?, Decoded::Frame { frame: 0..5, consumed: 5 });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LengthDelimited {
    field_offset: usize,
    field_len: usize,
    endian: Endian,
    adjustment: isize,
    num_skip: Option<usize>,
    max_frame_len: usize,
}

impl Default for LengthDelimited {
    fn default() -> Self {
        LengthDelimited::new()
    }
}

impl LengthDelimited {
    /// A 4-byte big-endian length, then the payload (the frame); at most
    /// 8 MiB of payload.
    pub fn new() -> Self {
        LengthDelimited {
            field_offset: 0,
            field_len: 4,
            endian: Endian::Big,
            adjustment: 0,
            num_skip: None,
            max_frame_len: 8 * 1024 * 1024,
        }
    }

    /// Bytes in the length field: 1, 2, 3, 4 or 8.
    ///
    /// # Panics
    ///
    /// For any other width.
    pub fn length_field_length(mut self, n: usize) -> Self {
        assert!(
            matches!(n, 1..=4 | 8),
            "a length field is 1, 2, 3, 4 or 8 bytes, not {n}"
        );
        self.field_len = n;
        self
    }

    /// Bytes before the length field (part of the header).
    pub fn length_field_offset(mut self, n: usize) -> Self {
        self.field_offset = n;
        self
    }

    /// Added to the length the field holds to get the bytes that follow
    /// the field (negative when the length counts the header too).
    pub fn length_adjustment(mut self, n: isize) -> Self {
        self.adjustment = n;
        self
    }

    /// Bytes stripped from the front of each frame (default: the whole
    /// header, offset and length field; 0 keeps the header).
    pub fn num_skip(mut self, n: usize) -> Self {
        self.num_skip = Some(n);
        self
    }

    /// The longest frame accepted, in bytes after the length field; a
    /// longer length is an `InvalidData` error.
    pub fn max_frame_length(mut self, n: usize) -> Self {
        self.max_frame_len = n;
        self
    }

    /// Big-endian length field (the default).
    pub fn big_endian(mut self) -> Self {
        self.endian = Endian::Big;
        self
    }

    /// Little-endian length field.
    pub fn little_endian(mut self) -> Self {
        self.endian = Endian::Little;
        self
    }

    /// Bytes from the front of a frame to the end of its length field.
    fn header_len(&self) -> usize {
        self.field_offset + self.field_len
    }

    /// Writes the header for a payload of `len` bytes into `out` (the
    /// inverse of [`Decoder::decode`] for frames whose header is offset and
    /// length field only; bytes before the field are zero). Returns the
    /// header's length.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `out` is shorter than the header, or `len` does
    /// not fit the field after adjustment.
    pub fn encode_header(&self, len: usize, out: &mut [u8]) -> io::Result<usize> {
        let header = self.header_len();
        let out = out.get_mut(..header).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "header buffer too short")
        })?;
        let value = (len as i128) - (self.adjustment as i128);
        let max = if self.field_len == 8 {
            u64::MAX as i128
        } else {
            (1i128 << (8 * self.field_len)) - 1
        };
        if value < 0 || value > max || len > self.max_frame_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a frame of {len} bytes does not fit the length field"),
            ));
        }
        out[..self.field_offset].fill(0);
        let bytes = (value as u64).to_be_bytes();
        let field = &mut out[self.field_offset..];
        field.copy_from_slice(&bytes[8 - self.field_len..]);
        if self.endian == Endian::Little {
            field.reverse();
        }
        Ok(header)
    }
}

impl Decoder for LengthDelimited {
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        let header = self.header_len();
        let Some(field) = buf.get(self.field_offset..header) else {
            return Ok(Decoded::Incomplete(Some(header)));
        };
        let mut value = 0u64;
        let mut push = |b: u8| value = (value << 8) | u64::from(b);
        match self.endian {
            Endian::Big => field.iter().copied().for_each(&mut push),
            Endian::Little => field.iter().rev().copied().for_each(&mut push),
        }
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let len = (value as i128) + (self.adjustment as i128);
        if len < 0 {
            return Err(invalid(format!(
                "length field {value} with adjustment {} is negative",
                self.adjustment
            )));
        }
        if len > self.max_frame_len as i128 {
            return Err(invalid(format!(
                "frame of {len} bytes is longer than the maximum, {}",
                self.max_frame_len
            )));
        }
        let end = header + len as usize;
        let skip = self.num_skip.unwrap_or(header);
        if skip > end {
            return Err(invalid(format!(
                "num_skip {skip} is past the end of a {end}-byte frame"
            )));
        }
        if buf.len() < end {
            return Ok(Decoded::Incomplete(Some(end)));
        }
        Ok(Decoded::Frame {
            frame: skip..end,
            consumed: end,
        })
    }
}

/// Lines ended by `\n` (a `\r` before it is stripped too); the frame is
/// the line without its ending. A line longer than `max_length` is an
/// `InvalidData` error.
///
/// ```
/// use iobuf::frame::{Decoded, Decoder, Lines};
///
/// let mut lines = Lines::new(1024);
/// assert_eq!(lines.decode(b"GET /\r\nHost")?, Decoded::Frame { frame: 0..5, consumed: 7 });
/// assert_eq!(lines.decode(b"Host")?, Decoded::Incomplete(None));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lines {
    max_length: usize,
    /// Bytes already searched for `\n` (a resumed search skips them).
    searched: usize,
}

impl Lines {
    /// Lines of at most `max_length` bytes, ending excluded.
    pub fn new(max_length: usize) -> Self {
        Lines {
            max_length,
            searched: 0,
        }
    }
}

impl Decoder for Lines {
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        let from = self.searched.min(buf.len());
        match buf[from..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.searched = 0;
                let nl = from + i;
                let end = if nl > 0 && buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                if end > self.max_length {
                    return Err(too_long(self.max_length));
                }
                Ok(Decoded::Frame {
                    frame: 0..end,
                    consumed: nl + 1,
                })
            }
            None if buf.len() > self.max_length + 1 => Err(too_long(self.max_length)),
            None => {
                self.searched = buf.len();
                Ok(Decoded::Incomplete(None))
            }
        }
    }
}

fn too_long(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("line longer than the maximum, {max} bytes"),
    )
}
