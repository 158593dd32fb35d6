//! `Lines` on any maximum and bytes, shown as a reader shows them: every
//! answer in range, an over-long line discarded and the stream going on,
//! a line never longer than the maximum.
#![no_main]

use iobuf::frame::{Decoded, Decoder};
use iobuf_fuzz::{check, lines, take};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut decoder = lines(&mut data, false);
    let max = decoder.max_length();
    let _ = decoder.max_buffered_len();
    let [step] = take::<1>(&mut data);
    let step = 1 + usize::from(step % 16);
    let (mut front, mut shown) = (0, 0);
    let mut calls = 0;
    while front < data.len() {
        calls += 1;
        assert!(calls <= 4 * data.len() + 8, "no progress");
        shown = (shown + step).min(data.len() - front);
        let buf = &data[front..front + shown];
        let eof = front + shown == data.len();
        let decoded = if eof {
            decoder.decode_eof(buf)
        } else {
            decoder.decode(buf)
        };
        match decoded {
            Err(_) => assert!(decoder.can_resume(), "a Lines error always goes on"),
            Ok(d) => {
                check(&d, shown);
                match d {
                    Decoded::Frame { frame, consumed } => {
                        assert!(frame.end - frame.start <= max, "a line over the maximum");
                        assert!(!buf[frame].contains(&b'\n'));
                        front += consumed;
                        shown = 0;
                    }
                    Decoded::Skip(n) => {
                        front += n;
                        shown = 0;
                    }
                    _ => assert!(!eof, "decode_eof left bytes undecided"),
                }
            }
        }
    }
});
