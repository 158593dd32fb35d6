//! The frame reader's state machine over arbitrary reads: any split of the
//! bytes into reads, with reads that would block, over small pooled
//! buffers (frames straddle them and move to a larger tier). The frames,
//! errors and end must be those of the decoder over all the bytes at once,
//! and every buffer must be home afterwards.
#![no_main]

use std::io::{self, Read};
use std::sync::Arc;

use iobuf::frame::{Decoder, FrameReader, Pools};
use iobuf::{MediumBufferPool, MicroBufferPool};
use iobuf_fuzz::{Ev, length_delimited, lines, reference, take};
use libfuzzer_sys::fuzz_target;

/// Hands out `data` in reads of the sizes in `splits` (cyclically); a size
/// of 0 is a read that would block (never twice in a row).
struct Reads<'a> {
    data: &'a [u8],
    splits: [u8; 8],
    k: usize,
    blocked: bool,
}

impl Read for Reads<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let split = usize::from(self.splits[self.k % 8]);
        self.k += 1;
        if split == 0 && !self.blocked && !self.data.is_empty() {
            self.blocked = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.blocked = false;
        let n = split.max(1).min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn run<D: Decoder + Clone>(decoder: D, splits: [u8; 8], data: &[u8]) {
    let micro = Arc::new(MicroBufferPool::new(3).unwrap());
    let medium = Arc::new(MediumBufferPool::new(3).unwrap());
    let pools = Pools::new(micro.clone()).with(medium.clone());
    let expected = reference(decoder.clone(), data);
    let source = Reads {
        data,
        splits,
        k: 0,
        blocked: false,
    };
    let Ok(mut reader) = FrameReader::new(source, decoder, pools) else {
        return; // a maximum above the largest tier, refused
    };
    let mut got = Vec::new();
    let mut blocked = 0;
    while got.len() <= data.len() + 1 {
        match reader.read_frame() {
            Ok(Some(frame)) => got.push(Ev::Frame(frame.to_vec())),
            Ok(None) => {
                got.push(Ev::End);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                blocked += 1;
                assert!(blocked <= 8 * data.len() + 8, "no progress");
            }
            Err(e) => {
                got.push(Ev::Err(e.kind()));
                // A decoder that goes on (a long line) keeps the reader
                // going, as the reference does; any other error ends it.
                if e.kind() == io::ErrorKind::UnexpectedEof || !reader.decoder_mut().can_resume() {
                    assert!(reader.read_frame().is_ok_and(|f| f.is_none()), "not ended");
                    break;
                }
            }
        }
    }
    assert_eq!(got, expected, "reader and reference differ");
    drop(reader);
    assert_eq!(
        (micro.available(), medium.available()),
        (3, 3),
        "a buffer is not home"
    );
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let [which] = take::<1>(&mut data);
    let splits = take::<8>(&mut data);
    if which & 1 == 0 {
        let decoder = length_delimited(&mut data, true);
        run(decoder, splits, data);
    } else {
        let decoder = lines(&mut data, true);
        run(decoder, splits, data);
    }
});
