//! `iobuf::frame` against tokio-util: the same settings, bytes and read
//! chunking give the same frames, errors and end.
//!
//! - tokio-util 0.7's own `tests/length_delimited.rs` and the `LinesCodec`
//!   tests of `tests/codecs.rs`, ported: each read case runs on tokio-util's
//!   `FramedRead` (so the expectation is upstream's, checked here) and on
//!   both iobuf readers (blocking `FrameReader`, async `AsyncFrameReader`);
//!   codec-level cases run on the decoders.
//! - Property tests: a random decoder configuration, a random byte stream,
//!   a random split into reads with pending reads, an end of stream (or an
//!   I/O error) anywhere; `FramedRead` and both readers must agree, and
//!   every pooled buffer must be home afterwards. `IOBUF_CONFORMANCE_CASES`
//!   sets the cases per property (default 48; CI runs more in release).
//!
//! Error kinds are compared after the deliberate differences (module docs
//! of `iobuf::frame`): tokio-util's `Other` ("bytes remaining on stream")
//! is `UnexpectedEof` here, its `InvalidInput` for an adjusted length out of
//! range is `InvalidData`, and where it hands out a length-delimited frame
//! that consumes no byte (forever), iobuf gives `InvalidData`.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use iobuf::frame::{
    AsyncFrameReader, AsyncFrameWriter, Decoded, Decoder, FrameReader, FrameWriter,
    LengthDelimited, Lines, Pools,
};
use iobuf::{MediumBufferPool, MicroBufferPool};
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{
    FramedRead, LengthDelimitedCodec, LinesCodec, LinesCodecError, length_delimited,
};

// ===== Scripted sources =====

/// One step of a source: bytes (handed out over as many reads as the
/// reader's room needs), or a read that would wait.
#[derive(Clone, Debug)]
enum Op {
    Data(Vec<u8>),
    Pending,
}

/// How a source ends once its ops are done.
#[derive(Clone, Copy, Debug)]
enum End {
    Eof,
    Error,
}

#[derive(Clone, Debug)]
struct Script {
    ops: VecDeque<Op>,
    end: End,
}

fn script(ops: impl IntoIterator<Item = Op>) -> Script {
    Script {
        ops: ops.into_iter().collect(),
        end: End::Eof,
    }
}

fn data(bytes: &[u8]) -> Op {
    Op::Data(bytes.to_vec())
}

impl Script {
    /// The next read into `room` bytes: `Some(n)` bytes, `None` pending.
    fn next(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        match self.ops.pop_front() {
            Some(Op::Data(bytes)) => {
                let n = bytes.len().min(out.len());
                out[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.ops.push_front(Op::Data(bytes[n..].to_vec()));
                }
                Ok(Some(n))
            }
            Some(Op::Pending) => Ok(None),
            None => match self.end {
                End::Eof => Ok(Some(0)),
                End::Error => Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
            },
        }
    }
}

impl AsyncRead for Script {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut room = vec![0; buf.remaining()];
        match self.get_mut().next(&mut room)? {
            Some(n) => {
                buf.put_slice(&room[..n]);
                Poll::Ready(Ok(()))
            }
            None => Poll::Pending,
        }
    }
}

/// The blocking side: a pending read is `WouldBlock`.
impl Read for Script {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.next(out)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::WouldBlock))
    }
}

// ===== What a reader did =====

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Frame(Vec<u8>),
    Pending,
    Err(io::ErrorKind),
    End,
}

/// Events past which a run counts as endless.
const RUNAWAY: usize = 20_000;

fn run_tokio_util<C>(codec: C, src: Script, kind: fn(&C::Error) -> io::ErrorKind) -> Vec<Ev>
where
    C: tokio_util::codec::Decoder + Unpin,
    C::Item: AsRef<[u8]>,
{
    let mut framed = FramedRead::new(src, codec);
    let mut cx = Context::from_waker(Waker::noop());
    let mut evs = Vec::new();
    while evs.len() < RUNAWAY {
        match Pin::new(&mut framed).poll_next(&mut cx) {
            Poll::Pending => evs.push(Ev::Pending),
            Poll::Ready(Some(Ok(f))) => evs.push(Ev::Frame(f.as_ref().to_vec())),
            Poll::Ready(Some(Err(e))) => {
                evs.push(Ev::Err(kind(&e)));
                break;
            }
            Poll::Ready(None) => {
                evs.push(Ev::End);
                break;
            }
        }
    }
    evs
}

/// The pools both iobuf readers take from: 512-byte read-ahead buffers
/// (frames straddle them often) and an 8 KiB tier for larger frames.
struct Tiers {
    micro: Arc<MicroBufferPool>,
    medium: Arc<MediumBufferPool>,
}

impl Tiers {
    fn new() -> Tiers {
        Tiers {
            micro: Arc::new(MicroBufferPool::new(4).unwrap()),
            medium: Arc::new(MediumBufferPool::new(4).unwrap()),
        }
    }
    fn pools(&self) -> Pools {
        Pools::new(self.micro.clone()).with(self.medium.clone())
    }
    fn assert_home(&self) {
        assert_eq!(
            (self.micro.available(), self.medium.available()),
            (4, 4),
            "a buffer is not home"
        );
    }
}

fn run_blocking<D: Decoder>(
    decoder: D,
    src: Script,
    mut each: impl FnMut(&mut FrameReader<Script, D>, &Ev),
) -> Vec<Ev> {
    let tiers = Tiers::new();
    let mut reader = FrameReader::new(src, decoder, tiers.pools()).unwrap();
    let mut evs = Vec::new();
    while evs.len() < RUNAWAY {
        let ev = match reader.read_frame() {
            Ok(Some(f)) => Ev::Frame(f.to_vec()),
            Ok(None) => Ev::End,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ev::Pending,
            Err(e) => Ev::Err(e.kind()),
        };
        each(&mut reader, &ev);
        let last = matches!(ev, Ev::End | Ev::Err(_));
        evs.push(ev);
        if last {
            break;
        }
    }
    drop(reader);
    tiers.assert_home();
    evs
}

fn run_async<D: Decoder + Unpin>(
    decoder: D,
    src: Script,
    mut each: impl FnMut(&mut AsyncFrameReader<Script, D>, &Ev),
) -> Vec<Ev> {
    let tiers = Tiers::new();
    let mut reader = AsyncFrameReader::new(src, decoder, tiers.pools()).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut evs = Vec::new();
    while evs.len() < RUNAWAY {
        // Through `Stream`, as `StreamExt::next` polls it.
        let ev = match Pin::new(&mut reader).poll_next(&mut cx) {
            Poll::Pending => Ev::Pending,
            Poll::Ready(Some(Ok(f))) => Ev::Frame(f.to_vec()),
            Poll::Ready(Some(Err(e))) => Ev::Err(e.kind()),
            Poll::Ready(None) => Ev::End,
        };
        each(&mut reader, &ev);
        let last = matches!(ev, Ev::End | Ev::Err(_));
        evs.push(ev);
        if last {
            break;
        }
    }
    drop(reader);
    tiers.assert_home();
    evs
}

/// tokio-util's events as iobuf gives them (the module docs' mapping).
/// For a length-delimited `src`, `ld` is its configuration: a frame of
/// `n` bytes consumed `num_skip + n` of them, so an end that leaves bytes
/// of `src` unconsumed is a frame cut short (tokio-util ends cleanly there
/// when the stream stops right after a header; iobuf: `UnexpectedEof`).
fn as_iobuf(evs: Vec<Ev>, ld: Option<LdCfg>, src: &Script) -> Vec<Ev> {
    let skip = ld.map(|c| c.num_skip.unwrap_or(c.offset + c.width));
    let delivered: usize = (src.ops.iter())
        .map(|op| match op {
            Op::Data(d) => d.len(),
            Op::Pending => 0,
        })
        .sum();
    let mut consumed = 0;
    let mut out = Vec::new();
    for ev in evs {
        match ev {
            Ev::Frame(f) if skip == Some(0) && f.is_empty() => {
                out.push(Ev::Err(io::ErrorKind::InvalidData));
                break;
            }
            Ev::Frame(f) => {
                consumed += skip.unwrap_or(0) + f.len();
                out.push(Ev::Frame(f));
            }
            Ev::End if skip.is_some() && consumed < delivered && matches!(src.end, End::Eof) => {
                out.push(Ev::Err(io::ErrorKind::UnexpectedEof));
            }
            Ev::Err(io::ErrorKind::Other) => out.push(Ev::Err(io::ErrorKind::UnexpectedEof)),
            Ev::Err(io::ErrorKind::InvalidInput) => out.push(Ev::Err(io::ErrorKind::InvalidData)),
            ev => out.push(ev),
        }
    }
    out
}

// ===== Configurations =====

#[derive(Clone, Copy, Debug)]
struct LdCfg {
    offset: usize,
    width: usize,
    little: bool,
    adjustment: isize,
    num_skip: Option<usize>,
    max: usize,
}

impl Default for LdCfg {
    fn default() -> Self {
        LdCfg {
            offset: 0,
            width: 4,
            little: false,
            adjustment: 0,
            num_skip: None,
            max: 4096,
        }
    }
}

impl LdCfg {
    fn iobuf(&self) -> LengthDelimited {
        let mut b = LengthDelimited::builder()
            .length_field_offset(self.offset)
            .length_field_length(self.width)
            .length_adjustment(self.adjustment)
            .max_frame_length(self.max);
        if self.little {
            b = b.little_endian();
        }
        if let Some(n) = self.num_skip {
            b = b.num_skip(n);
        }
        b.new_codec()
    }
    fn tokio_util(&self) -> LengthDelimitedCodec {
        let mut b = length_delimited::Builder::new();
        b.length_field_offset(self.offset)
            .length_field_length(self.width)
            .length_adjustment(self.adjustment)
            .max_frame_length(self.max);
        if self.little {
            b.little_endian();
        }
        if let Some(n) = self.num_skip {
            b.num_skip(n);
        }
        b.new_codec()
    }
}

fn io_kind(e: &io::Error) -> io::ErrorKind {
    e.kind()
}

fn lines_kind(e: &LinesCodecError) -> io::ErrorKind {
    match e {
        LinesCodecError::MaxLineLengthExceeded => io::ErrorKind::InvalidData,
        LinesCodecError::Io(e) => e.kind(),
    }
}

/// Runs `src` through tokio-util and both iobuf readers; all three must
/// give `expected` (in iobuf's terms).
fn check_ld(cfg: LdCfg, src: Script, expected: &[Ev]) {
    let upstream = run_tokio_util(cfg.tokio_util(), src.clone(), io_kind);
    assert_eq!(as_iobuf(upstream, Some(cfg), &src), expected, "tokio-util");
    assert_eq!(
        run_blocking(cfg.iobuf(), src.clone(), |_, _| {}),
        expected,
        "blocking"
    );
    assert_eq!(run_async(cfg.iobuf(), src, |_, _| {}), expected, "async");
}

fn check_lines(max: Option<usize>, src: Script, expected: &[Ev]) {
    let (up, ours) = match max {
        Some(n) => (
            LinesCodec::new_with_max_length(n),
            Lines::new_with_max_length(n),
        ),
        None => (LinesCodec::new(), Lines::new()),
    };
    let upstream = run_tokio_util(up, src.clone(), lines_kind);
    assert_eq!(as_iobuf(upstream, None, &src), expected, "tokio-util");
    assert_eq!(
        run_blocking(ours.clone(), src.clone(), |_, _| {}),
        expected,
        "blocking"
    );
    assert_eq!(run_async(ours, src, |_, _| {}), expected, "async");
}

fn f(bytes: &[u8]) -> Ev {
    Ev::Frame(bytes.to_vec())
}

const P: Ev = Ev::Pending;
const E: Ev = Ev::End;

fn err(kind: io::ErrorKind) -> Ev {
    Ev::Err(kind)
}

// ===== tokio-util's tests/length_delimited.rs, read side =====

#[test]
fn read_empty_io_yields_nothing() {
    check_ld(LdCfg::default(), script([]), &[E]);
}

#[test]
fn read_single_frame_one_packet() {
    check_ld(
        LdCfg::default(),
        script([data(b"\x00\x00\x00\x09abcdefghi")]),
        &[f(b"abcdefghi"), E],
    );
}

#[test]
fn read_single_frame_one_packet_little_endian() {
    let cfg = LdCfg {
        little: true,
        ..LdCfg::default()
    };
    check_ld(
        cfg,
        script([data(b"\x09\x00\x00\x00abcdefghi")]),
        &[f(b"abcdefghi"), E],
    );
}

#[test]
fn read_single_frame_one_packet_native_endian() {
    let d: &[u8] = if cfg!(target_endian = "big") {
        b"\x00\x00\x00\x09abcdefghi"
    } else {
        b"\x09\x00\x00\x00abcdefghi"
    };
    let codec = LengthDelimited::builder()
        .native_endian()
        .max_frame_length(4096)
        .new_codec();
    let evs = run_blocking(codec, script([data(d)]), |_, _| {});
    assert_eq!(evs, [f(b"abcdefghi"), E]);
}

#[test]
fn read_single_multi_frame_one_packet() {
    let mut d = Vec::new();
    d.extend_from_slice(b"\x00\x00\x00\x09abcdefghi");
    d.extend_from_slice(b"\x00\x00\x00\x03123");
    d.extend_from_slice(b"\x00\x00\x00\x0bhello world");
    check_ld(
        LdCfg::default(),
        script([Op::Data(d)]),
        &[f(b"abcdefghi"), f(b"123"), f(b"hello world"), E],
    );
}

#[test]
fn read_single_frame_multi_packet() {
    check_ld(
        LdCfg::default(),
        script([data(b"\x00\x00"), data(b"\x00\x09abc"), data(b"defghi")]),
        &[f(b"abcdefghi"), E],
    );
}

#[test]
fn read_multi_frame_multi_packet() {
    check_ld(
        LdCfg::default(),
        script([
            data(b"\x00\x00"),
            data(b"\x00\x09abc"),
            data(b"defghi"),
            data(b"\x00\x00\x00\x0312"),
            data(b"3\x00\x00\x00\x0bhello world"),
        ]),
        &[f(b"abcdefghi"), f(b"123"), f(b"hello world"), E],
    );
}

#[test]
fn read_single_frame_multi_packet_wait() {
    check_ld(
        LdCfg::default(),
        script([
            data(b"\x00\x00"),
            Op::Pending,
            data(b"\x00\x09abc"),
            Op::Pending,
            data(b"defghi"),
            Op::Pending,
        ]),
        &[P, P, f(b"abcdefghi"), P, E],
    );
}

#[test]
fn read_multi_frame_multi_packet_wait() {
    check_ld(
        LdCfg::default(),
        script([
            data(b"\x00\x00"),
            Op::Pending,
            data(b"\x00\x09abc"),
            Op::Pending,
            data(b"defghi"),
            Op::Pending,
            data(b"\x00\x00\x00\x0312"),
            Op::Pending,
            data(b"3\x00\x00\x00\x0bhello world"),
            Op::Pending,
        ]),
        &[
            P,
            P,
            f(b"abcdefghi"),
            P,
            P,
            f(b"123"),
            f(b"hello world"),
            P,
            E,
        ],
    );
}

#[test]
fn read_incomplete_head() {
    // Upstream: an error (`Other`); here `UnexpectedEof`.
    check_ld(
        LdCfg::default(),
        script([data(b"\x00\x00")]),
        &[err(io::ErrorKind::UnexpectedEof)],
    );
}

#[test]
fn read_incomplete_head_multi() {
    check_ld(
        LdCfg::default(),
        script([Op::Pending, data(b"\x00"), Op::Pending]),
        &[P, P, err(io::ErrorKind::UnexpectedEof)],
    );
}

#[test]
fn read_incomplete_payload() {
    check_ld(
        LdCfg::default(),
        script([
            data(b"\x00\x00\x00\x09ab"),
            Op::Pending,
            data(b"cd"),
            Op::Pending,
        ]),
        &[P, P, err(io::ErrorKind::UnexpectedEof)],
    );
}

#[test]
fn read_max_frame_len() {
    let cfg = LdCfg {
        max: 5,
        ..LdCfg::default()
    };
    check_ld(
        cfg,
        script([data(b"\x00\x00\x00\x09abcdefghi")]),
        &[err(io::ErrorKind::InvalidData)],
    );
}

#[test]
fn read_update_max_frame_len_at_rest() {
    let src = script([
        data(b"\x00\x00\x00\x09abcdefghi"),
        data(b"\x00\x00\x00\x09abcdefghi"),
    ]);
    let expected = [f(b"abcdefghi"), err(io::ErrorKind::InvalidData)];
    // Upstream, with `decoder_mut` after the first frame.
    let mut framed = FramedRead::new(src.clone(), LengthDelimitedCodec::new());
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Some(Ok(first))) = Pin::new(&mut framed).poll_next(&mut cx) else {
        panic!("tokio-util: no first frame");
    };
    assert_eq!(&first[..], b"abcdefghi");
    framed.decoder_mut().set_max_frame_length(5);
    let Poll::Ready(Some(Err(e))) = Pin::new(&mut framed).poll_next(&mut cx) else {
        panic!("tokio-util: no error");
    };
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let cfg = LdCfg::default();
    let lower = |n: usize, ev: &Ev| n == 0 && matches!(ev, Ev::Frame(_));
    let mut frames = 0;
    let evs = run_blocking(cfg.iobuf(), src.clone(), |r, ev| {
        if lower(frames, ev) {
            r.decoder_mut().set_max_frame_length(5);
        }
        frames += 1;
    });
    assert_eq!(evs, expected, "blocking");
    let mut frames = 0;
    let evs = run_async(cfg.iobuf(), src, |r, ev| {
        if lower(frames, ev) {
            r.decoder_mut().set_max_frame_length(5);
        }
        frames += 1;
    });
    assert_eq!(evs, expected, "async");
}

#[test]
fn read_update_max_frame_len_in_flight() {
    let src = script([
        data(b"\x00\x00\x00\x09abcd"),
        Op::Pending,
        data(b"efghi"),
        data(b"\x00\x00\x00\x09abcdefghi"),
    ]);
    let expected = [P, f(b"abcdefghi"), err(io::ErrorKind::InvalidData)];
    let mut framed = FramedRead::new(src.clone(), LengthDelimitedCodec::new());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut framed).poll_next(&mut cx).is_pending());
    framed.decoder_mut().set_max_frame_length(5);
    let Poll::Ready(Some(Ok(first))) = Pin::new(&mut framed).poll_next(&mut cx) else {
        panic!("tokio-util: the frame in flight was rejected");
    };
    assert_eq!(&first[..], b"abcdefghi");
    assert!(matches!(
        Pin::new(&mut framed).poll_next(&mut cx),
        Poll::Ready(Some(Err(_)))
    ));
    // The maximum lowered while the frame is in flight: it applies from
    // the next frame.
    let set = |ev: &Ev| *ev == Ev::Pending;
    let evs = run_blocking(LdCfg::default().iobuf(), src.clone(), |r, ev| {
        if set(ev) {
            r.decoder_mut().set_max_frame_length(5);
        }
    });
    assert_eq!(evs, expected, "blocking");
    let evs = run_async(LdCfg::default().iobuf(), src, |r, ev| {
        if set(ev) {
            r.decoder_mut().set_max_frame_length(5);
        }
    });
    assert_eq!(evs, expected, "async");
}

#[test]
fn read_one_byte_length_field() {
    let cfg = LdCfg {
        width: 1,
        ..LdCfg::default()
    };
    check_ld(cfg, script([data(b"\x09abcdefghi")]), &[f(b"abcdefghi"), E]);
}

#[test]
fn read_header_offset() {
    let cfg = LdCfg {
        width: 2,
        offset: 4,
        ..LdCfg::default()
    };
    check_ld(
        cfg,
        script([data(b"zzzz\x00\x09abcdefghi")]),
        &[f(b"abcdefghi"), E],
    );
}

#[test]
fn read_single_multi_frame_one_packet_skip_none_adjusted() {
    let mut d = Vec::new();
    d.extend_from_slice(b"xx\x00\x09abcdefghi");
    d.extend_from_slice(b"yy\x00\x03123");
    d.extend_from_slice(b"zz\x00\x0bhello world");
    let cfg = LdCfg {
        width: 2,
        offset: 2,
        num_skip: Some(0),
        adjustment: 4,
        ..LdCfg::default()
    };
    check_ld(
        cfg,
        script([Op::Data(d)]),
        &[
            f(b"xx\x00\x09abcdefghi"),
            f(b"yy\x00\x03123"),
            f(b"zz\x00\x0bhello world"),
            E,
        ],
    );
}

#[test]
fn read_single_frame_length_adjusted() {
    // `num_skip(4)` past a 3-byte field: the length counts from there.
    let cfg = LdCfg {
        width: 3,
        num_skip: Some(4),
        ..LdCfg::default()
    };
    check_ld(
        cfg,
        script([data(b"\x00\x00\x0b\x0cHello world")]),
        &[f(b"Hello world"), E],
    );
}

#[test]
fn read_single_multi_frame_one_packet_length_includes_head() {
    let mut d = Vec::new();
    d.extend_from_slice(b"\x00\x0babcdefghi");
    d.extend_from_slice(b"\x00\x05123");
    d.extend_from_slice(b"\x00\x0dhello world");
    let cfg = LdCfg {
        width: 2,
        adjustment: -2,
        ..LdCfg::default()
    };
    check_ld(
        cfg,
        script([Op::Data(d)]),
        &[f(b"abcdefghi"), f(b"123"), f(b"hello world"), E],
    );
}

// ===== tokio-util's tests/length_delimited.rs, codec and write side =====

/// A frame as tokio-util's encoder writes it (the field alone, no offset):
/// `encode_header` then the payload, through a `FrameWriter`.
fn encoded(codec: &LengthDelimited, payload: &'static [u8]) -> io::Result<Vec<u8>> {
    let mut header = [0; 8];
    let n = codec.encode_header(payload.len(), &mut header)?;
    let mut out = FrameWriter::new(Vec::new());
    out.feed(bytes::Bytes::copy_from_slice(&header[..n]));
    out.feed(payload);
    out.flush()?;
    Ok(out.into_inner())
}

#[test]
fn write_single_frame_length_adjusted() {
    let codec = LengthDelimited::builder().length_adjustment(-2).new_codec();
    assert_eq!(
        encoded(&codec, b"abcdefghi").unwrap(),
        b"\x00\x00\x00\x0babcdefghi"
    );
}

#[test]
fn write_single_frame_one_packet_and_multi_frame() {
    let codec = LengthDelimited::new();
    let mut all = Vec::new();
    for p in [&b"abcdefghi"[..], b"123", b"hello world"] {
        all.extend(encoded(&codec, p).unwrap());
    }
    assert_eq!(
        all,
        b"\x00\x00\x00\x09abcdefghi\x00\x00\x00\x03123\x00\x00\x00\x0bhello world"
    );
}

#[test]
fn write_single_frame_little_endian() {
    let codec = LengthDelimited::builder().little_endian().new_codec();
    assert_eq!(
        encoded(&codec, b"abcdefghi").unwrap(),
        b"\x09\x00\x00\x00abcdefghi"
    );
}

#[test]
fn write_single_frame_with_short_length_field() {
    let codec = LengthDelimited::builder()
        .length_field_length(1)
        .new_codec();
    assert_eq!(encoded(&codec, b"abcdefghi").unwrap(), b"\x09abcdefghi");
}

#[test]
fn write_max_frame_len_and_update_at_rest() {
    let codec = LengthDelimited::builder().max_frame_length(5).new_codec();
    let e = encoded(&codec, b"abcdef").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let mut codec = LengthDelimited::new();
    assert_eq!(
        encoded(&codec, b"abcdef").unwrap(),
        b"\x00\x00\x00\x06abcdef"
    );
    codec.set_max_frame_length(5);
    assert_eq!(
        encoded(&codec, b"abcdef").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn write_nothing_yields_nothing_and_write_zero() {
    let mut out = FrameWriter::new(Vec::new());
    out.flush().unwrap();
    assert!(out.get_ref().is_empty());
    // A destination that takes no byte.
    let mut out = FrameWriter::new(&mut [][..]);
    out.feed(&b"abcdef"[..]);
    assert_eq!(out.flush().unwrap_err().kind(), io::ErrorKind::WriteZero);
}

#[test]
fn write_single_frame_would_block() {
    /// Pending, 2 bytes, pending, then everything.
    struct Slow(Vec<u8>, usize);
    impl tokio::io::AsyncWrite for Slow {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.1 += 1;
            let n = match self.1 {
                1 | 3 => return Poll::Pending,
                2 => 2,
                _ => b.len(),
            };
            self.0.extend_from_slice(&b[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
    let mut out = AsyncFrameWriter::new(Slow(Vec::new(), 0));
    out.feed(&b"\x00\x00\x00\x09"[..]);
    out.feed(&b"abcdefghi"[..]);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(out.poll_flush(&mut cx).is_pending());
    assert!(out.poll_flush(&mut cx).is_pending());
    assert!(matches!(out.poll_flush(&mut cx), Poll::Ready(Ok(()))));
    assert_eq!(out.get_ref().0, b"\x00\x00\x00\x09abcdefghi");
}

#[test]
fn frame_does_not_fit() {
    let codec = LengthDelimited::builder()
        .length_field_length(1)
        .max_frame_length(256)
        .new_codec();
    assert_eq!(codec.max_frame_length(), 255);
}

#[test]
fn runtime_max_frame_len_respects_length_field() {
    for (adjustment, max) in [(-1, 254), (0, 255), (1, 256)] {
        let mut codec = LengthDelimited::builder()
            .length_field_length(1)
            .length_adjustment(adjustment)
            .new_codec();
        codec.set_max_frame_length(1_000);
        assert_eq!(codec.max_frame_length(), max);
        let mut header = [0; 1];
        codec.encode_header(max, &mut header).unwrap();
        assert_eq!(header[0], u8::MAX);
        let e = codec.encode_header(max + 1, &mut header).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}

#[test]
fn neg_and_pos_adjusted_frame_does_not_fit() {
    let b = LengthDelimited::builder().length_field_length(1);
    assert_eq!(b.length_adjustment(-1).new_codec().max_frame_length(), 254);
    assert_eq!(b.length_adjustment(1).new_codec().max_frame_length(), 256);
}

#[test]
fn max_allowed_frame_fits_and_smaller_not_adjusted() {
    let b = LengthDelimited::builder().length_field_length(size_of::<usize>());
    assert_eq!(
        b.max_frame_length(usize::MAX)
            .new_codec()
            .max_frame_length(),
        usize::MAX
    );
    assert_eq!(b.max_frame_length(10).new_codec().max_frame_length(), 10);
    let b = LengthDelimited::builder().length_field_length(8);
    assert_eq!(
        b.max_frame_length(usize::MAX)
            .new_codec()
            .max_frame_length(),
        usize::MAX
    );
}

// ===== The issue's cases, beyond upstream's tests =====

#[test]
fn num_skip_counts_the_length_after_the_skipped_bytes() {
    // `\0\0\x0b\x0cHello world` with a 3-byte field and num_skip(4): all of
    // "Hello world" (iobuf used to end the frame one byte early).
    let mut d = LengthDelimited::builder()
        .length_field_length(3)
        .num_skip(4)
        .new_codec();
    assert_eq!(
        d.decode(b"\0\0\x0b\x0cHello world").unwrap(),
        Decoded::Frame {
            frame: 4..15,
            consumed: 15
        }
    );
}

#[test]
fn a_stream_that_ends_right_after_a_header_is_unexpected_eof() {
    // tokio-util ends cleanly here (its header is consumed, its buffer
    // empty), losing the frame cut short without a word: a deliberate
    // difference.
    let src = script([data(b"\x00\x00\x00\x09")]);
    let upstream = run_tokio_util(LengthDelimitedCodec::new(), src.clone(), io_kind);
    assert_eq!(upstream, [E]);
    let cfg = LdCfg::default();
    let expected = [err(io::ErrorKind::UnexpectedEof)];
    assert_eq!(as_iobuf(upstream, Some(cfg), &src), expected);
    assert_eq!(run_blocking(cfg.iobuf(), src.clone(), |_, _| {}), expected);
    assert_eq!(run_async(cfg.iobuf(), src, |_, _| {}), expected);
}

#[test]
fn no_width_offset_adjustment_maximum_or_length_panics() {
    let wires: [&[u8]; 4] = [
        &[0xff; 24],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3],
        &[0, 0, 0, 0, 0, 0, 0, 0, 9],
        &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ];
    for width in 1..=8 {
        for offset in [0, 1, usize::MAX - 8, usize::MAX] {
            for adjustment in [isize::MIN, -9, -1, 0, 1, 9, isize::MAX] {
                for num_skip in [None, Some(0), Some(3), Some(usize::MAX)] {
                    for max in [0, 10, usize::MAX] {
                        let mut b = LengthDelimited::builder()
                            .length_field_length(width)
                            .length_field_offset(offset)
                            .length_adjustment(adjustment)
                            .max_frame_length(max);
                        if let Some(n) = num_skip {
                            b = b.num_skip(n);
                        }
                        for wire in wires {
                            let mut d = b.new_codec();
                            for cut in 0..=wire.len() {
                                match d.decode(&wire[..cut]) {
                                    Ok(Decoded::Frame { frame, consumed }) => {
                                        assert!(frame.start <= frame.end);
                                        assert!(frame.end <= consumed && consumed <= cut);
                                        assert!(consumed > 0);
                                        d = b.new_codec();
                                    }
                                    Ok(Decoded::Incomplete(Some(n))) => assert!(n > cut),
                                    Ok(_) => {}
                                    Err(e) => {
                                        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                                        d = b.new_codec();
                                    }
                                }
                            }
                            let _ = d.max_buffered_len();
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn an_eight_byte_length_near_u64_max_with_no_limit_is_invalid_data_on_both_readers() {
    // `max_frame_length(usize::MAX)` ("no limit"): the length is checked
    // against the largest buffer, never added up past `usize::MAX`.
    let cfg = LdCfg {
        width: 8,
        max: usize::MAX,
        adjustment: 16,
        ..LdCfg::default()
    };
    let wire = b"\xff\xff\xff\xff\xff\xff\xff\xf8payload-and-more-bytes".to_vec();
    let expected = [err(io::ErrorKind::InvalidData)];
    assert_eq!(
        run_blocking(cfg.iobuf(), script([Op::Data(wire.clone())]), |_, _| {}),
        expected
    );
    assert_eq!(
        run_async(cfg.iobuf(), script([Op::Data(wire)]), |_, _| {}),
        expected
    );
    // `Lines::new()` (no maximum) takes a line that arrives over many reads.
    let text = b"a line that comes in many reads\n";
    let chunks = text.chunks(3).map(data);
    let evs = run_blocking(Lines::new(), script(chunks), |_, _| {});
    assert_eq!(evs, [f(&text[..text.len() - 1]), E]);
}

// ===== tokio-util's LinesCodec tests (tests/codecs.rs) =====

/// A growing buffer and a decoder, driven as the reader drives it: a skip
/// drops bytes and decodes again, a frame is cut from the front.
struct Fed<D> {
    buf: Vec<u8>,
    decoder: D,
}

impl<D: Decoder> Fed<D> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    fn next(&mut self, eof: bool) -> io::Result<Option<Vec<u8>>> {
        loop {
            if self.buf.is_empty() {
                return Ok(None);
            }
            let decoded = if eof {
                self.decoder.decode_eof(&self.buf)?
            } else {
                self.decoder.decode(&self.buf)?
            };
            match decoded {
                Decoded::Frame { frame, consumed } => {
                    let out = self.buf[frame].to_vec();
                    self.buf.drain(..consumed);
                    return Ok(Some(out));
                }
                Decoded::Skip(n) => drop(self.buf.drain(..n)),
                Decoded::Incomplete(_) => return Ok(None),
                other => panic!("{other:?}"),
            }
        }
    }
    fn decode(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.next(false)
    }
    fn decode_eof(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.next(true)
    }
}

fn lines(max: Option<usize>) -> Fed<Lines> {
    Fed {
        buf: Vec::new(),
        decoder: max.map_or_else(Lines::new, Lines::new_with_max_length),
    }
}

fn some(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

#[test]
fn lines_decoder() {
    let mut c = lines(None);
    c.put(b"line 1\nline 2\r\nline 3\n\r\n\r");
    assert_eq!(c.decode().unwrap(), some("line 1"));
    assert_eq!(c.decode().unwrap(), some("line 2"));
    assert_eq!(c.decode().unwrap(), some("line 3"));
    assert_eq!(c.decode().unwrap(), some(""));
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), None);
    // Upstream keeps the lone `\r` that `decode_eof` passed over, and reads
    // "\rk" once "k" comes after the end of the stream; an iobuf reader
    // never reads after the end, so `decode_eof` drops it (`Skip`).
    assert!(c.buf.is_empty());
    c.put(b"\rk");
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), some("\rk"));
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), None);
}

#[test]
fn lines_decoder_invalid_utf8_is_bytes_here() {
    // Upstream: an error at `decode_eof`; iobuf's frames are bytes (a
    // deliberate difference), so the line comes out as it is.
    let mut c = lines(None);
    c.put(b"line 1\xc3\x28");
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), Some(b"line 1\xc3\x28".to_vec()));
    c.put(b"line 22222222222222\n");
    assert_eq!(c.decode().unwrap(), some("line 22222222222222"));
}

#[test]
fn lines_decoder_max_length() {
    const MAX_LENGTH: usize = 6;
    let mut c = lines(Some(MAX_LENGTH));
    c.put(b"line 1 is too long\nline 2\nline 3\r\nline 4\n\r\n\r");
    assert!(c.decode().is_err());
    assert_eq!(c.decode().unwrap(), some("line 2"));
    // "line 3\r" is 7 bytes: the `\r` counts.
    assert!(c.decode().is_err());
    assert_eq!(c.decode().unwrap(), some("line 4"));
    assert_eq!(c.decode().unwrap(), some(""));
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), None);
    // Upstream keeps the lone `\r` that `decode_eof` passed over, and reads
    // "\rk" once "k" comes after the end of the stream; an iobuf reader
    // never reads after the end, so `decode_eof` drops it (`Skip`).
    assert!(c.buf.is_empty());
    c.put(b"\rk");
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), some("\rk"));
    assert_eq!(c.decode().unwrap(), None);
    assert_eq!(c.decode_eof().unwrap(), None);
    // One byte too long.
    c.put(b"aaabbbc");
    assert!(c.decode().is_err());
}

#[test]
fn lines_decoder_max_length_underrun() {
    let mut c = lines(Some(6));
    c.put(b"line ");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"too l");
    assert!(c.decode().is_err());
    c.put(b"ong\n");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"line 2");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"\n");
    assert_eq!(c.decode().unwrap(), some("line 2"));
}

#[test]
fn lines_decoder_max_length_bursts() {
    let mut c = lines(Some(10));
    c.put(b"line ");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"too l");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"ong\n");
    assert!(c.decode().is_err());
}

#[test]
fn lines_decoder_max_length_big_burst() {
    let mut c = lines(Some(10));
    c.put(b"line ");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"too long!\n");
    assert!(c.decode().is_err());
}

#[test]
fn lines_decoder_max_length_newline_between_decodes() {
    let mut c = lines(Some(5));
    c.put(b"hello");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"\nworld");
    assert_eq!(c.decode().unwrap(), some("hello"));
}

#[test]
fn lines_decoder_discard_repeat() {
    let mut c = lines(Some(1));
    c.put(b"aa");
    assert!(c.decode().is_err());
    c.put(b"a");
    assert_eq!(c.decode().unwrap(), None);
}

#[test]
fn lines_decoder_max_length_underrun_twice() {
    let mut c = lines(Some(11));
    c.put(b"line ");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"too very l");
    assert!(c.decode().is_err());
    c.put(b"aaaaaaaaaaaaaaaaaaaaaaa");
    assert_eq!(c.decode().unwrap(), None);
    c.put(b"ong\nshort\n");
    assert_eq!(c.decode().unwrap(), some("short"));
}

#[test]
fn lines_encoder() {
    let codec = Lines::new();
    let mut out = FrameWriter::new(Vec::new());
    for line in [&b"line 1"[..], b"line 2"] {
        for part in codec.encode(line).unwrap() {
            out.feed(part);
        }
    }
    out.flush().unwrap();
    assert_eq!(out.get_ref(), b"line 1\nline 2\n");
}

#[test]
fn lines_through_both_readers_and_framed_read() {
    let text = b"line 1\nline 2\r\nline 3\n\r\n\rk";
    let chunks: Vec<Op> = text.chunks(4).map(data).collect();
    check_lines(
        None,
        script(chunks),
        &[
            f(b"line 1"),
            f(b"line 2"),
            f(b"line 3"),
            f(b""),
            f(b"\rk"),
            E,
        ],
    );
    // Over the maximum: the error; FramedRead stops there, so the readers
    // are compared up to it (`lines_and_a_line_longer_than_a_buffer` in
    // tests/frame.rs shows iobuf going on after it).
    check_lines(
        Some(6),
        script([data(b"ok\nline 1 is too long\nline 2\n")]),
        &[f(b"ok"), err(io::ErrorKind::InvalidData)],
    );
    // A lone `\r` at the end is no line.
    check_lines(Some(6), script([data(b"a\n\r")]), &[f(b"a"), E]);
}

// ===== Property tests =====

fn cases() -> u32 {
    std::env::var("IOBUF_CONFORMANCE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

fn ld_cfg() -> impl Strategy<Value = LdCfg> {
    (
        0usize..=4,
        1usize..=8,
        any::<bool>(),
        -6isize..=6,
        prop_oneof![Just(None), (0usize..=8).prop_map(Some)],
        prop_oneof![3 => 0usize..=600, 1 => 601usize..=3000],
    )
        .prop_map(|(offset, width, little, adjustment, num_skip, max)| LdCfg {
            offset,
            width,
            little,
            adjustment,
            num_skip,
            max,
        })
}

/// Frames shaped by `cfg` (so that decoding gets past the first header),
/// with lengths near and past the maximum, and random bytes.
fn ld_wire(cfg: LdCfg) -> impl Strategy<Value = Vec<u8>> {
    let segment = (
        prop::collection::vec(any::<u8>(), cfg.offset),
        prop_oneof![
            6 => 0u64..=(cfg.max as u64 + 8),
            1 => any::<u64>(),
        ],
        prop_oneof![3 => Just(None), 1 => (0usize..40).prop_map(Some)],
        any::<u8>(),
    )
        .prop_map(move |(prefix, value, len, fill)| {
            let mut out = prefix;
            let value = if cfg.width == 8 {
                value
            } else {
                value & ((1u64 << (8 * cfg.width)) - 1)
            };
            let bytes = value.to_be_bytes();
            let mut field = bytes[8 - cfg.width..].to_vec();
            if cfg.little {
                field.reverse();
            }
            out.extend_from_slice(&field);
            let body = len.unwrap_or_else(|| {
                (value.min(4000) as isize + cfg.adjustment).clamp(0, 4000) as usize
            });
            out.extend((0..body).map(|i| fill.wrapping_add(i as u8)));
            out
        });
    prop::collection::vec(segment, 0..6).prop_map(|s| s.concat())
}

/// `wire`, cut at an end, split into reads with pending reads between.
fn split(wire: Vec<u8>) -> impl Strategy<Value = Script> {
    let len = wire.len();
    (
        prop_oneof![Just(len), 0..=len],
        prop::collection::vec((1usize..300, prop::bool::weighted(0.3)), 1..16),
        prop::bool::weighted(0.1),
    )
        .prop_map(move |(end, cuts, error)| {
            let mut ops = VecDeque::new();
            let (mut at, mut k) = (0, 0);
            while at < end {
                let (n, pending) = cuts[k % cuts.len()];
                let n = n.min(end - at);
                ops.push_back(Op::Data(wire[at..at + n].to_vec()));
                if pending {
                    ops.push_back(Op::Pending);
                }
                at += n;
                k += 1;
            }
            Script {
                ops,
                end: if error { End::Error } else { End::Eof },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn length_delimited_agrees_with_framed_read(
        (cfg, src) in ld_cfg().prop_flat_map(|cfg| (Just(cfg), ld_wire(cfg).prop_flat_map(split)))
    ) {
        let upstream = run_tokio_util(cfg.tokio_util(), src.clone(), io_kind);
        let expected = as_iobuf(upstream, Some(cfg), &src);
        prop_assert_eq!(&run_blocking(cfg.iobuf(), src.clone(), |_, _| {}), &expected);
        prop_assert_eq!(&run_async(cfg.iobuf(), src, |_, _| {}), &expected);
    }

    #[test]
    fn lines_agree_with_framed_read(
        max in prop_oneof![Just(None), (0usize..=30).prop_map(Some)],
        src in prop::collection::vec(prop::sample::select(&b"ab\r\n"[..]), 0..400)
            .prop_flat_map(split),
    ) {
        let (up, ours) = match max {
            Some(n) => (LinesCodec::new_with_max_length(n), Lines::new_with_max_length(n)),
            None => (LinesCodec::new(), Lines::new()),
        };
        let expected = as_iobuf(run_tokio_util(up, src.clone(), lines_kind), None, &src);
        prop_assert_eq!(&run_blocking(ours.clone(), src.clone(), |_, _| {}), &expected);
        prop_assert_eq!(&run_async(ours, src, |_, _| {}), &expected);
    }
}
