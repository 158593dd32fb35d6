//! What `frame_echo` and `idle_connections` share: the frames (a u32
//! big-endian length, then 0 to 64 KiB of payload), the sizes and byte
//! patterns every echoed byte is checked against, the hand-written
//! `BytesMut` server's helpers, and the pipelining client's two halves.
//! Each example includes it with `#[path]`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Bytes of the length field before each payload.
pub const HEADER: usize = 4;

/// The longest payload.
pub const MAX_PAYLOAD: usize = 64 << 10;

/// How payload sizes are drawn.
#[allow(dead_code)] // `idle_connections` uses only the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dist {
    /// 1 % empty, 60 % 1 ..= 2 KiB, 25 % 2 KiB ..= 8 KiB, 14 % 8 KiB ..=
    /// 64 KiB.
    #[default]
    Mix,
    /// 16 ..= 200 bytes, uniform.
    Tiny,
    /// 60 % 16 B ..= 2 KiB, 25 % 2 KiB ..= 8 KiB, 15 % 8 KiB ..= 60 KiB.
    Mixed,
}

#[allow(dead_code)] // `idle_connections` uses only the default.
impl Dist {
    /// The longest payload this distribution draws.
    pub fn max_payload(self) -> usize {
        match self {
            Dist::Mix => MAX_PAYLOAD,
            Dist::Tiny => 200,
            Dist::Mixed => 60 << 10,
        }
    }
}

/// The payload sizes of one connection, the same sequence for every server.
#[derive(Clone, Debug)]
pub struct Sizes(u64, Dist);

impl Sizes {
    /// The sizes of connection `conn`, drawn as `Dist::Mix`.
    #[allow(dead_code)] // `frame_echo` draws by its load.
    pub fn new(conn: usize) -> Self {
        Sizes(conn as u64, Dist::Mix)
    }

    /// The sizes of connection `conn`, drawn as `dist`.
    #[allow(dead_code)] // `idle_connections` uses only the default.
    pub fn with_dist(conn: usize, dist: Dist) -> Self {
        Sizes(conn as u64, dist)
    }

    /// The next payload size (see [`Dist`]).
    pub fn next_len(&mut self) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let r = mix(self.0);
        let pick = r % 100;
        // The high half picks the size within the class, the low bits the
        // class: the two stay independent.
        let within = (r >> 32) as usize;
        match (self.1, pick) {
            (Dist::Tiny, _) => 16 + within % (200 - 16 + 1),
            (Dist::Mix, 0) => 0,
            (Dist::Mix, 1..=60) => 1 + within % (2 << 10),
            (Dist::Mixed, 0..=59) => 16 + within % ((2 << 10) - 16 + 1),
            (Dist::Mix, 61..=85) | (Dist::Mixed, 60..=84) => (2 << 10) + 1 + within % (6 << 10),
            (dist, _) => (8 << 10) + 1 + within % (dist.max_payload() - (8 << 10)),
        }
    }
}

/// splitmix64's finaliser: every input bit reaches every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Random bytes that frames are cut from: `2 * MAX_PAYLOAD` of them, so
/// that a payload starting anywhere in the first half fits.
pub fn pattern_table() -> &'static [u8] {
    static TABLE: OnceLock<Box<[u8]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..2 * MAX_PAYLOAD as u64)
            .map(|i| mix(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as u8)
            .collect()
    })
}

/// Writes frame `frame` of connection `conn` into `out`: its header, then
/// `len` bytes of a pattern that differs per connection, frame and offset,
/// so a misplaced, stale or crossed byte shows: random bytes from an offset
/// of the table, xored with a byte, both drawn from the connection and the
/// frame number. (A copy and an xor: the client checks what it sent, and
/// must stay cheaper than the servers it measures.)
pub fn fill_frame(out: &mut Vec<u8>, conn: usize, frame: usize, len: usize) {
    let r = mix(((conn as u64) << 40) ^ frame as u64);
    let (start, key) = ((r % MAX_PAYLOAD as u64) as usize, (r >> 56) as u8);
    out.clear();
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend(pattern_table()[start..start + len].iter().map(|b| b ^ key));
}

/// The length of the complete frame at the front of `buf`, header
/// included, if it is all there.
pub fn complete_frame(buf: &[u8]) -> io::Result<Option<usize>> {
    let Some(header) = buf.first_chunk::<HEADER>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*header) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes, over {MAX_PAYLOAD}"),
        ));
    }
    Ok((buf.len() >= HEADER + len).then_some(HEADER + len))
}

/// Writes every frame of `queue` with vectored writes, up to 64 a call.
pub async fn write_queue(
    io: &mut (impl AsyncWrite + Unpin),
    queue: &mut VecDeque<Bytes>,
) -> io::Result<()> {
    while !queue.is_empty() {
        let mut written = {
            let mut slices = [IoSlice::new(&[]); 64];
            let n = slices.len().min(queue.len());
            for (slice, frame) in slices.iter_mut().zip(queue.iter()) {
                *slice = IoSlice::new(frame);
            }
            io.write_vectored(&slices[..n]).await?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let front = queue.front_mut().expect("written bytes were queued");
            if written < front.len() {
                front.advance(written);
                break;
            }
            written -= front.len();
            queue.pop_front();
        }
    }
    Ok(())
}

/// What one client connection saw.
#[derive(Debug, Default)]
pub struct ConnLoad {
    /// Bytes of the measured frames, headers included.
    pub measured_bytes: u64,
    /// Echoed bytes compared with those sent.
    pub bytes_checked: u64,
    /// Of those, the ones that differed (must be 0).
    pub mismatches: u64,
}

/// One connection's frames on their way: the last `in_flight` frames sent,
/// kept until their echo is checked, and a permit per free slot.
#[derive(Debug)]
pub struct InFlight {
    conn: usize,
    /// Frame `f` is in slot `f % slots.len()`, from before it is written
    /// until its echo is checked. The locks are never held across an
    /// await: the writer and the reader are two futures of one task.
    slots: Vec<Mutex<Vec<u8>>>,
    permits: Semaphore,
}

impl InFlight {
    /// Room for `in_flight` frames of connection `conn`, each slot
    /// allocated for the longest frame up front.
    #[allow(dead_code)] // `frame_echo` sizes its slots by its load.
    pub fn new(conn: usize, in_flight: usize) -> Self {
        Self::with_max(conn, in_flight, MAX_PAYLOAD)
    }

    /// As `new`, for payloads of at most `max_payload` bytes.
    pub fn with_max(conn: usize, in_flight: usize, max_payload: usize) -> Self {
        InFlight {
            conn,
            slots: (0..in_flight)
                .map(|_| Mutex::new(Vec::with_capacity(HEADER + max_payload)))
                .collect(),
            permits: Semaphore::new(in_flight),
        }
    }
}

/// Writes frames `frames`: each time slots are free, every frame they
/// allow in one write (a pipelining client batches; a write per frame
/// would make the client, not the server, the bottleneck sooner).
pub async fn send_frames(
    tx: &mut (impl AsyncWrite + Unpin),
    flight: &InFlight,
    sizes: &mut Sizes,
    frames: Range<usize>,
    batch: &mut Vec<u8>,
    measured_bytes: &mut u64,
) -> io::Result<()> {
    let mut next = frames.start;
    while next < frames.end {
        flight
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
            .forget();
        let mut n = 1;
        while next + n < frames.end {
            match flight.permits.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => break,
            }
            n += 1;
        }
        batch.clear();
        for frame in next..next + n {
            let mut slot = flight.slots[frame % flight.slots.len()].lock().unwrap();
            fill_frame(&mut slot, flight.conn, frame, sizes.next_len());
            batch.extend_from_slice(&slot);
        }
        next += n;
        *measured_bytes += batch.len() as u64;
        tx.write_all(batch).await?;
    }
    Ok(())
}

/// Reads the echoes of frames `frames` and compares every byte with the
/// frame sent; frees each frame's slot once its echo is checked.
pub async fn check_echoes(
    rx: &mut (impl AsyncRead + Unpin),
    flight: &InFlight,
    sizes: &mut Sizes,
    frames: Range<usize>,
    buf: &mut [u8],
    load: &mut ConnLoad,
) -> io::Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    let (mut frame, end) = (frames.start, frames.end);
    let mut offset = 0;
    let mut expected = HEADER + sizes.next_len();
    while frame < end {
        let n = rx.read(buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the server closed with echoes of frames {frame}..{end} missing"),
            ));
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            if frame == end {
                return Err(io::Error::other("the server echoed more bytes than sent"));
            }
            let slot = flight.slots[frame % flight.slots.len()].lock().unwrap();
            if slot.len() != expected {
                return Err(io::Error::other(format!(
                    "an echo of frame {frame} arrived before the frame was sent"
                )));
            }
            let m = data.len().min(expected - offset);
            let (got, sent) = (&data[..m], &slot[offset..offset + m]);
            if got != sent {
                load.mismatches += got.iter().zip(sent).filter(|(a, b)| a != b).count() as u64;
            }
            load.bytes_checked += m as u64;
            drop(slot);
            data = &data[m..];
            offset += m;
            if offset == expected {
                frame += 1;
                offset = 0;
                flight.permits.add_permits(1);
                if frame < end {
                    expected = HEADER + sizes.next_len();
                }
            }
        }
    }
    Ok(())
}
