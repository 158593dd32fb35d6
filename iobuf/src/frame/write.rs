//! The frame writer: a queue of frames written with one vectored write
//! per call, advancing across partial writes.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use crate::buffer::BufferTier;
use crate::filled::Filled;
use crate::pool::{OwnedPooled, Pooled};
use crate::shared::{Joined, SplitBuf, View};

/// The most slices one vectored write takes (Linux's `IOV_MAX` is 1024;
/// 64 slices are on the stack and more per call buys little).
const MAX_SLICES: usize = 64;

/// A frame queued on a frame writer: a [`View`], `bytes::Bytes`, a
/// `'static` slice, or a pooled buffer (`Filled`, [`SplitBuf`]) frozen into
/// a view. Converting never copies.
#[derive(Clone, Debug)]
pub struct Outgoing(Repr);

#[derive(Clone, Debug)]
enum Repr {
    /// A view, with the shares of the views the queue joined onto it.
    View(Joined),
    #[cfg(feature = "bytes")]
    Bytes(bytes::Bytes),
    Static(&'static [u8]),
}

impl Outgoing {
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::View(v) => v.view(),
            #[cfg(feature = "bytes")]
            Repr::Bytes(b) => b,
            Repr::Static(s) => s,
        }
    }
}

impl From<View> for Outgoing {
    fn from(view: View) -> Outgoing {
        Outgoing(Repr::View(Joined::new(view)))
    }
}

#[cfg(feature = "bytes")]
impl From<bytes::Bytes> for Outgoing {
    fn from(bytes: bytes::Bytes) -> Outgoing {
        Outgoing(Repr::Bytes(bytes))
    }
}

impl From<&'static [u8]> for Outgoing {
    fn from(bytes: &'static [u8]) -> Outgoing {
        Outgoing(Repr::Static(bytes))
    }
}

impl From<SplitBuf> for Outgoing {
    /// Its filled bytes, frozen.
    fn from(buf: SplitBuf) -> Outgoing {
        buf.freeze().into()
    }
}

impl<T: BufferTier> From<Filled<OwnedPooled<T>>> for Outgoing {
    /// Its filled bytes, frozen (no copy).
    fn from(buf: Filled<OwnedPooled<T>>) -> Outgoing {
        SplitBuf::from(buf).into()
    }
}

impl<T: BufferTier> From<Filled<Pooled<'static, T>>> for Outgoing {
    /// Its filled bytes, frozen (no copy).
    fn from(buf: Filled<Pooled<'static, T>>) -> Outgoing {
        SplitBuf::from(buf).into()
    }
}

/// The queue of a frame writer, with no I/O of its own.
#[derive(Debug)]
pub(crate) struct Queue {
    frames: VecDeque<Outgoing>,
    /// Bytes of the front frame already written.
    offset: usize,
    /// Bytes queued and not written, over all frames.
    queued: usize,
    pub(crate) high_water: usize,
}

impl Queue {
    pub(crate) fn new(high_water: usize) -> Queue {
        Queue {
            frames: VecDeque::new(),
            offset: 0,
            queued: 0,
            high_water,
        }
    }

    /// Queues `frame`: joined onto the last queued frame when both are
    /// views and it starts where that one ends in the same buffer (frames
    /// of one read, cut one after the other), so that they leave as one
    /// slice, with no copy.
    #[inline]
    pub(crate) fn push(&mut self, frame: Outgoing) {
        let len = frame.bytes().len();
        if len == 0 {
            return;
        }
        self.queued += len;
        let frame = match (self.frames.back_mut(), frame) {
            (Some(Outgoing(Repr::View(last))), Outgoing(Repr::View(view))) => {
                match last.try_join(view) {
                    Ok(()) => return,
                    Err(view) => Outgoing(Repr::View(view)),
                }
            }
            (_, frame) => frame,
        };
        self.frames.push_back(frame);
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Calls `write` with up to `MAX_SLICES` queued frames as slices (the
    /// front one from where the last write stopped), then drops what it
    /// wrote. A destination that reports more bytes written than it was
    /// given gets an `InvalidData` error, and the queue is left as it was.
    pub(crate) fn write_with<E: From<io::Error>>(
        &mut self,
        write: impl FnOnce(&[IoSlice<'_>]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let (written, given) = if self.frames.len() == 1 {
            // One frame queued (the frames of one read, joined): no array
            // of slices to fill.
            let bytes = &self.frames[0].bytes()[self.offset..];
            (write(&[IoSlice::new(bytes)])?, bytes.len())
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let (mut n, mut given) = (0, 0);
            for (i, frame) in self.frames.iter().take(MAX_SLICES).enumerate() {
                let bytes = frame.bytes();
                slices[i] = IoSlice::new(if i == 0 { &bytes[self.offset..] } else { bytes });
                given += slices[i].len();
                n += 1;
            }
            (write(&slices[..n])?, given)
        };
        if written > given {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the destination reported {written} bytes written of {given} given"),
            )
            .into());
        }
        self.advance(written);
        Ok(written)
    }

    /// Drops `n` written bytes from the front (`write_with` checked that
    /// they were queued).
    fn advance(&mut self, mut n: usize) {
        debug_assert!(
            n <= self.queued,
            "a writer reported {n} bytes written of {} queued",
            self.queued
        );
        self.queued -= n;
        while n > 0 {
            let front = self.frames.front().expect("bytes queued").bytes().len() - self.offset;
            if n < front {
                self.offset += n;
                return;
            }
            n -= front;
            self.offset = 0;
            self.frames.pop_front();
        }
    }
}

pub(crate) fn write_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "the writer accepted no bytes")
}

/// Writes queued frames ([`View`]s, `Bytes`, pooled buffers) to a blocking
/// [`std::io::Write`] with one vectored write (`writev`) per call, as many
/// frames as are queued (up to 64 slices), advancing across partial writes.
/// A view queued right after a view of the same buffer that ends where it
/// starts (the frames of one read, echoed) joins it: they leave as one
/// slice, with no copy, so the kernel walks one segment, not one per
/// frame, and their shares of the buffer go back with one atomic
/// decrement once written, not one per frame.
///
/// [`send`](Self::send) queues a frame and, once at least the high-water
/// mark of bytes is queued, writes until less is (backpressure, as
/// tokio-util's `FramedWrite`; the async writer's `Sink::poll_ready` is the
/// same wait); [`feed`](Self::feed) only queues, never writes, and ignores
/// the mark; [`flush`](Self::flush) writes everything. A loop that feeds
/// what one read brought and then flushes (the echo in the
/// [module docs](super)) is bounded by the reader's buffer, not by the
/// mark: use `send` (or the `Sink`) where frames come from elsewhere and
/// the queue must stay under the mark. The queue grows to the number of
/// frames in flight once and is reused: no allocation per frame.
///
/// A destination that reports more bytes written than it was given gets
/// an `InvalidData` error; no frame is taken as written.
///
/// ```
/// use iobuf::frame::FrameWriter;
///
/// let mut out = FrameWriter::new(Vec::new());
/// out.feed(&b"\0\0\0\x02"[..]);
/// out.feed(&b"hi"[..]);
/// out.flush()?;
/// assert_eq!(out.get_ref(), b"\0\0\0\x02hi");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    queue: Queue,
}

/// The default high-water mark: 64 KiB queued.
pub(crate) const HIGH_WATER: usize = 64 * 1024;

/// What the blocking and the async frame writer share: construction, the
/// queue and the destination (both are `{ io, queue }`).
macro_rules! writer_common {
    ($name:ident) => {
        impl<W> $name<W> {
            /// A writer to `io`, with a high-water mark of 64 KiB.
            pub fn new(io: W) -> Self {
                $name {
                    io,
                    queue: $crate::frame::write::Queue::new($crate::frame::write::HIGH_WATER),
                }
            }

            /// Sets the high-water mark: `send` (and the async writer's
            /// `Sink::poll_ready`) writes while this many bytes or more are
            /// queued; `feed` ignores it.
            pub fn with_high_water_mark(mut self, bytes: usize) -> Self {
                self.queue.high_water = bytes;
                self
            }

            /// Queues a frame, with no I/O, whatever is queued already (the
            /// high-water mark is `send`'s).
            #[inline]
            pub fn feed(&mut self, frame: impl Into<$crate::frame::Outgoing>) {
                self.queue.push(frame.into());
            }

            /// Bytes queued and not written.
            pub fn queued(&self) -> usize {
                self.queue.queued()
            }

            /// The destination.
            pub fn get_ref(&self) -> &W {
                &self.io
            }

            /// The destination (writing to it directly interleaves with
            /// the queue).
            pub fn get_mut(&mut self) -> &mut W {
                &mut self.io
            }

            /// The destination; frames still queued are dropped.
            pub fn into_inner(self) -> W {
                self.io
            }
        }
    };
}
#[cfg_attr(not(feature = "tokio"), allow(unused_imports))]
pub(crate) use writer_common;

writer_common!(FrameWriter);

impl<W: io::Write> FrameWriter<W> {
    /// Queues `frame`, then writes while the high-water mark or more is
    /// queued. Below the mark it writes nothing: when the peer waits for
    /// what is queued (a request and its reply), [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// The destination's (the frame stays queued); `WriteZero` if it
    /// accepts no bytes.
    pub fn send(&mut self, frame: impl Into<Outgoing>) -> io::Result<()> {
        self.feed(frame);
        while self.queue.queued() >= self.queue.high_water && !self.queue.is_empty() {
            self.write_once()?;
        }
        Ok(())
    }

    /// Writes every queued frame, then flushes the destination.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.queue.is_empty() {
            self.write_once()?;
        }
        self.io.flush()
    }

    /// One vectored write.
    fn write_once(&mut self) -> io::Result<()> {
        let io = &mut self.io;
        match self.queue.write_with(|slices| io.write_vectored(slices)) {
            Ok(0) => Err(write_zero()),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }
}
