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
//!     // A u32 length, then the payload; frames keep their header (`num_skip(0)`).
//!     let codec = LengthDelimited::new().max_frame_length(64 * 1024).num_skip(0);
//!     let mut frames = AsyncFrameReader::new(rx, codec, Pools::new(pool));
//!     let mut out = AsyncFrameWriter::new(tx);
//!     while let Some(frame) = frames.read_frame().await? {
//!         out.feed(frame); // a view of the read buffer: no copy
//!         while let Some(more) = frames.next_buffered()? {
//!             out.feed(more); // the rest of what that read brought
//!         }
//!         out.flush().await?; // one writev, before the next read may wait
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
mod tokio;
mod write;

pub use decode::{Decoded, Decoder, Endian, LengthDelimited, Lines};
pub use pools::{Pools, SplitSource};
pub use read::FrameReader;
#[cfg(feature = "tokio")]
pub use tokio::{AsyncFrameReader, AsyncFrameWriter, ReadReady};
pub use write::{FrameWriter, Outgoing};
