//! Frames without copies: read many frames per `read` into one pooled
//! buffer and hand each out as a shared [`View`](crate::shared::View);
//! write queued frames with one `writev`.
//!
//! - [`FrameReader`] (blocking, `std::io::Read`) and `AsyncFrameReader`
//!   (tokio's `AsyncRead`, feature `tokio`): a per-connection read-ahead
//!   buffer from [`Pools`]; a [`Decoder`] finds the frames:
//!   [`LengthDelimited`] (tokio-util's `LengthDelimitedCodec` knobs),
//!   [`Lines`], or your own.
//! - [`FrameWriter`] and `AsyncFrameWriter` (feature `tokio`): a queue of views, `Bytes`
//!   and pooled buffers, written with vectored writes, with a high-water
//!   mark.
//! - With `tokio`, the async reader is a `futures_core::Stream` and the
//!   async writer a `futures_sink::Sink` (`poll_ready` waits below the
//!   high-water mark), so `reader.forward(writer)` is an echo with
//!   backpressure.
//!
//! # The same meaning as tokio-util
//!
//! Where a knob has the name of one of tokio-util's (`LengthDelimitedCodec`
//! and its builder, `LinesCodec`), it means the same, and the same bytes in
//! the same reads give the same frames (`tests/frame_conformance.rs` runs
//! tokio-util's own codec tests on both readers, and property tests that
//! compare them with `FramedRead` on random settings, bytes and read
//! splits). The deliberate differences:
//!
//! - Frames are bytes: [`Lines`] does no UTF-8 check (`LinesCodec` yields
//!   `String`s).
//! - A stream that ends inside a frame is `UnexpectedEof` (tokio-util:
//!   `Other`, "bytes remaining on stream"): the kind that says what
//!   happened. That includes a stream that ends right after a
//!   length-delimited header, where tokio-util ends cleanly and the frame
//!   cut short is lost without a word.
//! - A length that over- or underflows with the adjustment is `InvalidData`
//!   (tokio-util: `InvalidInput`): the bytes came from the wire.
//! - A length-delimited frame that consumes no byte (`num_skip(0)`, a length
//!   of 0 after adjustment) is `InvalidData`; tokio-util yields empty
//!   frames forever.
//! - A frame is bounded by the largest buffer of the [`Pools`]
//!   (tokio-util grows its buffer): a decoder whose maximum is above it is
//!   refused where the reader is built, and one with no maximum
//!   ([`Lines::new`], `max_frame_length(usize::MAX)`) meets `InvalidData`
//!   at a frame larger than the largest buffer.
//! - An error that ends the stream ends it for good (`FramedRead` yields
//!   `None` once, then reads again if polled); a [`Lines`] line over the
//!   maximum does not end it (as `LinesCodec`, it is discarded and the next
//!   call goes on), nor does `WouldBlock`.
//! - [`LengthDelimited::encode_header`] writes zeros for the bytes before
//!   the length field (tokio-util's encoder writes the field alone);
//!   [`Lines::encode`] refuses a line with a `\n` in it or longer than the
//!   maximum (`LinesCodec` writes it anyway).
//!
//! A length-delimited echo over tokio, every frame out as it came in, with
//! no copy and no allocation per frame:
//!
//! ```no_run
//! # #![allow(dead_code)]
//! # #[cfg(feature = "tokio")]
//! # mod echo {
//! use std::sync::Arc;
//! use iobuf::frame::{AsyncFrameReader, AsyncFrameWriter, LengthDelimited, Pools};
//! use tokio::io::{AsyncRead, AsyncWrite};
//!
//! pub async fn echo(rx: impl AsyncRead + Unpin, tx: impl AsyncWrite + Unpin) -> std::io::Result<()> {
//!     let pool = Arc::new(iobuf::LargeBufferPool::new(64)?); // 128 KiB read-ahead
//!     // A u32 length, then the payload; frames keep their header
//!     // (`num_skip(0)`, which the adjustment then counts, as in tokio-util).
//!     let codec = LengthDelimited::builder()
//!         .max_frame_length(64 * 1024)
//!         .length_adjustment(4)
//!         .num_skip(0)
//!         .new_codec();
//!     let mut frames = AsyncFrameReader::new(rx, codec, Pools::new(pool))?;
//!     let mut out = AsyncFrameWriter::new(tx);
//!     while let Some(frame) = frames.read_frame().await? {
//!         out.feed(frame); // a view of the read buffer: no copy
//!         let mut next = frames.next_buffered();
//!         while let Ok(Some(more)) = next {
//!             out.feed(more); // the rest of what that read brought
//!             next = frames.next_buffered();
//!         }
//!         out.flush().await?; // one writev, before the next read may wait
//!         next?; // a decoding error, once the frames before it are out
//!     }
//!     Ok(())
//! }
//! # }
//! ```
//!
//! # Which to use
//!
//! - **A frame reader** when a stream carries many frames: one read takes
//!   several of them, and each leaves as a view with no copy; the buffer
//!   goes home when its last frame is dropped.
//! - **[`Filled`](crate::Filled) alone** for one message per buffer (a
//!   datagram, a request read whole, a file block): no share counts, the
//!   buffer is yours until you drop it.
//! - **`bytes::Bytes`** ([`View::into_bytes`](crate::shared::View::into_bytes),
//!   `Filled::freeze`) to hand data to a library that takes `Bytes`: one
//!   allocation at the conversion, still no copy.

mod decode;
mod pools;
mod read;
#[cfg(feature = "tokio")]
mod stream;
#[cfg(feature = "tokio")]
mod tokio;
mod write;

pub use decode::{Decoded, Decoder, Endian, LengthDelimited, LengthDelimitedBuilder, Lines};
pub use pools::{Pools, SplitSource};
pub use read::FrameReader;
#[cfg(feature = "tokio")]
pub use tokio::{AsyncFrameReader, AsyncFrameWriter, ReadReady};
pub use write::{FrameWriter, Outgoing};
