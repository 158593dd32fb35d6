//! `LengthDelimited` on any settings and bytes, shown as a reader shows
//! them (a growing prefix): every answer in range, no panic, no overflow.
#![no_main]

use iobuf::frame::{Decoded, Decoder};
use iobuf_fuzz::{check, length_delimited, take};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut decoder = length_delimited(&mut data, false);
    let [step] = take::<1>(&mut data);
    let _ = decoder.max_buffered_len();
    let _ = decoder.max_frame_length();
    let mut header = [0; 16];
    let _ = decoder.encode_header(data.len(), &mut header);
    let step = 1 + usize::from(step % 16);
    let (mut front, mut shown) = (0, 0);
    while front < data.len() {
        shown = (shown + step).min(data.len() - front);
        let buf = &data[front..front + shown];
        match decoder.decode(buf) {
            Err(_) => return,
            Ok(d) => {
                check(&d, shown);
                match d {
                    Decoded::Frame { consumed, .. } => {
                        front += consumed;
                        shown = 0;
                    }
                    Decoded::Skip(n) => {
                        front += n;
                        shown = 0;
                    }
                    _ if front + shown == data.len() => {
                        let _ = decoder.decode_eof(buf);
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
});
