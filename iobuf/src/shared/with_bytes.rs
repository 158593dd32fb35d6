//! `bytes` integration (feature `bytes`): [`View`] as `Buf` and into
//! `Bytes`, [`SplitBuf`] as `BufMut`.

use bytes::{Buf, BufMut, Bytes};

use super::{SplitBuf, View};

impl Buf for View {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.as_slice()
    }

    fn advance(&mut self, cnt: usize) {
        self.advance_by(cnt);
    }

    /// A view of the next `len` bytes: no copy, no allocation.
    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        self.split_to(len).into_bytes()
    }
}

impl View {
    /// The view as `bytes::Bytes`, with no copy: `Bytes::from_owner`, which
    /// allocates once (its shared header), here. The buffer goes home when
    /// the last `Bytes` clone is dropped too.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl From<View> for Bytes {
    fn from(view: View) -> Bytes {
        view.into_bytes()
    }
}

// SAFETY: `chunk_mut` is the unfilled tail, which is initialised bytes
// (pooled buffers always are) of length `remaining_mut()`; `advance_mut`
// commits at most that much (`commit` checks), so only written bytes
// become filled.
unsafe impl BufMut for SplitBuf {
    fn remaining_mut(&self) -> usize {
        self.remaining_capacity()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        self.commit(cnt);
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        bytes::buf::UninitSlice::new(self.unfilled_mut())
    }
}
