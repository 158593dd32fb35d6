//! Decoders: how a frame reader finds frames in the bytes it has read.

use std::io;
use std::ops::Range;

use super::write::Outgoing;

/// What a [`Decoder`] found at the front of the buffered bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// A complete frame: the bytes `frame` of the buffered ones are handed
    /// out (as a view, no copy), and the first `consumed` bytes are gone
    /// from the buffer. `frame.start <= frame.end <= consumed <= ` the
    /// number of bytes the decoder was shown, and `consumed > 0`; a decoder
    /// that breaks this makes the reader fail with `InvalidData`, not panic.
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
    /// Drop the first `n` bytes (`0 < n <=` the bytes shown), with no
    /// frame, and decode again after them: how [`Lines`] discards the rest
    /// of a line that was too long, as tokio-util's `LinesCodec` does.
    Skip(usize),
}

/// Finds frames in a byte stream: the user's framing for a frame reader.
///
/// [`decode`](Self::decode) sees the bytes read and not yet consumed, and
/// says where the first frame is. It never copies: the reader cuts the
/// frame out of its buffer as a [`View`](crate::shared::View).
///
/// A decoder may keep state between calls, as tokio-util's decoders do
/// ([`LengthDelimited`] keeps the length of the frame in flight, [`Lines`]
/// how far it has searched): the reader always shows it the bytes from
/// the front of the next frame, more of them at each call.
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
    /// error ends the stream (the reader returns it and gives its buffers
    /// back) unless [`can_resume`](Self::can_resume) says otherwise.
    ///
    /// # Errors
    ///
    /// Bytes that are not a valid frame: `InvalidData` by convention.
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded>;

    /// As [`decode`](Self::decode), at the end of the stream: `buf` holds
    /// the bytes still buffered (never none) and no more will come. A
    /// [`Decoded::Incomplete`] here ends the stream with `UnexpectedEof`.
    /// The default is `decode`; [`Lines`] hands out an unterminated last
    /// line here, as tokio-util's `decode_eof` does.
    ///
    /// # Errors
    ///
    /// As `decode`.
    fn decode_eof(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        self.decode(buf)
    }

    /// Called after `decode` returned an error: `true` if the stream may go
    /// on (the decoder has put itself where the next call makes progress),
    /// so the reader returns the error and keeps its place; `false` (the
    /// default) ends the stream. [`Lines`] goes on after a line longer
    /// than its maximum: it discards that line, as `LinesCodec` does.
    fn can_resume(&self) -> bool {
        false
    }

    /// The most bytes one frame can need buffered at once (header, skipped
    /// bytes and trailer included), if the decoder has a maximum; `None`
    /// for no bound (the default). A frame reader refuses, where it is
    /// built, a decoder whose bound is above the largest buffer of its
    /// [`Pools`](super::Pools): it could not hold a frame the decoder
    /// accepts.
    fn max_buffered_len(&self) -> Option<usize> {
        None
    }
}

impl<D: Decoder + ?Sized> Decoder for &mut D {
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        (**self).decode(buf)
    }
    fn decode_eof(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        (**self).decode_eof(buf)
    }
    fn can_resume(&self) -> bool {
        (**self).can_resume()
    }
    fn max_buffered_len(&self) -> Option<usize> {
        (**self).max_buffered_len()
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

/// Length-prefixed frames, meaning what tokio-util's `LengthDelimitedCodec`
/// means: a length field of 1 to 8 bytes at an offset, either byte order,
/// an adjustment to the length it holds, how many bytes to strip from the
/// front of each frame, and a maximum frame length. Build one with
/// [`LengthDelimited::builder`], whose knobs are tokio-util's `Builder`'s.
///
/// A frame is read as tokio-util reads it: wait for the header (offset and
/// length field, or `num_skip` bytes if more); read the field; reject it
/// if it is above the maximum; add the adjustment, giving `n`; skip
/// `num_skip` bytes (default: the whole header); the frame is the next `n`
/// bytes. The maximum in force when a frame's header is read applies to
/// that frame: [`set_max_frame_length`](Self::set_max_frame_length) takes
/// effect from the next frame.
///
/// The default: a 4-byte big-endian length, then that many bytes of
/// payload; the frame handed out is the payload; at most 8 MiB.
///
/// Every width, offset, adjustment, maximum and length on the wire gives a
/// frame or an `InvalidData` error, never a panic or a wrong frame.
/// Deliberate differences from tokio-util: a length that over- or
/// underflows with the adjustment is `InvalidData` (tokio-util:
/// `InvalidInput`, though the bytes came from the wire); a frame that
/// consumes no byte (`num_skip(0)` and a length of 0 after adjustment) is
/// `InvalidData` (tokio-util hands out empty frames forever); a stream that
/// ends inside a frame is `UnexpectedEof` (tokio-util: `Other`, "bytes
/// remaining on stream").
///
/// ```
/// use iobuf::frame::{Decoded, Decoder, LengthDelimited};
///
/// let mut d = LengthDelimited::new();
/// assert_eq!(d.decode(b"\0\0\0\x03abcde")?, Decoded::Frame { frame: 4..7, consumed: 7 });
/// assert_eq!(d.decode(b"\0\0\0\x09ab")?, Decoded::Incomplete(Some(13)));
///
/// // A 2-byte little-endian length that counts only the payload, header
/// // kept: the adjustment adds the header to the frame (as in tokio-util).
/// let mut d = LengthDelimited::builder()
///     .length_field_length(2)
///     .little_endian()
///     .length_adjustment(2)
///     .num_skip(0)
///     .new_codec();
/// assert_eq!(d.decode(b"\x03\0xyz")?, Decoded::Frame { frame: 0..5, consumed: 5 });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LengthDelimited {
    builder: LengthDelimitedBuilder,
    /// The maximum was set to `usize::MAX`: no bound but the reader's
    /// largest buffer (`max_buffered_len` is `None`).
    no_limit: bool,
    /// The frame whose header was read and checked: the range of the
    /// buffered bytes it is, and the bytes it consumes (`range.end`).
    in_flight: Option<Range<usize>>,
}

/// The settings of a [`LengthDelimited`], named and meaning as tokio-util's
/// `length_delimited::Builder`; [`new_codec`](Self::new_codec) makes the
/// decoder.
///
/// ```
/// use iobuf::frame::LengthDelimited;
///
/// let codec = LengthDelimited::builder()
///     .length_field_offset(1)
///     .length_field_length(2)
///     .max_frame_length(64 * 1024)
///     .new_codec();
/// // A 2-byte field holds at most 65535: the maximum is capped there.
/// assert_eq!(codec.max_frame_length(), 65535);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LengthDelimitedBuilder {
    field_offset: usize,
    field_len: usize,
    endian: Endian,
    adjustment: isize,
    num_skip: Option<usize>,
    max_frame_len: usize,
}

impl Default for LengthDelimitedBuilder {
    fn default() -> Self {
        LengthDelimitedBuilder::new()
    }
}

impl LengthDelimitedBuilder {
    /// tokio-util's defaults: a 4-byte big-endian length at offset 0, no
    /// adjustment, the header skipped, at most 8 MiB.
    pub fn new() -> Self {
        LengthDelimitedBuilder {
            field_offset: 0,
            field_len: 4,
            endian: Endian::Big,
            adjustment: 0,
            num_skip: None,
            max_frame_len: 8 * 1024 * 1024,
        }
    }

    /// Bytes in the length field: 1 to 8.
    ///
    /// # Panics
    ///
    /// For 0 or more than 8 (as tokio-util).
    pub fn length_field_length(mut self, n: usize) -> Self {
        assert!(
            (1..=8).contains(&n),
            "a length field is 1 to 8 bytes, not {n}"
        );
        self.field_len = n;
        self
    }

    /// Bytes before the length field (part of the header).
    pub fn length_field_offset(mut self, n: usize) -> Self {
        self.field_offset = n;
        self
    }

    /// Added to the length the field holds to get the frame's length after
    /// the skipped bytes (negative when the field counts the header too;
    /// positive to keep a header that `num_skip` does not strip).
    pub fn length_adjustment(mut self, n: isize) -> Self {
        self.adjustment = n;
        self
    }

    /// Bytes stripped from the front of each frame before its length is
    /// counted (default: the whole header, offset and length field; 0
    /// keeps the header, which the adjustment must then count).
    pub fn num_skip(mut self, n: usize) -> Self {
        self.num_skip = Some(n);
        self
    }

    /// The largest value of the length field accepted (before adjustment);
    /// a larger one is an `InvalidData` error. Capped at what the field
    /// can hold, with the adjustment, when the codec is made;
    /// `usize::MAX` means no limit but the largest buffer of the reader's
    /// `Pools`.
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

    /// The target's byte order.
    pub fn native_endian(self) -> Self {
        if cfg!(target_endian = "big") {
            self.big_endian()
        } else {
            self.little_endian()
        }
    }

    /// The decoder.
    pub fn new_codec(&self) -> LengthDelimited {
        let mut builder = *self;
        builder.max_frame_len = builder.max_frame_len.min(builder.max_allowed());
        LengthDelimited {
            builder,
            no_limit: self.max_frame_len == usize::MAX,
            in_flight: None,
        }
    }

    /// The largest maximum the field can carry: its largest value plus the
    /// adjustment (saturating), as tokio-util caps it.
    fn max_allowed(&self) -> usize {
        let field_max = u64::MAX >> (64 - 8 * self.field_len as u32);
        let adjustment = self.adjustment as i64;
        usize::try_from(field_max.saturating_add_signed(adjustment)).unwrap_or(usize::MAX)
    }

    /// Bytes from the front of a frame to the end of its length field;
    /// `None` if that does not fit a `usize`.
    fn header_len(&self) -> Option<usize> {
        self.field_offset.checked_add(self.field_len)
    }
}

impl Default for LengthDelimited {
    fn default() -> Self {
        LengthDelimited::new()
    }
}

impl LengthDelimited {
    /// A 4-byte big-endian length, then the payload (the frame); the
    /// length at most 8 MiB.
    pub fn new() -> Self {
        LengthDelimitedBuilder::new().new_codec()
    }

    /// The settings, to change before [`new_codec`](LengthDelimitedBuilder::new_codec).
    pub fn builder() -> LengthDelimitedBuilder {
        LengthDelimitedBuilder::new()
    }

    /// The largest length field accepted (before adjustment), capped at
    /// what the field can hold.
    pub fn max_frame_length(&self) -> usize {
        self.builder.max_frame_len
    }

    /// Sets the maximum (capped as in the builder). It applies from the
    /// next frame: a frame whose header was already read is not rejected.
    pub fn set_max_frame_length(&mut self, n: usize) {
        self.builder.max_frame_len = n.min(self.builder.max_allowed());
        self.no_limit = n == usize::MAX;
    }

    /// Writes the header for a payload of `len` bytes into `out` (the
    /// inverse of [`Decoder::decode`] for frames whose header is offset and
    /// length field only; bytes before the field are zero, where
    /// tokio-util's encoder writes the field alone). The field holds `len`
    /// minus the adjustment. Returns the header's length.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `out` is shorter than the header, `len` is above
    /// the maximum, or `len` minus the adjustment does not fit the field.
    ///
    /// ```
    /// use iobuf::frame::LengthDelimited;
    ///
    /// let mut header = [0u8; 4];
    /// assert_eq!(LengthDelimited::new().encode_header(5, &mut header)?, 4);
    /// assert_eq!(header, [0, 0, 0, 5]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn encode_header(&self, len: usize, out: &mut [u8]) -> io::Result<usize> {
        let b = &self.builder;
        let too_short = || io::Error::new(io::ErrorKind::InvalidInput, "header buffer too short");
        let header = b.header_len().ok_or_else(too_short)?;
        let out = out.get_mut(..header).ok_or_else(too_short)?;
        let value = (len as i128) - (b.adjustment as i128);
        let max = i128::from(u64::MAX >> (64 - 8 * b.field_len as u32));
        if value < 0 || value > max || len > b.max_frame_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a frame of {len} bytes does not fit the length field"),
            ));
        }
        out[..b.field_offset].fill(0);
        let bytes = (value as u64).to_be_bytes();
        let field = &mut out[b.field_offset..];
        field.copy_from_slice(&bytes[8 - b.field_len..]);
        if b.endian == Endian::Little {
            field.reverse();
        }
        Ok(header)
    }

    /// The frame in flight, if `buf` holds it all.
    fn finish(&mut self, frame: Range<usize>, buf: &[u8]) -> Decoded {
        if buf.len() < frame.end {
            return Decoded::Incomplete(Some(frame.end));
        }
        self.in_flight = None;
        Decoded::Frame {
            consumed: frame.end,
            frame,
        }
    }
}

/// The unsigned value of a length field of 1 to 8 bytes: one load for the
/// usual 4-byte field, a byte at a time for the others.
#[inline]
fn field_value(field: &[u8], endian: Endian) -> u64 {
    if let Ok(word) = <[u8; 4]>::try_from(field) {
        return u64::from(match endian {
            Endian::Big => u32::from_be_bytes(word),
            Endian::Little => u32::from_le_bytes(word),
        });
    }
    let mut value = 0u64;
    let mut push = |byte: u8| value = (value << 8) | u64::from(byte);
    match endian {
        Endian::Big => field.iter().copied().for_each(&mut push),
        Endian::Little => field.iter().rev().copied().for_each(&mut push),
    }
    value
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Decoder for LengthDelimited {
    #[inline]
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        if let Some(frame) = self.in_flight.clone() {
            return Ok(self.finish(frame, buf));
        }
        let b = &self.builder;
        let header = b.header_len().ok_or_else(|| {
            invalid(format!(
                "a length field at offset {} is past the end of memory",
                b.field_offset
            ))
        })?;
        let skip = b.num_skip.unwrap_or(header);
        let head = header.max(skip);
        if buf.len() < head {
            return Ok(Decoded::Incomplete(Some(head)));
        }
        let value = field_value(&buf[b.field_offset..header], b.endian);
        // As tokio-util: the field itself, before adjustment, against the
        // maximum.
        let max = b.max_frame_len;
        let Some(n) = usize::try_from(value).ok().filter(|&n| n <= max) else {
            return Err(invalid(format!(
                "a length field of {value} is above the maximum, {max}"
            )));
        };
        let adjusted = if b.adjustment < 0 {
            n.checked_sub(b.adjustment.unsigned_abs())
        } else {
            n.checked_add(b.adjustment.unsigned_abs())
        };
        let end = adjusted.and_then(|n| skip.checked_add(n)).ok_or_else(|| {
            invalid(format!(
                "a length field of {value} with adjustment {} and num_skip {skip} \
                 is out of range",
                b.adjustment
            ))
        })?;
        if end == 0 {
            return Err(invalid(
                "a frame of 0 bytes with num_skip 0 consumes nothing".into(),
            ));
        }
        if buf.len() < end {
            // The header is not read again when the rest comes.
            self.in_flight = Some(skip..end);
            return Ok(Decoded::Incomplete(Some(end)));
        }
        Ok(Decoded::Frame {
            frame: skip..end,
            consumed: end,
        })
    }

    fn max_buffered_len(&self) -> Option<usize> {
        let b = &self.builder;
        if self.no_limit {
            return None;
        }
        let header = b.header_len()?;
        let skip = b.num_skip.unwrap_or(header);
        let n = if b.adjustment < 0 {
            b.max_frame_len.saturating_sub(b.adjustment.unsigned_abs())
        } else {
            b.max_frame_len.saturating_add(b.adjustment.unsigned_abs())
        };
        Some(header.max(skip).max(skip.saturating_add(n)))
    }
}

/// Lines ended by `\n`, meaning what tokio-util's `LinesCodec` means: the
/// frame is the line without its `\n` and without one `\r` before it. A
/// line longer than the maximum (counting a `\r` before the `\n`, as
/// `LinesCodec` does) is an `InvalidData` error after which the stream
/// goes on: the rest of that line is discarded, up to and including its
/// `\n`, and the next line is read as usual. At the end of the stream an
/// unterminated last line is a frame too (a lone `\r` left is not).
///
/// Deliberate differences from `LinesCodec`: frames are bytes, not
/// `String` (no UTF-8 check: check with `std::str::from_utf8` where text
/// is wanted); with no maximum ([`Lines::new`]), a line is still bounded
/// by the largest buffer of the reader's `Pools` (tokio-util grows its
/// buffer without bound).
///
/// ```
/// use iobuf::frame::{Decoded, Decoder, Lines};
///
/// let mut lines = Lines::new_with_max_length(1024);
/// assert_eq!(lines.decode(b"GET /\r\nHost")?, Decoded::Frame { frame: 0..5, consumed: 7 });
/// assert_eq!(lines.decode(b"Host")?, Decoded::Incomplete(None));
/// assert_eq!(lines.decode_eof(b"Host")?, Decoded::Frame { frame: 0..4, consumed: 4 });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lines {
    max_length: usize,
    /// Bytes already searched for `\n` (a resumed search skips them).
    next_index: usize,
    /// Discarding the rest of a line that was too long.
    discarding: bool,
}

impl Default for Lines {
    fn default() -> Self {
        Lines::new()
    }
}

impl Lines {
    /// Lines of any length (as `LinesCodec::new`): bounded only by the
    /// largest buffer of the reader's `Pools`.
    pub fn new() -> Self {
        Lines::new_with_max_length(usize::MAX)
    }

    /// Lines of at most `max_length` bytes before the `\n` (as
    /// `LinesCodec::new_with_max_length`).
    pub fn new_with_max_length(max_length: usize) -> Self {
        Lines {
            max_length,
            next_index: 0,
            discarding: false,
        }
    }

    /// The maximum line length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// A line to send: `line` and its `\n`, as two frames for a frame
    /// writer (no copy), as `LinesCodec`'s encoder writes it.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `line` holds a `\n` or is longer than the maximum:
    /// a peer reading with the same `Lines` would split or refuse it
    /// (`LinesCodec`'s encoder writes it anyway).
    ///
    /// ```
    /// use iobuf::frame::{FrameWriter, Lines};
    ///
    /// let lines = Lines::new_with_max_length(80);
    /// let mut out = FrameWriter::new(Vec::new());
    /// for part in lines.encode(&b"hello"[..])? {
    ///     out.feed(part);
    /// }
    /// out.flush()?;
    /// assert_eq!(out.get_ref(), b"hello\n");
    /// assert!(lines.encode(&b"two\nlines"[..]).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn encode(&self, line: impl Into<Outgoing>) -> io::Result<[Outgoing; 2]> {
        let line = line.into();
        let bytes = line.bytes();
        if bytes.len() > self.max_length || bytes.contains(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a line of {} bytes with a newline in it or over the maximum, {}",
                    bytes.len(),
                    self.max_length
                ),
            ));
        }
        Ok([line, Outgoing::from(&b"\n"[..])])
    }
}

impl Decoder for Lines {
    fn decode(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        // As `LinesCodec::decode`: search the first `max_length + 1` bytes.
        let read_to = self.max_length.saturating_add(1).min(buf.len());
        let from = self.next_index.min(read_to);
        let newline = buf[from..read_to].iter().position(|&b| b == b'\n');
        match (self.discarding, newline) {
            (true, Some(i)) => {
                self.discarding = false;
                self.next_index = 0;
                Ok(Decoded::Skip(from + i + 1))
            }
            (true, None) => {
                self.next_index = 0;
                Ok(if read_to == 0 {
                    Decoded::Incomplete(None)
                } else {
                    Decoded::Skip(read_to)
                })
            }
            (false, Some(i)) => {
                self.next_index = 0;
                let nl = from + i;
                let end = if nl > 0 && buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                Ok(Decoded::Frame {
                    frame: 0..end,
                    consumed: nl + 1,
                })
            }
            (false, None) if buf.len() > self.max_length => {
                self.discarding = true;
                self.next_index = 0;
                Err(invalid(format!(
                    "line longer than the maximum, {} bytes",
                    self.max_length
                )))
            }
            (false, None) => {
                self.next_index = read_to;
                Ok(Decoded::Incomplete(None))
            }
        }
    }

    fn decode_eof(&mut self, buf: &[u8]) -> io::Result<Decoded> {
        match self.decode(buf)? {
            Decoded::Incomplete(_) => {
                // As `LinesCodec::decode_eof`: the rest is the last line,
                // without a `\r` at its end; a lone `\r` is nothing.
                self.next_index = 0;
                let end = buf.len() - usize::from(buf.last() == Some(&b'\r'));
                Ok(if end == 0 {
                    Decoded::Skip(buf.len())
                } else {
                    Decoded::Frame {
                        frame: 0..end,
                        consumed: buf.len(),
                    }
                })
            }
            decoded => Ok(decoded),
        }
    }

    fn can_resume(&self) -> bool {
        self.discarding
    }

    fn max_buffered_len(&self) -> Option<usize> {
        // A line and its `\n`; with no maximum, no bound.
        (self.max_length != usize::MAX).then(|| self.max_length + 1)
    }
}
