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
/// pool was empty); it never allocates one on the heap. Readers waiting on
/// one pool are served in arrival order (the pool's queue is FIFO), and
/// the pool's `stats().waiting` counts them. It never waits on itself (R3
/// in the `read` module: while views of its frames share its buffer it
/// waits for a fresh buffer or for the last of them to drop, whichever
/// comes first).
///
/// **Memory follows data, not connections.** An idle reader holds no
/// pooled buffer: a read that returns `Pending` gives an empty read-ahead
/// buffer back (a get and a put of the pool when data comes again: a few
/// ns with thread caches), and a reader made with
/// [`with_readiness`](Self::with_readiness) over a tokio socket takes one
/// only once the socket is readable. A stalled partial frame (the peer sent
/// part of a frame and stopped) moves into the smallest tier of the
/// [`Pools`] that holds it when that tier's buffers are at most a quarter of
/// the one it is in. So size the read-ahead pool by the data in flight (the
/// connections that are sending at once, times a buffer or two), not by the
/// number of connections. What a slow or hostile peer can hold is its
/// partial frame's tier: at most `connections × tier` bytes. To bound it
/// further, cap the connections, and put a deadline on a partial frame:
/// `read_frame` is cancel-safe, so `tokio::time::timeout(d,
/// reader.read_frame())` that fires while [`buffered`](Self::buffered) is
/// above 0 means a frame took longer than `d`; drop the connection.
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
    /// How to wait until `io` is readable without a buffer, if it can.
    ready: Option<PollReady<R>>,
}

/// `ReadReady::poll_read_ready` of a reader's source.
type PollReady<R> = fn(&R, &mut Context<'_>) -> Poll<io::Result<()>>;

/// A source that can wait until it is readable without a buffer to read
/// into: tokio's `TcpStream`, `UnixStream` and their read halves. An
/// [`AsyncFrameReader`] made with
/// [`with_readiness`](AsyncFrameReader::with_readiness) over one takes a
/// pooled buffer only once the source is readable, so that an idle
/// connection never holds one, not even while it is polled.
pub trait ReadReady {
    /// `Ready(Ok(()))` once a read may find bytes (it may still find none:
    /// the reader then gives its buffer back and asks again); `Pending`
    /// registers `cx`'s waker for readiness.
    ///
    /// # Errors
    ///
    /// The source's.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl ReadReady for tokio::net::TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::TcpStream::poll_read_ready(self, cx)
    }
}

impl ReadReady for tokio::net::tcp::OwnedReadHalf {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsRef::<tokio::net::TcpStream>::as_ref(self).poll_read_ready(cx)
    }
}

impl ReadReady for tokio::net::tcp::ReadHalf<'_> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsRef::<tokio::net::TcpStream>::as_ref(self).poll_read_ready(cx)
    }
}

#[cfg(unix)]
impl ReadReady for tokio::net::UnixStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::UnixStream::poll_read_ready(self, cx)
    }
}

#[cfg(unix)]
impl ReadReady for tokio::net::unix::OwnedReadHalf {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsRef::<tokio::net::UnixStream>::as_ref(self).poll_read_ready(cx)
    }
}

#[cfg(unix)]
impl ReadReady for tokio::net::unix::ReadHalf<'_> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsRef::<tokio::net::UnixStream>::as_ref(self).poll_read_ready(cx)
    }
}

impl<R, D: Decoder> AsyncFrameReader<R, D> {
    /// A reader of `io`'s frames, found by `decoder`, into buffers from
    /// `pools`. Takes no buffer until the first read, and gives an empty
    /// one back whenever a read returns `Pending`. Over a tokio socket,
    /// prefer [`with_readiness`](Self::with_readiness).
    ///
    /// # Errors
    ///
    /// As [`FrameReader::new`](super::FrameReader::new).
    pub fn new(io: R, decoder: D, pools: Pools) -> io::Result<Self> {
        Ok(AsyncFrameReader {
            io,
            core: Core::new(decoder, pools)?,
            waiting: None,
            ready: None,
        })
    }

    /// As [`new`](Self::new), for a source that can wait until it is
    /// readable without a buffer ([`ReadReady`]: tokio's sockets and their
    /// read halves): while no bytes are buffered, the reader waits for
    /// readiness first and takes a pooled buffer only then.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use iobuf::frame::{AsyncFrameReader, LengthDelimited, Pools};
    ///
    /// # #[allow(dead_code)]
    /// # async fn serve(stream: tokio::net::TcpStream) -> std::io::Result<()> {
    /// let pool = Arc::new(iobuf::MediumBufferPool::new(64).unwrap());
    /// let (read, _write) = stream.into_split();
    /// let codec = LengthDelimited::builder().max_frame_length(8 * 1024 - 4).new_codec();
    /// let mut frames = AsyncFrameReader::with_readiness(read, codec, Pools::new(pool))?;
    /// while let Some(frame) = frames.read_frame().await? {
    ///     println!("{} bytes", frame.len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_readiness(io: R, decoder: D, pools: Pools) -> io::Result<Self>
    where
        R: ReadReady,
    {
        Ok(AsyncFrameReader {
            ready: Some(<R as ReadReady>::poll_read_ready),
            ..Self::new(io, decoder, pools)?
        })
    }

    /// Whether the reader holds a pooled buffer now (an idle one holds
    /// none).
    pub fn holds_buffer(&self) -> bool {
        self.core.holds_buffer()
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
                // R3: the reader's own buffer, once nothing else shares
                // it, ends the wait (renewing the watch's waker first).
                if self.core.is_watching() && (self.core.reclaimed() || self.core.watch(cx.waker()))
                {
                    self.waiting = None;
                    continue;
                }
                let fresh = ready!(wait.as_mut().poll(cx));
                self.waiting = None;
                self.core.check_fresh(&fresh)?;
                self.core.install(fresh);
            }
            match self.core.step()? {
                Step::Frame(view) => return Poll::Ready(Ok(Some(view))),
                Step::Done => return Poll::Ready(Ok(None)),
                Step::Take(want) => {
                    if !self.core.holds_buffer() {
                        if let Some(ready) = self.ready {
                            // R1: no buffer before the source is readable.
                            if let Err(e) = ready!(ready(&self.io, cx)) {
                                return Poll::Ready(Err(self.core.fail(e)));
                            }
                        }
                    }
                    match self.core.try_take(want)? {
                        Some(fresh) => {
                            self.core.check_fresh(&fresh)?;
                            self.core.install(fresh);
                        }
                        None => {
                            self.waiting = Some(self.core.tier(want)?.take_async());
                            if self.core.may_reclaim(want) && self.core.watch(cx.waker()) {
                                self.waiting = None;
                            }
                        }
                    }
                }
                Step::Read => {
                    let unfilled = self.core.unfilled();
                    let (ours, room) = (unfilled.as_ptr(), unfilled.len());
                    let mut buf = ReadBuf::new(unfilled);
                    match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) => {
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
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(self.core.fail(e))),
                        Poll::Pending => {
                            // R1, R2: an idle reader holds no buffer, and a
                            // stalled one holds as little as it can.
                            self.core.stalled();
                            return Poll::Pending;
                        }
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
