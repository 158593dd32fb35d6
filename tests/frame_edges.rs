//! The frame reader and writer at their edges: `Stream`/`Sink` with a slow
//! peer; the README's loop when a decoding error follows good frames; and
//! sources, destinations and pools that lie (each an `io::Error`, never a
//! panic, a hang or a byte the connection did not receive).

use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::{Sink, SinkExt, StreamExt};
use iobuf::frame::{
    AsyncFrameReader, AsyncFrameWriter, FrameReader, FrameWriter, LengthDelimited, Pools,
    SplitSource,
};
use iobuf::shared::{SplitBuf, View};
use iobuf::{LargeBufferPool, MicroBufferPool};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

/// A 4-byte big-endian length, then at most `max` bytes of payload.
fn ld(max: usize) -> LengthDelimited {
    LengthDelimited::builder().max_frame_length(max).new_codec()
}

/// Frames of the given lengths, each with its 4-byte header.
fn wire(lengths: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, n) in lengths.into_iter().enumerate() {
        out.extend_from_slice(&(n as u32).to_be_bytes());
        out.extend((0..n).map(|i| (k * 31 + i * 7) as u8));
    }
    out
}

// ===== Stream and Sink =====

/// A `Sink` over the frame writer that checks, at every frame, that
/// `poll_ready` left less than the high-water mark queued.
struct UnderTheMark<'a, W> {
    out: &'a mut AsyncFrameWriter<W>,
    mark: usize,
    most: usize,
}

impl<W: tokio::io::AsyncWrite + Unpin> Sink<View> for UnderTheMark<'_, W> {
    type Error = io::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let ready = Sink::<View>::poll_ready(Pin::new(&mut *self.out), cx);
        if let Poll::Ready(Ok(())) = ready {
            assert!(self.out.queued() < self.mark, "ready above the mark");
        }
        ready
    }
    fn start_send(mut self: Pin<&mut Self>, frame: View) -> io::Result<()> {
        Sink::<View>::start_send(Pin::new(&mut *self.out), frame)?;
        self.most = self.most.max(self.out.queued());
        Ok(())
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Sink::<View>::poll_flush(Pin::new(&mut *self.out), cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Sink::<View>::poll_close(Pin::new(&mut *self.out), cx)
    }
}

#[cfg_attr(miri, ignore = "tokio's timer and I/O driver under Miri")]
#[tokio::test]
async fn forward_echoes_to_a_slow_peer_under_the_high_water_mark() {
    const MARK: usize = 4096;
    let pool = Arc::new(LargeBufferPool::new(4).unwrap());
    // 512 bytes of pipe each way: the server's writes wait on the client.
    let (client, server) = tokio::io::duplex(512);
    let (srx, stx) = tokio::io::split(server);
    let server = tokio::spawn({
        let pool = pool.clone();
        async move {
            let codec = LengthDelimited::builder()
                .max_frame_length(64 * 1024)
                .length_adjustment(4)
                .num_skip(0)
                .new_codec();
            let frames = AsyncFrameReader::new(srx, codec, Pools::new(pool)).unwrap();
            let mut out = AsyncFrameWriter::new(stx).with_high_water_mark(MARK);
            let mut sink = UnderTheMark {
                out: &mut out,
                mark: MARK,
                most: 0,
            };
            frames.forward(&mut sink).await.unwrap();
            sink.most
        }
    });
    let bytes = wire((0..300).map(|k| (k * 131) % 2000));
    let (mut crx, mut ctx) = tokio::io::split(client);
    let writer = tokio::spawn({
        let bytes = bytes.clone();
        async move {
            ctx.write_all(&bytes).await.unwrap();
            ctx.shutdown().await.unwrap();
        }
    });
    // The slow peer: 100 bytes at a time, yielding between reads.
    let mut echoed = Vec::new();
    let mut chunk = [0; 100];
    loop {
        let n = crx.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        echoed.extend_from_slice(&chunk[..n]);
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let most = server.await.unwrap();
    assert_eq!(echoed, bytes, "the echo differs");
    assert!(
        most < MARK + 2004,
        "{most} bytes queued: above the mark plus one frame"
    );
    assert!(most > 0);
    assert_eq!(pool.available(), 4, "a buffer is not home");
}

#[cfg_attr(miri, ignore = "tokio's timer and I/O driver under Miri")]
#[tokio::test]
async fn send_all_waits_below_the_mark_and_the_stream_is_fused() {
    use futures_util::stream::FusedStream;
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    let bytes = wire([3, 4, 5]);
    let mut frames = AsyncFrameReader::new(&bytes[..], ld(500), Pools::new(pool.clone())).unwrap();
    let mut out = AsyncFrameWriter::new(Vec::new()).with_high_water_mark(4);
    let mut got = Vec::new();
    while let Some(frame) = frames.next().await {
        got.push(Ok::<View, io::Error>(frame.unwrap()));
    }
    assert!(frames.is_terminated());
    assert!(frames.next().await.is_none());
    out.send_all(&mut futures_util::stream::iter(got))
        .await
        .unwrap();
    assert_eq!(out.get_ref(), &payloads(&[3, 4, 5]));
    drop((frames, out));
    assert_eq!(pool.available(), 2);
}

/// The payloads of `wire(lengths)`, back to back.
fn payloads(lengths: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, &n) in lengths.iter().enumerate() {
        out.extend((0..n).map(|i| (k * 31 + i * 7) as u8));
    }
    out
}

// ===== The README's loop =====

#[cfg_attr(miri, ignore = "tokio's timer and I/O driver under Miri")]
#[tokio::test]
async fn the_readme_loop_loses_no_decoded_frame_when_the_next_is_an_error() {
    let pool = Arc::new(LargeBufferPool::new(2).unwrap());
    // Nine good frames, then a length above the maximum, in one read.
    let mut bytes = wire((1..=9).map(|k| k * 10));
    bytes.extend_from_slice(&[0, 1, 0, 0]);
    let codec = LengthDelimited::builder()
        .max_frame_length(1000)
        .length_adjustment(4)
        .num_skip(0)
        .new_codec();
    let mut frames = AsyncFrameReader::new(&bytes[..], codec, Pools::new(pool.clone())).unwrap();
    let mut out = AsyncFrameWriter::new(Vec::new());
    let result: io::Result<()> = async {
        // The README's loop, as it is written there.
        while let Some(frame) = frames.read_frame().await? {
            out.feed(frame);
            let mut next = frames.next_buffered();
            while let Ok(Some(more)) = next {
                out.feed(more);
                next = frames.next_buffered();
            }
            out.flush().await?;
            next?;
        }
        Ok(())
    }
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert_eq!(
        out.get_ref()[..],
        bytes[..bytes.len() - 4],
        "the nine frames before the error were not all written"
    );
    drop((frames, out));
    assert_eq!(pool.available(), 2);
}

// ===== Sources, destinations and pools that lie =====

/// Reports `claim` bytes read, writing none.
struct Overclaims {
    claim: usize,
}

impl Read for Overclaims {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        Ok(out.len() + self.claim)
    }
}

/// Puts a secret in a buffer of `pool` and sends it home, so the next
/// buffer taken may hold it.
fn leave_a_secret(pool: &Arc<MicroBufferPool>) {
    let mut held = Vec::new();
    while let Ok(mut buf) = pool.try_get_owned() {
        buf[..19].copy_from_slice(b"\0\0\0\x0fSECRET-PASSWORD");
        held.push(buf);
    }
}

#[test]
fn a_source_that_reports_more_bytes_than_it_was_given_is_an_error() {
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    leave_a_secret(&pool);
    let mut reader =
        FrameReader::new(Overclaims { claim: 1 }, ld(500), Pools::new(pool.clone())).unwrap();
    let err = reader.read_frame().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(
        reader.read_frame().unwrap().is_none(),
        "the reader stays ended"
    );
    drop(reader);
    assert_eq!(pool.available(), 2);
}

/// Swaps in a `ReadBuf` of its own, reporting 19 bytes (as safe code can).
struct SwapsReadBuf;

impl AsyncRead for SwapsReadBuf {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let other: &'static mut [u8] = Box::leak(vec![0; 64].into_boxed_slice());
        *buf = ReadBuf::new(other);
        buf.advance(19);
        Poll::Ready(Ok(()))
    }
}

#[test]
fn an_async_read_that_replaces_its_read_buf_is_an_error_and_leaks_no_byte() {
    let pool = Arc::new(MicroBufferPool::new(2).unwrap());
    leave_a_secret(&pool);
    let mut reader =
        AsyncFrameReader::new(SwapsReadBuf, ld(500), Pools::new(pool.clone())).unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let got = std::pin::pin!(reader.read_frame()).as_mut().poll(&mut cx);
    match got {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}"),
        Poll::Ready(Ok(Some(frame))) => panic!("a frame of bytes never read: {:?}", &frame[..]),
        other => panic!("{other:?}"),
    }
    drop(reader);
    assert_eq!(pool.available(), 2);
}

/// Reports one byte more than it was given, over all the slices.
struct OverclaimsWrites;

impl Write for OverclaimsWrites {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(data.len() + 1)
    }
    fn write_vectored(&mut self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(slices.iter().map(|s| s.len()).sum::<usize>() + 1)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_destination_that_reports_more_written_than_given_is_an_error() {
    // Two frames (one slice each), and one frame (the writer's one-slice
    // path, as for the joined frames of one read).
    for frames in [&[&b"one"[..], &b"two"[..]][..], &[&b"one"[..]][..]] {
        let mut out = FrameWriter::new(OverclaimsWrites);
        for &frame in frames {
            out.feed(frame);
        }
        let err = out.flush().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert_eq!(
            out.queued(),
            3 * frames.len(),
            "no frame was taken as written"
        );
    }
}

/// Claims 4 KiB buffers and hands out 512-byte ones.
struct Lies(Arc<MicroBufferPool>);

impl SplitSource for Lies {
    fn buffer_size(&self) -> usize {
        4096
    }
    fn try_take(&self) -> Option<SplitBuf> {
        self.0.try_take()
    }
    fn take_blocking(&self) -> SplitBuf {
        self.0.take_blocking()
    }
    fn take_async(&self) -> Pin<Box<dyn Future<Output = SplitBuf> + Send + 'static>> {
        self.0.take_async()
    }
}

#[test]
fn a_split_source_whose_buffer_size_lies_is_an_error() {
    let pool = Arc::new(MicroBufferPool::new(4).unwrap());
    let bytes = wire([100, 700, 5]);
    let mut reader =
        FrameReader::new(&bytes[..], ld(1000), Pools::new(Lies(pool.clone()))).unwrap();
    assert_eq!(reader.read_frame().unwrap().unwrap().len(), 100);
    let err = reader.read_frame().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other, "{err}");
    assert!(err.to_string().contains("buffer_size"), "{err}");
    drop(reader);
    assert_eq!(pool.available(), 4);
}

// ===== The end of the stream =====

/// Gives its chunks one per read, then reports the end once; a read after
/// that is a bug of the reader (a terminal, a pipe or a socket would block
/// there, or hand over bytes that belong to nothing).
struct EndsOnce {
    chunks: Vec<&'static [u8]>,
    ended: bool,
}

impl EndsOnce {
    fn new(chunks: &[&'static [u8]]) -> EndsOnce {
        EndsOnce {
            chunks: chunks.iter().rev().copied().collect(),
            ended: false,
        }
    }

    fn next(&mut self, into: &mut [u8]) -> usize {
        assert!(!self.ended, "read again after the source reported its end");
        match self.chunks.pop() {
            Some(chunk) => {
                into[..chunk.len()].copy_from_slice(chunk);
                chunk.len()
            }
            None => {
                self.ended = true;
                0
            }
        }
    }
}

impl Read for EndsOnce {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        Ok(self.next(into))
    }
}

impl AsyncRead for EndsOnce {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.get_mut().next(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// A source's chunks, and the frames it must give.
type Ending = (Vec<&'static [u8]>, Vec<&'static [u8]>);

/// Sources ending with bytes that only `decode_eof` turns into frames (an
/// unterminated last line, a lone `\r`), and what each must give.
fn endings() -> Vec<Ending> {
    vec![
        (vec![b"a\nb"], vec![b"a", b"b"]),
        (vec![b"a\n", b"bc"], vec![b"a", b"bc"]),
        (vec![b"a\r\n\r"], vec![b"a"]),
        (vec![b"a\n"], vec![b"a"]),
        (vec![], vec![]),
    ]
}

#[test]
fn the_source_is_not_read_after_it_reported_its_end() {
    for (chunks, want) in endings() {
        let pool = Arc::new(MicroBufferPool::new(2).unwrap());
        let source = EndsOnce::new(&chunks);
        let mut reader =
            FrameReader::new(source, iobuf::frame::Lines::new(), Pools::new(pool.clone())).unwrap();
        let mut got = Vec::new();
        while let Some(frame) = reader.read_frame().unwrap() {
            got.push(frame.to_vec());
        }
        assert_eq!(got, want, "{chunks:?}");
        assert!(reader.read_frame().unwrap().is_none(), "stays ended");
        drop(reader);
        assert_eq!(pool.available(), 2, "{chunks:?}");
    }
}

#[cfg_attr(miri, ignore = "tokio's runtime under Miri")]
#[tokio::test]
async fn the_async_source_is_not_read_after_it_reported_its_end() {
    for (chunks, want) in endings() {
        let pool = Arc::new(MicroBufferPool::new(2).unwrap());
        let source = EndsOnce::new(&chunks);
        let mut reader =
            AsyncFrameReader::new(source, iobuf::frame::Lines::new(), Pools::new(pool.clone()))
                .unwrap();
        let mut got = Vec::new();
        while let Some(frame) = reader.read_frame().await.unwrap() {
            got.push(frame.to_vec());
        }
        assert_eq!(got, want, "{chunks:?}");
        assert!(reader.read_frame().await.unwrap().is_none(), "stays ended");
        drop(reader);
        assert_eq!(pool.available(), 2, "{chunks:?}");
    }
}
