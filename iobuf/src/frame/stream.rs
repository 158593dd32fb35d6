//! `Stream` and `Sink` for the async frame reader and writer (feature
//! `tokio`): the traits of `futures-core` and `futures-sink`, so that
//! `StreamExt`/`SinkExt` (`next`, `send_all`, `forward`) apply.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};

use super::decode::Decoder;
use super::tokio::{AsyncFrameReader, AsyncFrameWriter};
use super::write::Outgoing;
use crate::shared::View;

impl<R: AsyncRead + Unpin, D: Decoder + Unpin> Stream for AsyncFrameReader<R, D> {
    type Item = io::Result<View>;

    /// [`poll_read_frame`](AsyncFrameReader::poll_read_frame), transposed:
    /// `None` at the end of the stream and after an error that ends it.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_read_frame(cx).map(Result::transpose)
    }
}

impl<R: AsyncRead + Unpin, D: Decoder + Unpin> FusedStream for AsyncFrameReader<R, D> {
    fn is_terminated(&self) -> bool {
        self.is_done()
    }
}

impl<W: AsyncWrite + Unpin, T: Into<Outgoing>> Sink<T> for AsyncFrameWriter<W> {
    type Error = io::Error;

    /// Writes while the high-water mark or more is queued (as `send`).
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_below_mark(cx)
    }

    /// Queues the frame (as `feed`).
    fn start_send(self: Pin<&mut Self>, frame: T) -> io::Result<()> {
        self.get_mut().feed(frame);
        Ok(())
    }

    /// Writes every queued frame, then flushes the destination.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncFrameWriter::poll_flush(self.get_mut(), cx)
    }

    /// Flushes, then shuts the destination down.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close(cx)
    }
}
