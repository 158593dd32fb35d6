//! The frame reader and writer over tokio's `AsyncRead`/`AsyncWrite`
//! (feature `tokio`).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::decode::Decoder;
use super::pools::{Pools, Wait};
use super::read::{Core, Step};
use super::write::{Outgoing, Queue, write_zero};
use crate::shared::View;

/// [`FrameReader`](super::FrameReader) over a tokio [`AsyncRead`]: the
/// same reading, buffers, decoders and errors, awaiting instead of
/// blocking. It is a `futures_core::Stream` of `io::Result<View>` (so
/// `StreamExt::next` and `forward` apply), ending after a fatal error.
///
/// An `AsyncRead` that replaces the `ReadBuf` it is given, or reports more
/// bytes than it had room for, gets an `InvalidData` error: no byte the
/// source did not read ever reaches a frame.
///
/// **Backpressure**: when the pool is empty the reader awaits a buffer
/// (the pool's `get_async`, boxed: one allocation per wait, only when the
/// pool was empty); it never allocates one on the heap.
///
/// [`read_frame`](Self::read_frame) is cancel-safe: dropped at an await,
/// it loses no bytes, no buffer and no place in the pool's queue (a wait
/// for a buffer is kept in the reader and resumed by the next call).
///
/// ```
/// use std::sync::Arc;
/// use iobuf::frame::{AsyncFrameReader, LengthDelimited, Pools};
///
/// # tokio_test_block_on(async {
/// let pool = Arc::new(iobuf::MediumBufferPool::new(4)?);
/// let wire: &[u8] = b"\0\0\0\x05hello\0\0\0\x03abc";
/// let codec = LengthDelimited::builder().max_frame_length(4096).new_codec();
/// let mut frames = AsyncFrameReader::new(wire, codec, Pools::new(pool))?;
/// assert_eq!(&frames.read_frame().await?.unwrap()[..], b"hello");
/// assert_eq!(&frames.read_frame().await?.unwrap()[..], b"abc");
/// assert!(frames.read_frame().await?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     futures_executor::block_on(f)
/// # }
/// ```
pub struct AsyncFrameReader<R, D> {
    io: R,
    core: Core<D>,
    /// A wait for a buffer in progress, for the tier of `want` bytes.
    waiting: Option<Wait>,
}

impl<R, D: Decoder> AsyncFrameReader<R, D> {
    /// A reader of `io`'s frames, found by `decoder`, into buffers from
    /// `pools`. Takes no buffer until the first read.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::new`](super::FrameReader::new).
    pub fn new(io: R, decoder: D, pools: Pools) -> io::Result<Self> {
        Ok(AsyncFrameReader {
            io,
            core: Core::new(decoder, pools)?,
            waiting: None,
        })
    }
}

super::read::reader_common!(AsyncFrameReader);

impl<R: AsyncRead + Unpin, D: Decoder> AsyncFrameReader<R, D> {
    /// The next frame; `None` at the end of the stream. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`FrameReader`](super::FrameReader)'s.
    pub async fn read_frame(&mut self) -> io::Result<Option<View>> {
        poll_fn(|cx| self.poll_read_frame(cx)).await
    }

    /// [`read_frame`](Self::read_frame) as a poll function, for a `Stream`
    /// or a hand-written future.
    ///
    /// # Errors
    ///
    /// As `read_frame`.
    pub fn poll_read_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<View>>> {
        loop {
            if let Some(wait) = self.waiting.as_mut() {
                let fresh = ready!(wait.as_mut().poll(cx));
                self.waiting = None;
                self.core.check_fresh(&fresh)?;
                self.core.install(fresh);
            }
            match self.core.step()? {
                Step::Frame(view) => return Poll::Ready(Ok(Some(view))),
                Step::Done => return Poll::Ready(Ok(None)),
                Step::Take(want) => {
                    let tier = self.core.tier(want)?;
                    match tier.try_take() {
                        Some(fresh) => {
                            self.core.check_fresh(&fresh)?;
                            self.core.install(fresh);
                        }
                        None => self.waiting = Some(tier.take_async()),
                    }
                }
                Step::Read => {
                    let unfilled = self.core.unfilled();
                    let (ours, room) = (unfilled.as_ptr(), unfilled.len());
                    let mut buf = ReadBuf::new(unfilled);
                    match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                        Ok(()) => {
                            // The bytes must be in the reader's own memory:
                            // an `AsyncRead` may swap in another `ReadBuf`
                            // (safe code), and committing its length would
                            // hand out bytes this source never read (as
                            // tokio-util checks the pointer; it panics).
                            let n = buf.filled().len();
                            if buf.filled().as_ptr() != ours {
                                return Poll::Ready(Err(self.core.fail(super::read::invalid(
                                    "the source replaced the ReadBuf it was given".into(),
                                ))));
                            }
                            self.core.check_read(n, room)?;
                            if !self.core.filled(n)? {
                                return Poll::Ready(Ok(None));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Poll::Ready(Err(self.core.fail(e))),
                    }
                }
            }
        }
    }
}

impl<R, D: Decoder> AsyncFrameReader<R, D> {
    /// Whether the stream ended (`FusedStream::is_terminated`).
    pub(crate) fn is_done(&self) -> bool {
        self.core.is_done()
    }
}

impl<R, D> std::fmt::Debug for AsyncFrameReader<R, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFrameReader")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}

/// [`FrameWriter`](super::FrameWriter) over a tokio [`AsyncWrite`]: one
/// `poll_write_vectored` per write, a high-water mark for backpressure.
/// It is a `futures_sink::Sink` of anything that converts into an
/// [`Outgoing`] (so `SinkExt::send_all` and `StreamExt::forward` apply),
/// whose `poll_ready` waits until less than the high-water mark is queued.
///
/// `send` and `flush` are cancel-safe: a frame is queued before any await,
/// and the queue keeps its place across partial writes.
#[derive(Debug)]
pub struct AsyncFrameWriter<W> {
    io: W,
    queue: Queue,
}

super::write::writer_common!(AsyncFrameWriter);

impl<W: AsyncWrite + Unpin> AsyncFrameWriter<W> {
    /// Queues `frame`, then writes while the high-water mark or more is
    /// queued. Below the mark it writes nothing: when the peer waits for
    /// what is queued (a request and its reply), [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// The destination's (the frame stays queued); `WriteZero` if it
    /// accepts no bytes.
    pub async fn send(&mut self, frame: impl Into<Outgoing>) -> io::Result<()> {
        self.feed(frame);
        poll_fn(|cx| self.poll_below_mark(cx)).await
    }

    /// Writes while the high-water mark or more is queued: `send`'s wait,
    /// and the `Sink`'s `poll_ready`.
    pub(crate) fn poll_below_mark(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.queue.queued() >= self.queue.high_water && !self.queue.is_empty() {
            ready!(self.poll_write_once(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes every queued frame, flushes, then shuts the destination down
    /// (the `Sink`'s `poll_close`).
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    /// Writes every queued frame, then flushes the destination.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// [`flush`](Self::flush) as a poll function.
    ///
    /// # Errors
    ///
    /// As `flush`.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.queue.is_empty() {
            ready!(self.poll_write_once(cx))?;
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// One vectored write.
    fn poll_write_once(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let io = &mut self.io;
        let written = self.queue.write_with(|slices| {
            match Pin::new(&mut *io).poll_write_vectored(cx, slices) {
                Poll::Ready(Ok(n)) => Ok(n),
                Poll::Ready(Err(e)) => Err(Some(e)),
                Poll::Pending => Err(None),
            }
        });
        match written {
            Ok(0) => Poll::Ready(Err(write_zero())),
            Ok(_) => Poll::Ready(Ok(())),
            Err(Some(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(())),
            Err(Some(e)) => Poll::Ready(Err(e)),
            Err(None) => Poll::Pending,
        }
    }
}
