//! The frame reader and writer (`iobuf::frame`): frames cut from pooled
//! read-ahead buffers as views, many per read; frames that straddle a
//! buffer or outgrow it; bad input and end of stream; backpressure from an
//! empty pool; vectored writes across partial writes.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use iobuf::frame::{
    AsyncFrameReader, AsyncFrameWriter, Decoded, Decoder, FrameReader, FrameWriter,
    LengthDelimited, Lines, Pools,
};
use iobuf::{BoundedPool, Filled, LargeBufferPool, MediumBufferPool, MicroBufferPool};

/// A source that hands out at most `chunk` bytes per read and counts the
/// reads that returned data.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
    reads: usize,
}

impl<'a> Chunked<'a> {
    fn new(data: &'a [u8], chunk: usize) -> Self {
        Chunked {
            data,
            chunk,
            reads: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(self.chunk).min(out.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        if n > 0 {
            self.reads += 1;
        }
        Ok(n)
    }
}

/// A 4-byte big-endian length, then at most `max` bytes of payload.
fn ld(max: usize) -> LengthDelimited {
    LengthDelimited::builder().max_frame_length(max).new_codec()
}

/// As `ld`, with frames that keep their header (`num_skip(0)`, which the
/// adjustment then counts, as in tokio-util): an echo sends them back as
/// they came.
fn keeps_header(max: usize) -> LengthDelimited {
    LengthDelimited::builder()
        .max_frame_length(max)
        .length_adjustment(4)
        .num_skip(0)
        .new_codec()
}

/// `frames` encoded with a 4-byte big-endian length.
fn wire(frames: &[Vec<u8>]) -> Vec<u8> {
    let codec = LengthDelimited::new();
    let mut out = Vec::new();
    for f in frames {
        let mut header = [0; 4];
        codec.encode_header(f.len(), &mut header).unwrap();
        out.extend_from_slice(&header);
        out.extend_from_slice(f);
    }
    out
}

/// Frames of the given lengths, each byte depending on frame and offset.
fn frames(lengths: &[usize]) -> Vec<Vec<u8>> {
    lengths
        .iter()
        .enumerate()
        .map(|(k, &n)| (0..n).map(|i| (k * 31 + i * 7) as u8).collect())
        .collect()
}

fn read_all<R: Read, D: Decoder>(reader: &mut FrameReader<R, D>) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while let Some(frame) = reader.read_frame()? {
        out.push(frame.to_vec());
    }
    Ok(out)
}

#[test]
fn one_read_takes_many_frames() {
    let pool = Arc::new(MediumBufferPool::new(2).unwrap());
    let sent = frames(&[10, 0, 200, 33, 1000, 5]);
    let bytes = wire(&sent);
    let mut reader = FrameReader::new(
        Chunked::new(&bytes, usize::MAX),
        ld(8000),
        Pools::new(pool.clone()),
    )
    .unwrap();
    let got = read_all(&mut reader).unwrap();
    assert_eq!(got, sent);
    assert_eq!(reader.get_ref().reads, 1, "one read for all six frames");
    drop(reader);
    assert_eq!(pool.available(), 2);
}

#[test]
fn frames_that_straddle_a_buffer_move_to_a_fresh_one() {
    // 512-byte read-ahead, frames of up to 500 bytes, read 100 bytes at a
    // time: most frames cross a buffer's end.
    let small = Arc::new(MicroBufferPool::new(4).unwrap());
    let lengths: Vec<usize> = (0..50).map(|k| (k * 97) % 500).collect();
    let sent = frames(&lengths);
    let bytes = wire(&sent);
    let mut reader = FrameReader::new(
        Chunked::new(&bytes, 100),
        ld(500),
        Pools::new(small.clone()),
    )
    .unwrap();
    let mut views = Vec::new();
    while let Some(frame) = reader.read_frame().unwrap() {
        views.push(frame);
        // Hold the last two frames: the pool must still have room.
        if views.len() > 2 {
            views.remove(0);
        }
    }
    drop(views);
    drop(reader);
    assert_eq!(small.available(), 4);
    // Same bytes, byte by byte.
    let mut reader =
        FrameReader::new(Chunked::new(&bytes, 1), ld(500), Pools::new(small.clone())).unwrap();
    assert_eq!(read_all(&mut reader).unwrap(), sent);
}

#[test]
fn a_frame_larger_than_the_read_ahead_takes_a_larger_tier() {
    let small = Arc::new(MicroBufferPool::new(2).unwrap());
    let large = Arc::new(MediumBufferPool::new(1).unwrap());
    let sent = frames(&[100, 5000, 20]);
    let bytes = wire(&sent);
    let mut reader = FrameReader::new(
        Chunked::new(&bytes, 700),
        ld(8000),
        Pools::new(small.clone()).with(large.clone()),
    )
    .unwrap();
    let first = reader.read_frame().unwrap().unwrap();
    let big = reader.read_frame().unwrap().unwrap();
    assert_eq!((&first[..], &big[..]), (&sent[0][..], &sent[1][..]));
    assert_eq!(
        large.available(),
        0,
        "the 5000-byte frame is in the 8 KiB tier"
    );
    assert_eq!(reader.read_frame().unwrap().unwrap(), &sent[2][..]);
    assert!(reader.read_frame().unwrap().is_none());
    drop((first, big, reader));
    assert_eq!((small.available(), large.available()), (2, 1));
}

/// A source that hands out at most `chunk` bytes per read and records the
/// room each read was given.
struct Rooms<'a> {
    data: &'a [u8],
    chunk: usize,
    rooms: Vec<usize>,
}

impl Read for Rooms<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.rooms.push(out.len());
        let n = self.data.len().min(self.chunk).min(out.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn bursts_larger_than_the_read_ahead_read_into_the_tier_above() {
    // 40 frames of 54 bytes: 2 160 bytes at once, four times a 512-byte
    // read-ahead buffer.
    let sent = frames(&[50; 40]);
    let bytes = wire(&sent);
    for tier_above_free in [true, false] {
        let small = Arc::new(MicroBufferPool::new(2).unwrap());
        let medium = Arc::new(MediumBufferPool::new(1).unwrap());
        // The test holds the one 8 KiB buffer: the reader must not wait.
        let held = (!tier_above_free).then(|| medium.try_get_owned().unwrap());
        let source = Rooms {
            data: &bytes,
            chunk: usize::MAX,
            rooms: Vec::new(),
        };
        let pools = Pools::new(small.clone()).with(medium.clone());
        let mut reader = FrameReader::new(source, ld(500), pools).unwrap();
        assert_eq!(read_all(&mut reader).unwrap(), sent);
        let rooms = &reader.get_ref().rooms;
        assert_eq!(
            rooms[0], 512,
            "the first read goes into a read-ahead buffer"
        );
        if tier_above_free {
            // It filled its room: the next read gets an 8 KiB buffer (less
            // the partial frame moved into it) and takes the rest at once.
            assert!(rooms[1] > 8000, "rooms {rooms:?}");
            assert_eq!(rooms.len(), 3, "two reads and the end: {rooms:?}");
        } else {
            assert!(rooms.iter().all(|&r| r <= 512), "rooms {rooms:?}");
        }
        drop((reader, held));
        assert_eq!((small.available(), medium.available()), (2, 1));
    }
}

#[test]
fn a_small_tail_moves_to_a_fresh_buffer_when_one_is_free() {
    // Reads of 300 bytes into 512-byte buffers: the first leaves 5 frames
    // of 54 bytes, a 30-byte partial and a 212-byte tail. The frames are
    // kept, so the buffer cannot be reused in place.
    let sent = frames(&[50; 20]);
    let bytes = wire(&sent);
    for fresh_free in [true, false] {
        let small = Arc::new(MicroBufferPool::new(3).unwrap());
        let held: Vec<_> = (0..if fresh_free { 0 } else { 2 })
            .map(|_| small.try_get_owned().unwrap())
            .collect();
        let source = Rooms {
            data: &bytes,
            chunk: 300,
            rooms: Vec::new(),
        };
        let mut reader = FrameReader::new(source, ld(500), Pools::new(small.clone())).unwrap();
        let mut views = Vec::new();
        for _ in 0..5 {
            views.push(reader.read_frame().unwrap().unwrap());
        }
        let next = reader.read_frame().unwrap().unwrap();
        assert_eq!(&next[..], &sent[5][..]);
        let rooms = &reader.get_ref().rooms;
        if fresh_free {
            assert_eq!(
                rooms[..2],
                [512, 512 - 30],
                "a fresh buffer, the partial moved"
            );
        } else {
            assert_eq!(rooms[..2], [512, 212], "no buffer free: the tail, no wait");
        }
        drop((views, next, reader, held));
        assert_eq!(small.available(), 3);
    }
}

#[test]
fn a_view_cloned_while_its_reader_watches_the_buffer() {
    // One 512-byte buffer: the second frame needs room the first frame's
    // view holds, so the reader waits, watching its buffer (R3). Cloning
    // that view meanwhile (the count has its watched bit up) must neither
    // abort nor lose the wake-up when both copies drop.
    let pool = Arc::new(MicroBufferPool::new(1).unwrap());
    let sent = frames(&[300, 300]);
    let bytes = wire(&sent);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_pool = pool.clone();
    let reader = std::thread::spawn(move || {
        let source = Chunked::new(&bytes, usize::MAX);
        let mut reader = FrameReader::new(source, ld(500), Pools::new(reader_pool)).unwrap();
        tx.send(reader.read_frame().unwrap().unwrap()).unwrap();
        let second = reader.read_frame().unwrap().unwrap().to_vec();
        assert!(reader.read_frame().unwrap().is_none());
        second
    });
    let first = rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let copy = first.clone();
    assert_eq!(&copy[..], &sent[0][..]);
    drop(first);
    std::thread::sleep(std::time::Duration::from_millis(20));
    drop(copy);
    assert_eq!(reader.join().unwrap(), sent[1]);
    assert_eq!(pool.available(), 1);
}

/// Every buffer of a reader that failed is back home.
fn fails_with(bytes: &[u8], decoder: impl Decoder, kind: io::ErrorKind) -> String {
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    let mut reader =
        FrameReader::new(Chunked::new(bytes, 64), decoder, Pools::new(pool.clone())).unwrap();
    let err = loop {
        match reader.read_frame() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(
        pool.available(),
        2,
        "a buffer of the failed reader was not given back"
    );
    assert_eq!(reader.buffered(), 0);
    assert!(
        reader.read_frame().unwrap().is_none(),
        "a failed reader stays ended"
    );
    err.to_string()
}

#[test]
fn a_length_above_the_maximum_is_invalid_data() {
    let mut bytes = wire(&frames(&[3]));
    bytes.extend_from_slice(&[0, 0, 1, 0]);
    let msg = fails_with(&bytes, ld(255), io::ErrorKind::InvalidData);
    assert!(msg.contains("above the maximum, 255"), "{msg}");
}

#[test]
fn a_maximum_above_the_largest_tier_is_refused_where_the_reader_is_built() {
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    // The default maximum, 8 MiB, over 512-byte buffers.
    let err =
        FrameReader::new(&b""[..], LengthDelimited::new(), Pools::new(pool.clone())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("largest buffer"), "{err}");
    let err = AsyncFrameReader::new(&b""[..], ld(509), Pools::new(pool.clone())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "509 + 4 > 512");
    assert!(FrameReader::new(&b""[..], ld(508), Pools::new(pool.clone())).is_ok());
    let err =
        FrameReader::new(&b""[..], Lines::new_with_max_length(512), Pools::new(pool)).unwrap_err();
    assert_eq!(
        err.kind(),
        io::ErrorKind::InvalidInput,
        "a line and its \\n"
    );
}

#[test]
fn with_no_maximum_a_length_above_the_largest_tier_is_invalid_data() {
    let bytes = [0, 0, 2, 0];
    let msg = fails_with(&bytes, ld(usize::MAX), io::ErrorKind::InvalidData);
    assert!(
        msg.contains("larger than the largest buffer, 512 bytes"),
        "{msg}"
    );
}

#[test]
fn eof_inside_a_frame_is_unexpected_eof() {
    let bytes = wire(&frames(&[10, 100]));
    fails_with(
        &bytes[..bytes.len() - 1],
        ld(500),
        io::ErrorKind::UnexpectedEof,
    );
    fails_with(
        &bytes[..bytes.len() - 101],
        ld(500),
        io::ErrorKind::UnexpectedEof,
    );
}

/// A user decoder that reports whatever it was given.
struct Says(Decoded);

impl Decoder for Says {
    fn decode(&mut self, _: &[u8]) -> io::Result<Decoded> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_decoder_that_reports_a_frame_past_the_data_is_an_error_not_a_panic() {
    let bytes = [1u8; 10];
    for bad in [
        Decoded::Frame {
            frame: 0..11,
            consumed: 11,
        },
        Decoded::Frame {
            frame: 0..4,
            consumed: 3,
        },
        Decoded::Frame {
            #[allow(clippy::reversed_empty_ranges)] // the decoder's mistake under test
            frame: 3..2,
            consumed: 4,
        },
        Decoded::Frame {
            frame: 0..0,
            consumed: 0,
        },
    ] {
        let msg = fails_with(&bytes, Says(bad.clone()), io::ErrorKind::InvalidData);
        assert!(msg.contains("decoder"), "{bad:?}: {msg}");
    }
    // Asking for more than the largest buffer holds.
    fails_with(
        &bytes,
        Says(Decoded::Incomplete(Some(1 << 20))),
        io::ErrorKind::InvalidData,
    );
}

#[test]
fn lines_and_a_line_longer_than_a_buffer() {
    let pool = Arc::new(MicroBufferPool::new(3).unwrap());
    let text = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nlast\n";
    let mut reader = FrameReader::new(
        Chunked::new(text, 5),
        Lines::new_with_max_length(100),
        Pools::new(pool.clone()),
    )
    .unwrap();
    let lines: Vec<_> = (&mut reader).map(|l| l.unwrap().to_vec()).collect();
    assert_eq!(lines, [&b"GET / HTTP/1.1"[..], b"Host: x", b"", b"last"]);
    drop(reader);
    // A line longer than the decoder's maximum: an error, then the reader
    // goes on after that line (as `LinesCodec`), and the unterminated
    // last line is a frame at the end.
    let mut long = vec![b'a'; 300];
    long.extend_from_slice(b"\nnext\r\nlast");
    let mut reader = FrameReader::new(
        Chunked::new(&long, 64),
        Lines::new_with_max_length(100),
        Pools::new(pool.clone()),
    )
    .unwrap();
    let err = reader.read_frame().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert_eq!(&reader.read_frame().unwrap().unwrap()[..], b"next");
    assert_eq!(&reader.read_frame().unwrap().unwrap()[..], b"last");
    assert!(reader.read_frame().unwrap().is_none());
    drop(reader);
    assert_eq!(pool.available(), 3);
    // Without a maximum, a line longer than the largest buffer (512).
    let msg = fails_with(&[b'a'; 600], Lines::new(), io::ErrorKind::InvalidData);
    assert!(msg.contains("largest buffer"), "{msg}");
}

#[test]
fn length_delimited_knobs() {
    // 2-byte little-endian length counting the whole frame, header kept:
    // as in tokio-util, the frame is the length's bytes from the front.
    let mut d = LengthDelimited::builder()
        .length_field_length(2)
        .little_endian()
        .num_skip(0)
        .new_codec();
    assert_eq!(
        d.decode(b"\x05\0abcZ").unwrap(),
        Decoded::Frame {
            frame: 0..5,
            consumed: 5
        }
    );
    // A type byte before a 1-byte length; the frame is the payload only.
    let mut d = LengthDelimited::builder()
        .length_field_offset(1)
        .length_field_length(1)
        .new_codec();
    assert_eq!(
        d.decode(b"T\x02hi").unwrap(),
        Decoded::Frame {
            frame: 2..4,
            consumed: 4
        }
    );
    assert_eq!(d.decode(b"T").unwrap(), Decoded::Incomplete(Some(2)));
    // Every width round-trips through `encode_header`.
    for width in 1..=8 {
        for endian_little in [false, true] {
            let mut b = LengthDelimited::builder().length_field_length(width);
            if endian_little {
                b = b.little_endian();
            }
            let mut d = b.new_codec();
            let mut frame = vec![0; width];
            assert_eq!(d.encode_header(7, &mut frame).unwrap(), width);
            frame.extend_from_slice(b"payload");
            assert_eq!(
                d.decode(&frame).unwrap(),
                Decoded::Frame {
                    frame: width..width + 7,
                    consumed: width + 7
                },
                "width {width}, little {endian_little}"
            );
        }
    }
    // A length that does not fit its field is refused on encode.
    let d = LengthDelimited::builder()
        .length_field_length(1)
        .new_codec();
    assert_eq!(
        d.encode_header(256, &mut [0; 1]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    // A negative adjusted length is invalid data.
    let mut d = LengthDelimited::builder()
        .length_adjustment(-10)
        .new_codec();
    assert_eq!(
        d.decode(b"\0\0\0\x02ab").unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

#[test]
#[should_panic(expected = "a length field is 1 to 8 bytes, not 9")]
fn a_length_field_of_nine_bytes_panics() {
    let _ = LengthDelimited::builder().length_field_length(9);
}

/// A destination that takes at most `chunk` bytes per call and records
/// the slice lengths of each vectored write.
struct Slices {
    out: Vec<u8>,
    chunk: usize,
    calls: Vec<Vec<usize>>,
}

impl Slices {
    fn new(chunk: usize) -> Self {
        Slices {
            out: Vec::new(),
            chunk,
            calls: Vec::new(),
        }
    }
}

impl Write for Slices {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }
    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls.push(slices.iter().map(|s| s.len()).collect());
        let mut left = self.chunk;
        for s in slices {
            let n = s.len().min(left);
            self.out.extend_from_slice(&s[..n]);
            left -= n;
        }
        Ok(self.chunk - left)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_writer_writes_views_bytes_and_filled_buffers_across_partial_writes() {
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    let mut filled = Filled::new(pool.get_owned());
    filled.extend_from_slice(b"filled;");
    let mut split = iobuf::shared::SplitBuf::from(pool.get_owned());
    split.extend_from_slice(b"view;split;");
    let view = split.split_to(5);
    let mut out = FrameWriter::new(Slices::new(3)).with_high_water_mark(1 << 20);
    out.feed(view);
    out.feed(split);
    out.feed(Bytes::from_static(b"bytes;"));
    out.feed(filled);
    out.feed(&b""[..]);
    out.feed(&b"static"[..]);
    assert_eq!(out.queued(), 30);
    assert_eq!(pool.available(), 0, "queued frames hold their buffers");
    out.flush().unwrap();
    assert_eq!(out.get_ref().out, b"view;split;bytes;filled;static");
    assert_eq!(out.get_ref().calls.len(), 10, "30 bytes, 3 per call");
    assert_eq!(
        pool.available(),
        2,
        "written frames give their buffers back"
    );
}

#[test]
fn frames_of_one_read_leave_as_one_slice() {
    let pool = Arc::new(MediumBufferPool::new(2).unwrap());
    let sent = frames(&[10, 0, 200, 33, 1000, 5]);
    let bytes = wire(&sent);
    // Frames keep their header, so the echo is the wire itself.
    let codec = keeps_header(8000);
    for chunk in [usize::MAX, 7] {
        let mut reader = FrameReader::new(
            Chunked::new(&bytes, usize::MAX),
            codec.clone(),
            Pools::new(pool.clone()),
        )
        .unwrap();
        let mut out = FrameWriter::new(Slices::new(chunk));
        while let Some(frame) = reader.read_frame().unwrap() {
            out.feed(frame);
        }
        assert_eq!(out.queued(), bytes.len());
        out.flush().unwrap();
        assert_eq!(out.get_ref().out, bytes, "byte-exact, chunk {chunk}");
        let calls = &out.get_ref().calls;
        assert!(calls.iter().all(|c| c.len() == 1), "{calls:?}");
        assert_eq!(calls[0], [bytes.len()], "six frames, one slice");
        assert_eq!(calls.len(), bytes.len().div_ceil(chunk.min(bytes.len())));
        drop(reader);
        assert_eq!(
            pool.available(),
            2,
            "the joined views' shares all went home"
        );
    }
}

#[test]
fn only_views_that_follow_each_other_in_one_buffer_are_joined() {
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    let (mut a, mut b) = (
        iobuf::shared::SplitBuf::from(pool.get_owned()),
        iobuf::shared::SplitBuf::from(pool.get_owned()),
    );
    if b.as_ptr() < a.as_ptr() {
        std::mem::swap(&mut a, &mut b);
    }
    let size = a.capacity();
    assert_eq!(
        a.as_ptr().wrapping_add(size),
        b.as_ptr(),
        "one slab: the second buffer starts where the first ends"
    );
    a.extend_from_slice(&vec![1; size]);
    b.extend_from_slice(b"abcdefgh");
    let a_end = a.split_to(size).slice(size - 2..);
    let (b1, gap, b2) = (b.split_to(2), b.split_to(2), b.split_to(2));
    let mut out = FrameWriter::new(Slices::new(usize::MAX));
    out.feed(a_end); // ends where `b1` starts, in another buffer
    out.feed(b1.clone());
    out.feed(b2); // `gap` lies between
    out.feed(Bytes::from_static(b"gh")); // not a view
    out.feed(gap.clone());
    out.feed(gap.slice(2..)); // empty: not queued
    out.flush().unwrap();
    assert_eq!(out.get_ref().out, b"\x01\x01abefghcd");
    assert_eq!(out.get_ref().calls, [vec![2, 2, 2, 2, 2]]);
    drop((a, b, b1, gap));
    assert_eq!(pool.available(), 2);

    // Views of one buffer, one after the other: one slice, and a partial
    // write leaves the rest of the joined view queued.
    let mut c = iobuf::shared::SplitBuf::from(pool.get_owned());
    c.extend_from_slice(b"0123456789");
    let mut out = FrameWriter::new(Slices::new(3));
    for _ in 0..5 {
        out.feed(c.split_to(2));
    }
    drop(c);
    assert_eq!(pool.available(), 1, "the queued views hold the buffer");
    out.flush().unwrap();
    assert_eq!(out.get_ref().out, b"0123456789");
    assert_eq!(
        out.get_ref().calls,
        [vec![10], vec![7], vec![4], vec![1]],
        "one slice: the rest of the joined view after each partial write"
    );
    assert_eq!(pool.available(), 2);
}

#[test]
fn joined_views_wake_their_reader_when_written() {
    // One 512-byte buffer: three frames and the start of a fourth fill it;
    // the fourth needs the room the first three hold, so the reader waits,
    // watching its buffer (R3). Queued on a writer, the three are joined
    // into one entry that holds their three shares; writing it gives them
    // back at once, and the reader must wake and read on.
    let pool = Arc::new(MicroBufferPool::new(1).unwrap());
    let bytes = wire(&frames(&[100, 100, 200, 300]));
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_pool = pool.clone();
    let reader = std::thread::spawn(move || {
        let source = Chunked::new(&bytes, usize::MAX);
        let codec = keeps_header(500);
        let mut reader = FrameReader::new(source, codec, Pools::new(reader_pool)).unwrap();
        for _ in 0..3 {
            tx.send(reader.read_frame().unwrap().unwrap()).unwrap();
        }
        let last = reader.read_frame().unwrap().unwrap().to_vec();
        assert!(reader.read_frame().unwrap().is_none());
        last
    });
    let mut out = FrameWriter::new(Slices::new(usize::MAX));
    for _ in 0..3 {
        out.feed(rx.recv().unwrap());
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(
        pool.available(),
        0,
        "the reader waits, the writer holds the buffer"
    );
    out.flush().unwrap();
    let bytes = wire(&frames(&[100, 100, 200, 300]));
    assert_eq!(out.get_ref().out, bytes[..412]);
    assert_eq!(out.get_ref().calls, [vec![412]], "three frames, one slice");
    assert_eq!(reader.join().unwrap(), bytes[412..]);
    assert_eq!(pool.available(), 1);
}

#[test]
fn send_writes_only_past_the_high_water_mark_with_one_writev_per_call() {
    let mut out = FrameWriter::new(Slices::new(usize::MAX)).with_high_water_mark(10);
    for _ in 0..3 {
        out.send(&b"abc"[..]).unwrap();
    }
    assert_eq!((out.get_ref().calls.len(), out.queued()), (0, 9));
    out.send(&b"abc"[..]).unwrap();
    assert_eq!(out.get_ref().calls.len(), 1, "four frames, one writev");
    assert_eq!(out.queued(), 0);
    assert_eq!(out.get_ref().out, b"abcabcabcabc");
}

#[test]
fn a_writer_that_accepts_nothing_is_write_zero() {
    let mut out = FrameWriter::new(Slices::new(0));
    out.feed(&b"x"[..]);
    assert_eq!(out.flush().unwrap_err().kind(), io::ErrorKind::WriteZero);
    assert_eq!(out.queued(), 1, "the frame stays queued");
}

#[cfg_attr(miri, ignore = "tokio's timer and I/O driver under Miri")]
#[tokio::test]
async fn the_async_reader_waits_for_a_buffer_and_is_cancel_safe() {
    let pool = Arc::new(MicroBufferPool::new(1).unwrap());
    let bytes = wire(&frames(&[3, 4]));
    let held = pool.get_owned();
    let mut reader = AsyncFrameReader::new(&bytes[..], ld(500), Pools::new(pool.clone())).unwrap();
    // The pool is empty: the reader waits (no heap buffer instead).
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(50), reader.read_frame()).await;
    assert!(
        waited.is_err(),
        "the reader did not wait for the empty pool"
    );
    // The dropped call lost nothing: the buffer goes to the reader's kept wait.
    drop(held);
    let first = reader.read_frame().await.unwrap().unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(reader.read_frame().await.unwrap().unwrap().len(), 4);
    assert!(reader.read_frame().await.unwrap().is_none());
    drop((first, reader));
    assert_eq!(pool.available(), 1);
}

#[cfg_attr(miri, ignore = "tokio's timer and I/O driver under Miri")]
#[tokio::test]
async fn async_echo_over_a_duplex_pipe() {
    let pool = Arc::new(LargeBufferPool::new(4).unwrap());
    let (client, server) = tokio::io::duplex(4096);
    let (srx, stx) = tokio::io::split(server);
    let server = tokio::spawn(async move {
        let codec = LengthDelimited::builder()
            .max_frame_length(64 * 1024)
            .length_adjustment(4)
            .num_skip(0)
            .new_codec();
        let mut frames = AsyncFrameReader::new(srx, codec, Pools::new(pool.clone())).unwrap();
        let mut out = AsyncFrameWriter::new(stx).with_high_water_mark(1000);
        let mut n = 0;
        while let Some(frame) = frames.read_frame().await.unwrap() {
            out.send(frame).await.unwrap();
            n += 1;
        }
        out.flush().await.unwrap();
        drop((frames, out));
        assert_eq!(pool.available(), 4);
        n
    });
    let sent = frames(&(0..200).map(|k| (k * 131) % 3000).collect::<Vec<_>>());
    let bytes = wire(&sent);
    let (mut crx, mut ctx) = tokio::io::split(client);
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        ctx.write_all(&bytes).await.unwrap();
        ctx.shutdown().await.unwrap();
        bytes
    });
    let mut echoed = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut crx, &mut echoed)
        .await
        .unwrap();
    let bytes = writer.await.unwrap();
    assert_eq!(echoed, bytes);
    assert_eq!(server.await.unwrap(), 200);
}

#[test]
fn static_pools_serve_a_reader() {
    static POOL: std::sync::LazyLock<BoundedPool<iobuf::MicroBuffer>> =
        std::sync::LazyLock::new(|| BoundedPool::new(2).unwrap());
    let sent = frames(&[1, 2, 3]);
    let bytes = wire(&sent);
    let mut reader =
        FrameReader::new(Chunked::new(&bytes, 4), ld(500), Pools::new(&*POOL)).unwrap();
    assert_eq!(read_all(&mut reader).unwrap(), sent);
}
