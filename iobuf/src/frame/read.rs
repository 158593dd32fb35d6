//! The frame reader's state machine, shared by the blocking reader (here)
//! and the tokio one: what to do next (hand out a frame, read, take a
//! buffer), with no I/O of its own.
//!
//! # Memory follows data
//!
//! A reader holds a pooled buffer only while it holds bytes, and it never
//! waits on itself:
//!
//! - **R1** (async reader) a read that would wait gives an empty read-ahead
//!   back ([`Core::stalled`]); with a readiness source it takes none before
//!   the source is readable. An idle connection holds no pooled buffer.
//! - **R2** a read that would wait with a partial frame far smaller than
//!   its buffer moves the partial into the smallest tier that holds it
//!   (`Pools::shrink_tier`, never waiting for it), so a stalled peer holds
//!   at most that tier.
//! - **R3** the reader never waits for a buffer of the pool its own buffer
//!   came from while nothing else shares its buffer: needing room, it first
//!   reuses its own buffer in place when it is the only share
//!   (`SplitBuf::try_reclaim`); when views still share it and the pool has
//!   nothing free, it waits *and* watches its buffer (`count.rs`), and the
//!   moment the last view drops it stops waiting and reuses the buffer. A
//!   wait while holding a buffer too small for the frame is for a tier of
//!   larger buffers: another pool, which its own buffer cannot be holding
//!   up.
//!
//! # Read size
//!
//! A read goes into the room left in the read-ahead buffer, so a short
//! tail means a short read and one more call. Two rules keep reads as
//! large as the source has, both taking buffers only with `try_take` (so
//! R3 is never at stake: a reader that finds none reads into what it has):
//! a tail under half a read-ahead buffer moves the partial frame into a
//! fresh read-ahead buffer first (`grow`, as a `BytesMut`'s `reserve`
//! moves it), and a read that filled all its room makes the reader read
//! into buffers of the tier above the read-ahead one, if the [`Pools`] have
//! one, until a read brings half a read-ahead buffer or less (`roomier`):
//! the read-ahead size chosen at run time, per connection.
//!
//! Why R3 is enough: a reader waits on itself only if the buffer it waits
//! for could be its own, so only for its own pool, and only once nothing
//! else keeps its own buffer from being reused; at that instant (the last
//! view's drop) the watch wakes it (a drop that leaves a watched share
//! alone wakes the watcher: the bit and the count are one word), and it
//! reuses the buffer rather than wait for it.

use std::io;
use std::task::{Context, Poll, Wake, Waker};

use super::decode::{Decoded, Decoder};
use super::pools::{Pools, SplitSource, Wait};
use crate::shared::{SplitBuf, View};

/// What the reader does next.
pub(crate) enum Step {
    /// A frame to hand out.
    Frame(View),
    /// Read into `Core::unfilled`, then `Core::filled`.
    Read,
    /// Take a buffer of at least this many bytes and `Core::install` it
    /// (the partial frame moves into it); 0 when none is held.
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
    /// The source ended: what is buffered goes to `Decoder::decode_eof`.
    eof: bool,
    done: bool,
    /// `buf` is watched for becoming its buffer's only share (R3).
    watching: bool,
    /// A read filled all the room it had (the source may have had more),
    /// and no read since brought half a read-ahead buffer or less: the
    /// source sends in bursts larger than a read-ahead buffer.
    read_full: bool,
}

pub(crate) fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl<D: Decoder> Core<D> {
    /// # Errors
    ///
    /// `InvalidInput` if the decoder accepts frames larger than the
    /// largest buffer of `pools`.
    pub(crate) fn new(decoder: D, pools: Pools) -> io::Result<Self> {
        if let Some(max) = decoder.max_buffered_len() {
            if max > pools.largest() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the decoder accepts frames of up to {max} bytes, header included, \
                         but the largest buffer of the pools is {} bytes: lower the \
                         decoder's maximum or add a larger tier (`Pools::with`)",
                        pools.largest()
                    ),
                ));
            }
        }
        Ok(Core {
            decoder,
            pools,
            buf: None,
            need: None,
            eof: false,
            done: false,
            watching: false,
            read_full: false,
        })
    }

    /// Ends the stream with `error`: every buffer of the reader goes home.
    pub(crate) fn fail(&mut self, error: io::Error) -> io::Error {
        self.stop_watching();
        self.buf = None;
        self.done = true;
        error
    }

    /// Whether the stream ended (cleanly or by an error).
    #[cfg(feature = "tokio")]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes read and not yet handed out.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.as_ref().map_or(0, SplitBuf::len)
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    /// Whether the reader holds a pooled buffer.
    pub(crate) fn holds_buffer(&self) -> bool {
        self.buf.is_some()
    }

    /// The next step. The frame path is inlined into the callers (a frame
    /// per call: no more than the decoder, the checks and the cut); errors
    /// and the need for more bytes go out of line.
    #[inline]
    pub(crate) fn step(&mut self) -> io::Result<Step> {
        if self.done {
            return Ok(Step::Done);
        }
        let Some(buf) = self.buf.as_mut() else {
            return Ok(Step::Take(self.need.unwrap_or(0)));
        };
        while !buf.is_empty() {
            let decoded = if self.eof {
                self.decoder.decode_eof(buf.as_slice())
            } else {
                self.decoder.decode(buf.as_slice())
            };
            match decoded {
                Ok(Decoded::Frame { frame, consumed })
                    if frame.start <= frame.end
                        && frame.end <= consumed
                        && consumed <= buf.len()
                        && consumed > 0 =>
                {
                    self.need = None;
                    return Ok(Step::Frame(buf.cut(frame, consumed)));
                }
                Ok(Decoded::Skip(n)) if n > 0 && n <= buf.len() => {
                    buf.consume(n);
                    self.need = None;
                }
                Ok(Decoded::Incomplete(total)) if !self.eof => {
                    self.need = total;
                    break;
                }
                other => return Err(self.refused(other)),
            }
        }
        self.more()
    }

    /// What `step` does with a decoder's answer it cannot take: an error
    /// (that ends the stream unless the decoder can resume), a frame or a
    /// skip outside the bytes buffered, a frame that consumes nothing, or
    /// an incomplete frame at the end of the stream.
    #[cold]
    #[inline(never)]
    fn refused(&mut self, decoded: io::Result<Decoded>) -> io::Error {
        let len = self.buffered();
        match decoded {
            // The decoder goes on after it (`Lines` discarding a long
            // line): the reader keeps its place and its bytes.
            Err(e) if self.decoder.can_resume() => e,
            Err(e) => self.fail(e),
            Ok(Decoded::Frame { frame, consumed })
                if frame.start > frame.end || frame.end > consumed || consumed > len =>
            {
                self.fail(invalid(format!(
                    "the decoder reported frame {frame:?}, consuming {consumed} bytes, \
                     of {len} buffered"
                )))
            }
            Ok(Decoded::Frame { .. }) => self.fail(invalid(
                "the decoder reported a frame that consumes no bytes".into(),
            )),
            Ok(Decoded::Skip(n)) => self.fail(invalid(format!(
                "the decoder asked to skip {n} bytes of {len} buffered"
            ))),
            Ok(Decoded::Incomplete(_)) => self.fail(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ended inside a frame ({len} bytes of it read)"),
            )),
        }
    }

    /// `step` once the bytes buffered hold no whole frame: the end of the
    /// stream, or what to do for more bytes.
    #[inline(never)]
    fn more(&mut self) -> io::Result<Step> {
        if self.eof {
            // Every byte before the end of the stream is decoded: the
            // source is not read again after it reported the end.
            self.buf = None;
            self.done = true;
            return Ok(Step::Done);
        }
        let buf = self.buf.as_mut().expect("`step` holds a buffer");
        // More bytes are needed: at least one, or what the decoder said.
        let want = self.need.unwrap_or(0).max(buf.len() + 1);
        if want > self.pools.largest() {
            return Err(self.fail(invalid(format!(
                "a frame of {want} bytes is larger than the largest buffer, {} bytes",
                self.pools.largest()
            ))));
        }
        // (A small tail is grown before the read, without waiting:
        // `unfilled`.)
        if want > buf.capacity() || buf.remaining_capacity() == 0 {
            // After a read that filled its room, a larger buffer if one is
            // free now (see `roomier`).
            if let Some(fresh) = self.roomier(want) {
                self.install(fresh);
                return Ok(Step::Read);
            }
            // Room in place (R3): a buffer nothing else shares is reused,
            // its partial frame moved to its front.
            let buf = self.buf.as_mut().expect("held");
            if buf.size() >= want && buf.try_reclaim() {
                return Ok(Step::Read);
            }
            return Ok(Step::Take(want));
        }
        Ok(Step::Read)
    }

    /// The next frame if the bytes already read hold one; `None` if
    /// reading is needed (or the stream ended). No I/O, no buffer taken.
    #[inline]
    pub(crate) fn next_buffered(&mut self) -> io::Result<Option<View>> {
        if self.buf.as_ref().is_none_or(SplitBuf::is_empty) {
            return Ok(None);
        }
        match self.step()? {
            Step::Frame(view) => Ok(Some(view)),
            Step::Read | Step::Take(_) | Step::Done => Ok(None),
        }
    }

    /// For `Step::Take`: a buffer of at least `want` bytes if one is free
    /// now (`roomier`'s, else one of `tier`'s); the caller checks it
    /// (`check_fresh`) and installs it.
    ///
    /// # Errors
    ///
    /// As `tier`.
    pub(crate) fn try_take(&mut self, want: usize) -> io::Result<Option<SplitBuf>> {
        if let Some(fresh) = self.roomier(want) {
            return Ok(Some(fresh));
        }
        Ok(self.tier(want)?.try_take())
    }

    /// The tier to take a buffer of at least `want` bytes from (and at
    /// least the read-ahead size).
    ///
    /// # Errors
    ///
    /// `InvalidData` (and the stream ends) if no tier holds `want` bytes:
    /// `step` checked `want` against the largest tier, so only a
    /// [`SplitSource`] whose `buffer_size` changes gets here.
    pub(crate) fn tier(&mut self, want: usize) -> io::Result<&dyn SplitSource> {
        if self.pools.tier_for(want).is_none() {
            return Err(self.fail(invalid(format!("no tier of the pools holds {want} bytes"))));
        }
        Ok(self.pools.tier_for(want).expect("checked above"))
    }

    /// Checks a buffer taken for `Step::Take` before `install`: it must
    /// hold the bytes buffered and room for more (a [`SplitSource`] whose
    /// `buffer_size` is larger than its buffers gets an error here, not a
    /// panic or a reader that never reads).
    pub(crate) fn check_fresh(&mut self, fresh: &SplitBuf) -> io::Result<()> {
        let want = self.need.unwrap_or(0).max(self.buffered() + 1);
        if fresh.capacity() < want || fresh.remaining_capacity() < self.buffered() + 1 {
            return Err(self.fail(io::Error::other(format!(
                "a pool of the reader's Pools gave a buffer of {} bytes ({} free) \
                 for {want} bytes: its SplitSource::buffer_size is wrong",
                fresh.capacity(),
                fresh.remaining_capacity()
            ))));
        }
        Ok(())
    }

    /// After a read that reports `n` bytes into `unfilled`, whose length
    /// was `room`: an error if `n > room` (a source that lies).
    pub(crate) fn check_read(&mut self, n: usize, room: usize) -> io::Result<()> {
        if n > room {
            return Err(self.fail(invalid(format!(
                "the source reported {n} bytes read into {room} bytes"
            ))));
        }
        Ok(())
    }

    /// Puts in a fresh buffer, moving the partial frame into it (the one
    /// copy a frame can cost: its prefix, when it straddles the end of a
    /// buffer or outgrows it).
    pub(crate) fn install(&mut self, mut fresh: SplitBuf) {
        self.stop_watching();
        if let Some(old) = self.buf.take() {
            fresh.extend_from_slice(old.as_slice());
        }
        self.buf = Some(fresh);
    }

    /// No buffer of `want` bytes is free: whether the reader's own buffer
    /// could hold them once nothing else shares it (then it watches for
    /// that while it waits: R3).
    pub(crate) fn may_reclaim(&self, want: usize) -> bool {
        self.buf.as_ref().is_some_and(|b| b.size() >= want)
    }

    /// Starts or renews the watch of R3 with `waker`; `true` if the buffer
    /// is already the only share, and then it is reclaimed: stop waiting.
    pub(crate) fn watch(&mut self, waker: &Waker) -> bool {
        let Some(buf) = self.buf.as_mut() else {
            return false;
        };
        if buf.watch_only(waker) {
            self.watching = false;
            let reclaimed = buf.try_reclaim();
            debug_assert!(reclaimed, "the only share could not reclaim");
            return true;
        }
        self.watching = true;
        false
    }

    /// While watching: if the buffer became the only share, stops
    /// watching and reclaims it (`true`: stop waiting for a fresh one).
    pub(crate) fn reclaimed(&mut self) -> bool {
        if !self.watching {
            return false;
        }
        let buf = self.buf.as_mut().expect("a watched buffer is held");
        if !buf.is_only() {
            return false;
        }
        buf.unwatch();
        self.watching = false;
        buf.try_reclaim()
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    /// Whether the reader watches its buffer (it waits for a fresh one of
    /// its own pool: R3).
    pub(crate) fn is_watching(&self) -> bool {
        self.watching
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    /// A read would wait (R1, R2): an empty read-ahead goes home; a partial
    /// frame far smaller than its buffer moves into the smallest tier that
    /// holds it, if one is free now (never waiting for it).
    pub(crate) fn stalled(&mut self) {
        debug_assert!(!self.watching, "a reader reads while it waits for a buffer");
        let Some(buf) = &self.buf else { return };
        if buf.is_empty() {
            self.buf = None;
            return;
        }
        let Some(tier) = self.pools.shrink_tier(buf.len(), buf.size()) else {
            return;
        };
        if let Some(mut small) = tier.try_take() {
            // (A `SplitSource` whose `buffer_size` lies keeps the partial
            // where it is.)
            if small.remaining_capacity() >= buf.len() {
                small.extend_from_slice(buf.as_slice());
                self.buf = Some(small);
            }
        }
    }

    /// Where the next read goes: the read-ahead's unfilled tail, made
    /// larger first if it is small (see `grow`).
    pub(crate) fn unfilled(&mut self) -> &mut [u8] {
        self.grow();
        self.buf
            .as_mut()
            .expect("`step` returned Read with a buffer")
            .unfilled_mut()
    }

    /// Reads as large as the source has, whatever is left of the buffer:
    /// a tail under half a read-ahead buffer means a short read, and a
    /// read that fills it is followed by another. So when the partial
    /// frame is small enough that a fresh buffer at least doubles the
    /// room, the reader first reuses its own buffer in place if it is the
    /// only share, else takes a fresh read-ahead buffer *if one is free
    /// now* (never waiting: R3 is not at stake, and a reader that finds
    /// none reads into the tail as before) and moves the partial into it:
    /// what a `BytesMut` server's `reserve` does, a copy of the partial
    /// frame, at most half a buffer.
    fn grow(&mut self) {
        let buf = self
            .buf
            .as_mut()
            .expect("`step` returned Read with a buffer");
        let (tail, len) = (buf.remaining_capacity(), buf.len());
        let size = self.pools.read_ahead_size();
        if tail >= size / 2 || len + 2 * tail > size {
            return;
        }
        if buf.try_reclaim() && buf.remaining_capacity() >= 2 * tail {
            return;
        }
        let want = self.need.unwrap_or(0).max(len + 1);
        let fresh = self
            .roomier(want)
            .or_else(|| self.pools.read_ahead().try_take());
        if let Some(fresh) = fresh {
            // (A `SplitSource` whose `buffer_size` lies: its buffer goes
            // back, and the read goes into the tail.)
            if fresh.capacity() >= want && fresh.remaining_capacity() >= len + 2 * tail {
                self.install(fresh);
            }
        }
    }

    /// The read-ahead size chosen at run time: after a read that filled
    /// all its room (the source may well have more), and until a read
    /// brings half a read-ahead buffer or less, a buffer of the tier above
    /// the read-ahead one, if the pools have one and it has a buffer free
    /// now (never waiting). A connection that sends in bursts larger than
    /// a read-ahead buffer reads them in fewer calls, as a `BytesMut`
    /// grows; once its bursts are small it goes back to read-ahead
    /// buffers, and an idle one holds none (R1).
    fn roomier(&mut self, want: usize) -> Option<SplitBuf> {
        if !self.read_full {
            return None;
        }
        let len = self.buffered();
        let fresh = self
            .pools
            .larger(self.pools.read_ahead_size())?
            .try_take()?;
        // (A lying `SplitSource` again: the buffer goes back.)
        (fresh.capacity() >= want && fresh.remaining_capacity() > len).then_some(fresh)
    }

    /// After a read of `n` bytes into `unfilled` (checked by `check_read`):
    /// `Ok(false)` at a clean end of the stream (nothing buffered);
    /// `Ok(true)` otherwise: at an end with bytes buffered, `step` hands
    /// them to `Decoder::decode_eof` (`UnexpectedEof` inside a frame).
    pub(crate) fn filled(&mut self, n: usize) -> io::Result<bool> {
        let buf = self
            .buf
            .as_mut()
            .expect("`step` returned Read with a buffer");
        if n > 0 {
            if n == buf.remaining_capacity() {
                self.read_full = true;
            } else if n <= self.pools.read_ahead_size() / 2 {
                self.read_full = false;
            }
            buf.commit(n);
            return Ok(true);
        }
        if buf.is_empty() {
            self.buf = None;
            self.done = true;
            return Ok(false);
        }
        // Bytes left: `step` hands them to `Decoder::decode_eof`.
        self.eof = true;
        Ok(true)
    }
}

impl<D> Core<D> {
    /// Stops the watch of R3, if one runs (U1 of `count.rs`: before the
    /// writer's share drops or is replaced).
    fn stop_watching(&mut self) {
        if self.watching {
            if let Some(buf) = &self.buf {
                buf.unwatch();
            }
            self.watching = false;
        }
    }
}

impl<D> Drop for Core<D> {
    fn drop(&mut self) {
        self.stop_watching();
    }
}

/// Unparks the thread that made it (the blocking reader's waits).
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// The blocking reader's wait for a buffer of `want` bytes from `tier`
/// while it holds a shared buffer that could hold them (R3): waits for a
/// fresh one and for its own becoming the only share, whichever comes
/// first.
fn wait_or_reclaim<D: Decoder>(core: &mut Core<D>, want: usize) -> io::Result<()> {
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    if core.watch(&waker) {
        return Ok(());
    }
    let mut cx = Context::from_waker(&waker);
    let mut wait: Wait = core.tier(want)?.take_async();
    loop {
        if core.reclaimed() {
            return Ok(());
        }
        if let Poll::Ready(fresh) = wait.as_mut().poll(&mut cx) {
            core.check_fresh(&fresh)?;
            core.install(fresh);
            return Ok(());
        }
        std::thread::park();
    }
}

/// Reads frames from a blocking [`std::io::Read`] into pooled buffers and
/// hands each out as a [`View`], with no copy.
///
/// One `read` call takes as many bytes as the source has (up to the room
/// left in the read-ahead buffer), so several small frames cost one call.
/// A tail under half a read-ahead buffer is not read into when a fresh
/// buffer is free: the partial frame moves there first. A source that
/// fills a read's room (it sends in bursts larger than a read-ahead
/// buffer) is read into buffers of the tier above the read-ahead one, when
/// [`Pools::with`] added one and it has a buffer free, until its reads are
/// small again.
/// A frame that straddles the end of the buffer moves its prefix to a fresh
/// one (the one copy); a frame larger than the read-ahead buffer moves to a
/// buffer of the smallest [`Pools`] tier that holds it. A frame handed out
/// keeps its buffer from the pool until the frame (and every view of that
/// buffer) is dropped.
///
/// **Backpressure**: when the pool is empty the reader waits for a buffer
/// (it blocks the thread); it never allocates one on the heap. It never
/// waits on itself: needing room while views of frames it handed out share
/// its buffer, it waits for a fresh buffer or for the last of those views
/// to drop, whichever comes first, and then reuses its own buffer (the
/// module's invariant R3, with a boxed wait and a waker: one allocation
/// each, only when the pool was empty).
///
/// **Memory**: a blocking reader keeps its read-ahead buffer while it
/// blocks in `read` (a thread per connection holds a buffer per
/// connection); the async reader gives it back
/// ([`AsyncFrameReader`](super::AsyncFrameReader)).
///
/// Errors come after every frame decoded before them, and end the stream
/// and send the reader's buffers home: `InvalidData` for a frame longer
/// than the decoder's maximum or the largest tier, a decoder that reports
/// a frame outside the data, or a source that reports more bytes read than
/// it was given; `UnexpectedEof` for a stream that ends inside a frame
/// (tokio-util's `FramedRead`: `Other`, "bytes remaining on stream"); an
/// `Other` error for a [`SplitSource`] whose buffers are smaller than its
/// `buffer_size`; and the source's own errors (`Interrupted` is retried;
/// `WouldBlock` is returned and the reader can be called again). Two go
/// on: `WouldBlock`, and a decoder error after which the decoder
/// [can resume](Decoder::can_resume) (a [`Lines`](super::Lines) line over
/// its maximum): the next call reads on after it.
///
/// ```
/// use std::sync::Arc;
/// use iobuf::frame::{FrameReader, LengthDelimited, Pools};
///
/// let pool = Arc::new(iobuf::MediumBufferPool::new(4)?);
/// let wire: &[u8] = b"\0\0\0\x05hello\0\0\0\x00\0\0\0\x03abc";
/// // Frames of up to 4 KiB: within the pool's 8 KiB buffers.
/// let codec = LengthDelimited::builder().max_frame_length(4096).new_codec();
/// let mut frames = FrameReader::new(wire, codec, Pools::new(pool))?;
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
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the decoder accepts frames larger than the largest
    /// buffer of `pools` ([`Decoder::max_buffered_len`]): set a lower
    /// maximum, or add a larger tier with [`Pools::with`].
    pub fn new(io: R, decoder: D, pools: Pools) -> io::Result<Self> {
        Ok(FrameReader {
            io,
            core: Core::new(decoder, pools)?,
        })
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
            #[inline]
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
                    if let Some(fresh) = self.core.try_take(want)? {
                        self.core.check_fresh(&fresh)?;
                        self.core.install(fresh);
                    } else if self.core.may_reclaim(want) {
                        wait_or_reclaim(&mut self.core, want)?;
                    } else {
                        // Holding no buffer, or one too small: a buffer of
                        // a larger tier's pool cannot be ours (R3).
                        let fresh = self.core.tier(want)?.take_blocking();
                        self.core.check_fresh(&fresh)?;
                        self.core.install(fresh);
                    }
                }
                Step::Read => {
                    let unfilled = self.core.unfilled();
                    let room = unfilled.len();
                    let n = match self.io.read(unfilled) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                        Err(e) => return Err(self.core.fail(e)),
                    };
                    self.core.check_read(n, room)?;
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
