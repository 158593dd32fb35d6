//! The frame reader's state machine, shared by the blocking reader (here)
//! and the tokio one: what to do next (hand out a frame, read, take a
//! buffer), with no I/O of its own.

use std::io;

use super::decode::{Decoded, Decoder};
use super::pools::{Pools, SplitSource};
use crate::shared::{SplitBuf, View};

/// What the reader does next.
pub(crate) enum Step {
    /// A frame to hand out.
    Frame(View),
    /// Read into `Core::unfilled`, then `Core::filled`.
    Read,
    /// Take a buffer from this tier and `Core::install` it.
    Take(usize),
    /// The stream ended (cleanly, or after an error already returned).
    Done,
}

/// The read-ahead buffer, the decoder and the pools.
pub(crate) struct Core<D> {
    pub(crate) decoder: D,
    pools: Pools,
    /// The read-ahead: its filled bytes are read and not yet consumed.
    buf: Option<SplitBuf>,
    /// What the decoder last said the next frame needs in all.
    need: Option<usize>,
    done: bool,
}

pub(crate) fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl<D: Decoder> Core<D> {
    pub(crate) fn new(decoder: D, pools: Pools) -> Self {
        Core {
            decoder,
            pools,
            buf: None,
            need: None,
            done: false,
        }
    }

    /// Ends the stream with `error`: every buffer of the reader goes home.
    pub(crate) fn fail(&mut self, error: io::Error) -> io::Error {
        self.buf = None;
        self.done = true;
        error
    }

    /// Bytes read and not yet handed out.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.as_ref().map_or(0, SplitBuf::len)
    }

    /// The next step.
    pub(crate) fn step(&mut self) -> io::Result<Step> {
        if self.done {
            return Ok(Step::Done);
        }
        let Some(buf) = self.buf.as_mut() else {
            return Ok(Step::Take(0));
        };
        if !buf.is_empty() {
            match self.decoder.decode(buf.as_slice()) {
                Err(e) => return Err(self.fail(e)),
                Ok(Decoded::Frame { frame, consumed }) => {
                    if frame.start > frame.end || frame.end > consumed || consumed > buf.len() {
                        let len = buf.len();
                        return Err(self.fail(invalid(format!(
                            "the decoder reported frame {frame:?}, consuming {consumed} bytes, \
                             of {len} buffered"
                        ))));
                    }
                    if consumed == 0 {
                        return Err(self.fail(invalid(
                            "the decoder reported a frame that consumes no bytes".into(),
                        )));
                    }
                    self.need = None;
                    return Ok(Step::Frame(buf.cut(frame, consumed)));
                }
                Ok(Decoded::Incomplete(total)) => self.need = total,
            }
        }
        // More bytes are needed: at least one, or what the decoder said.
        let want = self.need.unwrap_or(0).max(buf.len() + 1);
        if want > self.pools.largest() {
            return Err(self.fail(invalid(format!(
                "a frame of {want} bytes is larger than the largest buffer, {} bytes",
                self.pools.largest()
            ))));
        }
        if want > buf.capacity() || buf.remaining_capacity() == 0 {
            return Ok(Step::Take(want));
        }
        // Little room left, and little to move: a fresh buffer now, rather
        // than a short read into the tail and another read after it (a
        // read that fills the tail is always followed by one more). The
        // move copies at most an eighth of a buffer.
        let eighth = self.pools.read_ahead_size() / 8;
        if buf.remaining_capacity() < eighth && buf.len() <= eighth {
            return Ok(Step::Take(want));
        }
        Ok(Step::Read)
    }

    /// The next frame if the bytes already read hold one; `None` if
    /// reading is needed (or the stream ended). No I/O, no buffer taken.
    pub(crate) fn next_buffered(&mut self) -> io::Result<Option<View>> {
        if self.buf.as_ref().is_none_or(SplitBuf::is_empty) {
            return Ok(None);
        }
        match self.step()? {
            Step::Frame(view) => Ok(Some(view)),
            Step::Read | Step::Take(_) | Step::Done => Ok(None),
        }
    }

    /// The tier to take a buffer of at least `want` bytes from (and at
    /// least the read-ahead size).
    pub(crate) fn tier(&self, want: usize) -> &dyn SplitSource {
        self.pools
            .tier_for(want)
            .expect("`step` checked `want` against the largest tier")
    }

    /// Puts in a fresh buffer, moving the partial frame into it (the one
    /// copy a frame can cost: its prefix, when it straddles the end of a
    /// buffer or outgrows it).
    pub(crate) fn install(&mut self, mut fresh: SplitBuf) {
        if let Some(old) = self.buf.take() {
            fresh.extend_from_slice(old.as_slice());
        }
        self.buf = Some(fresh);
    }

    /// Where the next read goes.
    pub(crate) fn unfilled(&mut self) -> &mut [u8] {
        self.buf
            .as_mut()
            .expect("`step` returned Read with a buffer")
            .unfilled_mut()
    }

    /// After a read of `n` bytes into `unfilled`: `Ok(false)` at a clean
    /// end of the stream (no partial frame), `UnexpectedEof` inside one.
    pub(crate) fn filled(&mut self, n: usize) -> io::Result<bool> {
        let buf = self
            .buf
            .as_mut()
            .expect("`step` returned Read with a buffer");
        if n > 0 {
            buf.commit(n);
            return Ok(true);
        }
        let partial = buf.len();
        self.buf = None;
        self.done = true;
        if partial > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ended inside a frame ({partial} bytes of it read)"),
            ));
        }
        Ok(false)
    }
}

/// Reads frames from a blocking [`std::io::Read`] into pooled buffers and
/// hands each out as a [`View`], with no copy.
///
/// One `read` call takes as many bytes as the source has (up to the room
/// left in the read-ahead buffer), so several small frames cost one call.
/// A frame that straddles the end of the buffer moves its prefix to a fresh
/// one (the one copy); a frame larger than the read-ahead buffer moves to a
/// buffer of the smallest [`Pools`] tier that holds it. A frame handed out
/// keeps its buffer from the pool until the frame (and every view of that
/// buffer) is dropped.
///
/// **Backpressure**: when the pool is empty the reader waits for a buffer
/// (it blocks the thread); it never allocates one on the heap.
///
/// Errors end the stream and send the reader's buffers home:
/// `InvalidData` for a frame longer than the decoder's maximum or the
/// largest tier, or a decoder that reports a frame outside the data;
/// `UnexpectedEof` for a stream that ends inside a frame; and the source's
/// own errors (`Interrupted` is retried; `WouldBlock` is returned and the
/// reader can be called again).
///
/// ```
/// use std::sync::Arc;
/// use iobuf::frame::{FrameReader, LengthDelimited, Pools};
///
/// let pool = Arc::new(iobuf::MediumBufferPool::new(4)?);
/// let wire: &[u8] = b"\0\0\0\x05hello\0\0\0\x00\0\0\0\x03abc";
/// let mut frames = FrameReader::new(wire, LengthDelimited::new(), Pools::new(pool));
/// assert_eq!(&frames.read_frame()?.unwrap()[..], b"hello");
/// assert_eq!(&frames.read_frame()?.unwrap()[..], b"");
/// assert_eq!(&frames.read_frame()?.unwrap()[..], b"abc");
/// assert!(frames.read_frame()?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FrameReader<R, D> {
    io: R,
    core: Core<D>,
}

impl<R, D: Decoder> FrameReader<R, D> {
    /// A reader of `io`'s frames, found by `decoder`, into buffers from
    /// `pools`. Takes no buffer until the first read.
    pub fn new(io: R, decoder: D, pools: Pools) -> Self {
        FrameReader {
            io,
            core: Core::new(decoder, pools),
        }
    }
}

/// What the blocking and the async frame reader share: the source, the
/// decoder and the bytes buffered (both hold `io` and `core`).
macro_rules! reader_common {
    ($name:ident) => {
        impl<R, D: $crate::frame::Decoder> $name<R, D> {
            /// The source.
            pub fn get_ref(&self) -> &R {
                &self.io
            }

            /// The source (reading from it directly loses the reader's
            /// place).
            pub fn get_mut(&mut self) -> &mut R {
                &mut self.io
            }

            /// The decoder.
            pub fn decoder_mut(&mut self) -> &mut D {
                &mut self.core.decoder
            }

            /// Bytes read and not handed out yet.
            pub fn buffered(&self) -> usize {
                self.core.buffered()
            }

            /// The next frame if the bytes already read hold a whole one,
            /// with no read and no wait: `None` when the next frame needs a
            /// read. An echo feeds these to its writer and flushes once
            /// before the next [`read_frame`](Self::read_frame), which may
            /// wait for the peer.
            ///
            /// # Errors
            ///
            /// As `read_frame`'s decoding errors.
            pub fn next_buffered(&mut self) -> std::io::Result<Option<$crate::shared::View>> {
                self.core.next_buffered()
            }

            /// The source; bytes buffered are dropped (their buffer goes
            /// home).
            pub fn into_inner(self) -> R {
                self.io
            }
        }
    };
}
#[cfg_attr(not(feature = "tokio"), allow(unused_imports))]
pub(crate) use reader_common;

reader_common!(FrameReader);

impl<R: io::Read, D: Decoder> FrameReader<R, D> {
    /// The next frame; `None` at the end of the stream.
    ///
    /// # Errors
    ///
    /// See the [type docs](Self).
    pub fn read_frame(&mut self) -> io::Result<Option<View>> {
        loop {
            match self.core.step()? {
                Step::Frame(view) => return Ok(Some(view)),
                Step::Done => return Ok(None),
                Step::Take(want) => {
                    let tier = self.core.tier(want);
                    let fresh = tier.try_take().unwrap_or_else(|| tier.take_blocking());
                    self.core.install(fresh);
                }
                Step::Read => {
                    let n = match self.io.read(self.core.unfilled()) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                        Err(e) => return Err(self.core.fail(e)),
                    };
                    if !self.core.filled(n)? {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

impl<R: io::Read, D: Decoder> Iterator for FrameReader<R, D> {
    type Item = io::Result<View>;

    /// [`read_frame`](FrameReader::read_frame), transposed.
    fn next(&mut self) -> Option<io::Result<View>> {
        self.read_frame().transpose()
    }
}

impl<R, D> std::fmt::Debug for FrameReader<R, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.core.buf.as_ref().map_or(0, SplitBuf::len))
            .finish_non_exhaustive()
    }
}
