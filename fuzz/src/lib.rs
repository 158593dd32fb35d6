//! What the fuzz targets share: decoders built from the input's first
//! bytes, and a reference run of a decoder over bytes that are all there.

use std::io;

use iobuf::frame::{Decoded, Decoder, LengthDelimited, Lines};

/// Takes `n` bytes from the front of `data` (zeros past its end).
pub fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

/// A `LengthDelimited` from 6 bytes: any width, offset (near `usize::MAX`
/// too), adjustment (the extremes too), `num_skip` and maximum
/// (`usize::MAX` too); `bounded` keeps the maximum and header small.
pub fn length_delimited(data: &mut &[u8], bounded: bool) -> LengthDelimited {
    let [a, b, c, d, e, f] = take::<6>(data);
    let mut builder = LengthDelimited::builder()
        .length_field_length(1 + usize::from(a & 7))
        .length_field_offset(match b {
            250.. if !bounded => usize::MAX - usize::from(b - 250),
            _ => usize::from(b % 6),
        })
        .length_adjustment(match c as i8 {
            127 if !bounded => isize::MAX,
            -128 if !bounded => isize::MIN,
            n => isize::from(n % 16),
        })
        .max_frame_length(match e % 4 {
            0 => usize::from(f),
            1 if !bounded => usize::MAX,
            2 => 1000,
            _ => usize::from(u16::from_le_bytes([f, e]) % 3000),
        });
    if a & 0x80 != 0 {
        builder = builder.little_endian();
    }
    if d >= 128 {
        builder = builder.num_skip(match d {
            255 if !bounded => usize::MAX,
            _ => usize::from(d % 10),
        });
    }
    builder.new_codec()
}

/// A `Lines` from 2 bytes (no maximum too, unless `bounded`).
pub fn lines(data: &mut &[u8], bounded: bool) -> Lines {
    let [a, b] = take::<2>(data);
    if a == 255 && !bounded {
        Lines::new()
    } else {
        Lines::new_with_max_length(usize::from(u16::from_le_bytes([a, b]) % 3000))
    }
}

/// What a reader hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Ev {
    Frame(Vec<u8>),
    Err(io::ErrorKind),
    End,
}

/// Checks one decoder answer against the bytes it was shown.
pub fn check(decoded: &Decoded, shown: usize) {
    match decoded {
        Decoded::Frame { frame, consumed } => {
            assert!(
                frame.start <= frame.end && frame.end <= *consumed,
                "{decoded:?}"
            );
            assert!(
                *consumed <= shown && *consumed > 0,
                "{decoded:?} of {shown}"
            );
        }
        Decoded::Skip(n) => assert!(*n > 0 && *n <= shown, "{decoded:?} of {shown}"),
        Decoded::Incomplete(Some(total)) => assert!(*total > shown, "{decoded:?} of {shown}"),
        _ => {}
    }
}

/// The frames `decoder` finds in `data`, all of it there at once, then the
/// end of the stream: what a reader must hand out whatever its reads.
pub fn reference(mut decoder: impl Decoder, data: &[u8]) -> Vec<Ev> {
    let mut buf = data.to_vec();
    let mut eof = false;
    let mut out = Vec::new();
    while out.len() <= data.len() + 1 {
        if buf.is_empty() {
            out.push(Ev::End);
            break;
        }
        let decoded = if eof {
            decoder.decode_eof(&buf)
        } else {
            decoder.decode(&buf)
        };
        match decoded {
            Err(e) => {
                out.push(Ev::Err(e.kind()));
                if !decoder.can_resume() {
                    break;
                }
            }
            Ok(d) => {
                check(&d, buf.len());
                match d {
                    Decoded::Frame { frame, consumed } => {
                        out.push(Ev::Frame(buf[frame].to_vec()));
                        buf.drain(..consumed);
                    }
                    Decoded::Skip(n) => drop(buf.drain(..n)),
                    Decoded::Incomplete(_) if eof => {
                        out.push(Ev::Err(io::ErrorKind::UnexpectedEof));
                        break;
                    }
                    _ => eof = true,
                }
            }
        }
    }
    out
}
