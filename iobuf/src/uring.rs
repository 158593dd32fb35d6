//! io_uring provided-buffer rings fed by a pool (feature `io-uring`).
//!
//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19+) is an
//! array of `(address, length, buffer id)` entries that the application
//! fills and the kernel consumes: an operation submitted with a buffer
//! group instead of a buffer (a multishot `recv`, say) takes the next entry
//! only when data arrives. A server with 10 000 idle connections then needs
//! buffers for the active ones only.
//!
//! [`BufRing`] backs such a ring with a [`BoundedPool`]. Each entry is a
//! buffer taken from the pool, and its buffer id is its pool index. A
//! completion that carries `IORING_CQE_F_BUFFER` comes back, through
//! [`BufRing::completion`], as a [`Filled`] guard over that buffer with its
//! length set to the completion's result: held alone, as from
//! [`get`](BoundedPool::get), and back to the pool when dropped.
//!
//! # Replenishing
//!
//! Buffers go home to the pool, not to the ring: a held buffer may be
//! dropped on any thread, while the ring has one writer, the thread that
//! submits. The ring is refilled from the pool by an explicit
//! [`replenish`](BufRing::replenish), in a batch, with one store of the
//! tail for the whole batch. Call it once per turn of the event loop
//! (before submitting), and after an [`RecvError::NoBuffers`]. Between the
//! two, buffers are shared with every other user of the pool: the pool's
//! bound still holds, and a ring can run dry when the application holds
//! too many buffers too long. That is the `ENOBUFS` the kernel reports.
//!
//! # What cannot go wrong
//!
//! - A buffer is in the ring or held, never both: the ring keeps each
//!   entry's [`BufIndex`] token until a completion names its id, and gives
//!   it out once.
//! - A completion without `IORING_CQE_F_BUFFER` recycles nothing, and a
//!   completion naming an id the ring does not hold is an error
//!   ([`RecvError::UnknownBuffer`]), never a second holder.
//! - [`completion`](BufRing::completion) is `unsafe`: it trusts that the
//!   flags it is given come from a real completion of this ring, passed
//!   once (the kernel's consumer head is not in shared memory, so the ring
//!   cannot tell a made-up buffer id from a consumed one).
//! - Dropping the ring unregisters it and returns the buffers still in it
//!   to the pool; buffers the application holds go home when they drop.
//!   If the kernel refuses to unregister, the ring's memory and its
//!   buffers are leaked rather than reused while the kernel may still
//!   write to them. That happens when a ring of an
//!   `IORING_SETUP_SINGLE_ISSUER` io_uring is dropped on a thread other
//!   than the one that submits (the kernel accepts `io_uring_register`
//!   only from that thread there): drop it where it was made.
//! - The pool is `&'static` (a `buffer_pools!` singleton, or a pool leaked
//!   with `Box::leak`): even a ring that is leaked (`mem::forget`) keeps
//!   its registration, and the kernel may write to the buffers in it, so
//!   they must never be freed.
//! - [`PoolStats::provided`](crate::PoolStats::provided) counts the buffers
//!   in rings; they count in `in_use` too.
//!
//! # The one rule for submitters
//!
//! Submitting an entry is `unsafe` in the `io-uring` crate, because the
//! kernel may write to what it names. For an operation that selects from
//! this ring's buffer group, that obligation is: **the operation completes
//! (its last completion is reaped) before the ring is dropped**; cancel it
//! (`AsyncCancel`) and reap it first. Closing the io_uring does not do:
//! the ring keeps its own descriptor of it, and teardown is asynchronous.
//! A `recv` forced to a kernel worker thread (`IOSQE_ASYNC`) takes its
//! buffer when it starts and writes to it when data comes, so dropping the
//! ring under it would hand a buffer back to the pool while the kernel can
//! still write to it.
//!
//! # Limits
//!
//! - Ring entries: a power of two, 1 to 32 768 (the kernel's limit).
//! - Buffer ids are `u16`: the pool may hold at most 65 536 buffers. A
//!   larger pool is refused with [`Error::InvalidArgument`]; use a pool per
//!   ring (`buffer_pools!` makes that one line).
//! - A buffer's size must fit the entry's `u32` length (all tiers do).
//! - Incremental consumption (`IOU_PBUF_RING_INC`, 6.12) is not used: each
//!   completion consumes its whole buffer.
//! - Bundles (`IORING_RECVSEND_BUNDLE`, 6.10), where one completion
//!   consumes several buffers, are not supported: do not set the flag on
//!   operations that select from this ring ([`completion`](BufRing::completion)
//!   refuses a count larger than one buffer).
//!
//! # Example
//!
//! ```no_run
//! use io_uring::{IoUring, opcode, types};
//! use iobuf::uring::{BufRing, RecvError};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let fd = 0;
//! let pool = Box::leak(Box::new(iobuf::SmallBufferPool::new(256)?)); // 'static
//! let mut uring = IoUring::new(64)?;
//! let mut bufs = BufRing::new(&uring, pool, 7, 128)?;   // group 7, 128 entries
//!
//! let recv = opcode::RecvMulti::new(types::Fd(fd), bufs.group()).build().user_data(1);
//! // SAFETY: the recv completes before `bufs` drops: it is cancelled and
//! // its last completion reaped below (the one rule above).
//! unsafe { uring.submission().push(&recv)? };
//! uring.submit_and_wait(1)?;
//! let cqes: Vec<_> = uring.completion().collect();
//! for cqe in cqes {
//!     // SAFETY: a completion just reaped from `uring`, of the recv on this
//!     // ring's group, passed once.
//!     match unsafe { bufs.completion(cqe.result(), cqe.flags()) } {
//!         Ok(Some(data)) => println!("{} bytes", data.len()), // dropped: home
//!         Ok(None) => println!("peer closed"),
//!         Err(RecvError::NoBuffers) => { bufs.replenish(); /* re-arm */ }
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! // Done: cancel the recv and wait for its last completion (one without
//! // IORING_CQE_F_MORE) before `bufs` drops.
//! let cancel = opcode::AsyncCancel::new(1).build().user_data(2);
//! // SAFETY: a cancel names no memory.
//! unsafe { uring.submission().push(&cancel)? };
//! 'drain: loop {
//!     uring.submit_and_wait(1)?;
//!     for cqe in uring.completion() {
//!         if cqe.user_data() == 1 {
//!             // SAFETY: as above.
//!             drop(unsafe { bufs.completion(cqe.result(), cqe.flags()) });
//!             if !io_uring::cqueue::more(cqe.flags()) {
//!                 break 'drain;
//!             }
//!         }
//!     }
//! }
//! drop(bufs);
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::mem::offset_of;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::ptr::NonNull;
// Not `crate::sync`: the tail is shared with the kernel, not with loom's
// model threads, so it must be a real atomic in every build.
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, cqueue, squeue};

use crate::mem::{AlignedMem, aligned_mem, page_size};
use crate::pool::{BoundedPool, BufIndex, Pooled};
use crate::{BufferTier, Error, Filled};

/// The kernel's ring entry, `struct io_uring_buf`. The `resv` field of
/// entry 0 is the ring's tail, written only as an atomic.
#[repr(C)]
struct Entry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(size_of::<Entry>() == 16);

/// The kernel's `struct io_uring_buf_reg`, for unregistering in `Drop`.
#[repr(C)]
#[derive(Default)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

const _: () = assert!(size_of::<BufReg>() == 40);

/// `IORING_UNREGISTER_PBUF_RING`.
const UNREGISTER_PBUF_RING: libc::c_uint = 23;

/// The most entries the kernel accepts in one ring.
pub const MAX_ENTRIES: u16 = 1 << 15;

/// A provided-buffer ring of one io_uring, fed by a pool. See the
/// [module docs](self).
pub struct BufRing<T: 'static> {
    pool: &'static BoundedPool<T>,
    /// A duplicate of the io_uring's descriptor, so that `Drop` can
    /// unregister the ring whenever the application closes its own (the
    /// `IoUring` cannot be borrowed: submitting needs it mutably).
    uring: OwnedFd,
    /// The entries, shared with the kernel; `entries * 16` bytes,
    /// page-aligned. Reached only through `base`.
    mem: Option<AlignedMem>,
    base: NonNull<Entry>,
    entries: u16,
    group: u16,
    /// The tail as last published: entries `tail - in_ring .. tail` (mod
    /// `entries`) may still be read by the kernel.
    tail: u16,
    /// The token of each buffer id in the ring (or picked by the kernel but
    /// not yet seen in a completion). `Some` exactly for those; their count
    /// is `in_ring`.
    slots: Box<[Option<BufIndex>]>,
    in_ring: usize,
}

// SAFETY: the ring's memory and tokens are owned (the raw `base` points into
// `mem`, which moves with the ring), and its pool reference is `Sync` when
// `T: Send` (`BoundedPool: Sync`), so moving the ring to another thread is
// as safe as moving a `Pooled`.
unsafe impl<T: Send> Send for BufRing<T> {}

impl<T: BufferTier> BufRing<T> {
    /// Creates a ring of `entries` entries for buffer group `group` of
    /// `uring`, fills it with buffers taken from `pool` (as many as are free
    /// now, up to `entries`), and registers it.
    ///
    /// Allocates the ring (16 bytes per entry) and a table of one slot per
    /// pool buffer; nothing after that.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`]: `entries` is not a power of two in
    ///   `1..=32768`, the pool holds more than 65 536 buffers (ids are
    ///   `u16`), or the buffer is larger than 4 GiB;
    /// - [`Error::Alloc`]: the ring could not be allocated;
    /// - [`Error::Os`]: the descriptor could not be duplicated (`EMFILE`),
    ///   or the kernel refused the registration (`EINVAL` before 5.19,
    ///   `EEXIST` for a group already registered or, on a
    ///   `SINGLE_ISSUER` io_uring, a call from another thread); nothing
    ///   was taken from the pool then.
    pub fn new<S, C>(
        uring: &IoUring<S, C>,
        pool: &'static BoundedPool<T>,
        group: u16,
        entries: u16,
    ) -> Result<Self, Error>
    where
        S: squeue::EntryMarker,
        C: cqueue::EntryMarker,
    {
        if !entries.is_power_of_two() || entries > MAX_ENTRIES {
            return Err(Error::invalid(format!(
                "a provided-buffer ring holds a power of two of 1 to 32768 entries, not {entries}"
            )));
        }
        if pool.capacity() > 1 << 16 {
            return Err(Error::invalid(format!(
                "a pool of {} buffers has ids beyond u16: a provided-buffer ring takes pools of \
                 at most 65536",
                pool.capacity()
            )));
        }
        if u32::try_from(T::SIZE).is_err() {
            return Err(Error::invalid(format!(
                "a buffer of {} bytes does not fit a ring entry's u32 length",
                T::SIZE
            )));
        }
        let mut mem = aligned_mem(usize::from(entries) * size_of::<Entry>(), page_size())?;
        let base = NonNull::from(&mut mem[..]).cast::<Entry>();
        let dup = uring
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::os("dup of the io_uring descriptor", e))?;
        // SAFETY: `mem` is `entries` zeroed, page-aligned entries that stay
        // allocated for as long as they are registered: only `Drop` frees
        // them, after unregistering (through the duplicated descriptor,
        // whatever became of the application's); if that fails, or the ring
        // is leaked, they are never freed.
        let registered = unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(base.as_ptr() as u64, entries, group, 0)
        };
        registered.map_err(|e| Error::os("IORING_REGISTER_PBUF_RING", e))?;
        let mut ring = BufRing {
            pool,
            uring: dup,
            mem: Some(mem),
            base,
            entries,
            group,
            tail: 0,
            slots: (0..pool.capacity()).map(|_| None).collect(),
            in_ring: 0,
        };
        ring.replenish();
        Ok(ring)
    }

    /// The buffer group id: what operations name to select from this ring.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The number of entries.
    pub fn entries(&self) -> usize {
        usize::from(self.entries)
    }

    /// Buffers in the ring now (including any the kernel picked for a
    /// completion not yet passed to [`completion`](Self::completion)).
    pub fn len(&self) -> usize {
        self.in_ring
    }

    /// Whether the ring holds no buffer (the next selecting operation will
    /// fail with `ENOBUFS`).
    pub fn is_empty(&self) -> bool {
        self.in_ring == 0
    }

    /// The pool the ring draws from.
    pub fn pool(&self) -> &'static BoundedPool<T> {
        self.pool
    }

    /// Refills the ring from the pool with as many free buffers as fit, and
    /// publishes them to the kernel with one store; returns how many were
    /// added. Never waits: a pool with no free buffer adds none. As
    /// [`BoundedPool::try_get`] for locks and allocation.
    pub fn replenish(&mut self) -> usize {
        let mask = self.entries - 1;
        let mut added: u16 = 0;
        while self.in_ring < usize::from(self.entries) {
            let Ok(mut token) = self.pool.try_get_index() else {
                break;
            };
            let id = token.index();
            let addr = self.pool.value_mut(&mut token).as_bytes_mut().as_mut_ptr() as u64;
            let at = usize::from(self.tail.wrapping_add(added) & mask);
            // SAFETY: `at < entries`, inside `mem`. The kernel reads only
            // the entries between its head and the published tail, at most
            // `in_ring` before `tail`, and `in_ring < entries`, so entry
            // `tail + added` is ours to write. Only `addr`, `len` and `bid`
            // are written: entry 0's `resv` is the tail, which is atomic.
            unsafe { self.write_entry(at, addr, T::SIZE as u32, id as u16) };
            debug_assert!(
                self.slots[id as usize].is_none(),
                "buffer {id} is in the ring already"
            );
            self.slots[id as usize] = Some(token);
            self.in_ring += 1;
            added += 1;
        }
        if added > 0 {
            self.tail = self.tail.wrapping_add(added);
            // ORDERING: Release: the kernel reads the tail with an acquire
            // load (`smp_load_acquire(&br->tail)`) and then the entries
            // before it, so the entries written above must be visible
            // before the new tail is: liburing's
            // `io_uring_buf_ring_advance` is the same store-release.
            self.tail_atomic().store(self.tail, Ordering::Release);
            self.pool.note_provided(usize::from(added), true);
        }
        usize::from(added)
    }

    /// What a completion of an operation that selected from this ring
    /// delivered, from its `result` and `flags` (`cqueue::Entry::result`
    /// and `flags`):
    ///
    /// - `Ok(Some(buf))`: the buffer the completion names, held alone,
    ///   with its length set to `result`; dropping it returns it to the
    ///   pool;
    /// - `Ok(None)`: no data and no error: the end of a stream (`result`
    ///   0; a buffer it carries goes back to the pool), or a completion
    ///   without `IORING_CQE_F_BUFFER`;
    /// - `Err(RecvError::NoBuffers)`: `ENOBUFS`, the ring was empty; the
    ///   operation ended (multishot ones too). [`replenish`](Self::replenish)
    ///   and submit it again;
    /// - `Err(RecvError::Os(e))`: the operation failed; if the completion
    ///   carried a buffer, it went back to the pool;
    /// - `Err(RecvError::UnknownBuffer(id))`: the completion names a buffer
    ///   this ring does not hold (made up, or of another group); nothing
    ///   was recycled. A replayed completion may be caught this way, but
    ///   only may: see the safety contract.
    ///
    /// Only a completion with `IORING_CQE_F_BUFFER` set gives a buffer out,
    /// whatever its result.
    ///
    /// # Safety
    ///
    /// If `flags` names a buffer id that this ring holds, the kernel must
    /// have consumed that buffer from this ring for this very completion,
    /// and this completion must not have been passed before: in practice,
    /// pass each completion reaped from the io_uring this ring is
    /// registered with, of an operation that selected from its group, once.
    ///
    /// The ring cannot check this itself. The kernel's consumer head is not
    /// in shared memory, so made-up or replayed flags naming a buffer still
    /// in the ring would hand out a buffer the kernel may write to. Ids the
    /// ring does not hold carry no obligation: they are refused with
    /// [`RecvError::UnknownBuffer`].
    pub unsafe fn completion(
        &mut self,
        result: i32,
        flags: u32,
    ) -> Result<Option<Filled<Pooled<'static, T>>>, RecvError> {
        let held = match cqueue::buffer_select(flags) {
            Some(id) => Some(self.take(id)?),
            None => None,
        };
        if result < 0 {
            drop(held);
            return Err(match -result {
                libc::ENOBUFS => RecvError::NoBuffers,
                errno => RecvError::Os(io::Error::from_raw_os_error(errno)),
            });
        }
        match held {
            // A count past the buffer cannot be this ring's completion (one
            // of another group, passed here by mistake): refuse it rather
            // than cut it short. The buffer goes home.
            Some(_) if result as usize > T::SIZE => Err(RecvError::Os(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a completion of {result} bytes into a buffer of {}",
                    T::SIZE
                ),
            ))),
            // A count of 0 is the end of the stream; its buffer goes home.
            Some(_) if result == 0 => Ok(None),
            Some(buf) => Ok(Some(Filled::with_len(buf, result as usize))),
            None => Ok(None),
        }
    }

    /// The buffer with id `id`, out of the ring and into a guard.
    fn take(&mut self, id: u16) -> Result<Pooled<'static, T>, RecvError> {
        let token = self
            .slots
            .get_mut(usize::from(id))
            .and_then(Option::take)
            .ok_or(RecvError::UnknownBuffer(id))?;
        self.in_ring -= 1;
        self.pool.note_provided(1, false);
        Ok(Pooled::from_index(self.pool, token))
    }

    /// Writes one entry's address, length and id.
    ///
    /// # Safety
    ///
    /// `at < entries`, and the kernel does not read entry `at` now (it is
    /// not between the kernel's head and the published tail).
    unsafe fn write_entry(&mut self, at: usize, addr: u64, len: u32, bid: u16) {
        // SAFETY: the caller's contract puts entry `at` inside `mem`, where
        // `base` is valid for writes for as long as `mem` lives; each field
        // is aligned (`mem` is page-aligned, entries are 16 bytes,
        // `repr(C)`). The writes go through field pointers, so no reference
        // covers `resv`, which may be the atomic tail.
        unsafe { self.field::<u64>(at, offset_of!(Entry, addr)).write(addr) };
        // SAFETY: as above.
        unsafe { self.field::<u32>(at, offset_of!(Entry, len)).write(len) };
        // SAFETY: as above.
        unsafe { self.field::<u16>(at, offset_of!(Entry, bid)).write(bid) };
    }

    /// A pointer to field `offset` of entry `at`, for the callers to prove
    /// in bounds.
    fn field<F>(&self, at: usize, offset: usize) -> *mut F {
        self.base
            .as_ptr()
            .wrapping_add(at)
            .wrapping_byte_add(offset)
            .cast()
    }

    /// The ring's tail: the `resv` field of entry 0.
    fn tail_atomic(&self) -> &AtomicU16 {
        // SAFETY: entry 0's `resv` is inside `mem`, 2-aligned (offset 14 of
        // a page-aligned block), valid while `self` is, and accessed by this
        // process only as this atomic (the kernel reads it with atomic
        // loads): never through a reference or a plain access
        // (`write_entry` skips it).
        unsafe { AtomicU16::from_ptr(self.field(0, offset_of!(Entry, resv))) }
    }
}

impl<T> Drop for BufRing<T> {
    fn drop(&mut self) {
        let reg = BufReg {
            bgid: self.group,
            ..BufReg::default()
        };
        // SAFETY: `io_uring_register(2)` on the io_uring our descriptor
        // keeps open, with a valid `io_uring_buf_reg` that outlives the call
        // (read by the kernel only during it).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.uring.as_raw_fd(),
                UNREGISTER_PBUF_RING,
                &raw const reg,
                1,
            )
        };
        let slots = std::mem::take(&mut self.slots);
        if rc != 0 {
            // The kernel may still read the entries and write the buffers:
            // keep both forever rather than let them be reused.
            std::mem::forget(self.mem.take());
            std::mem::forget(slots);
            return;
        }
        // Unregistered: the kernel picks no more entries, so the buffers
        // still in the ring are the pool's again.
        let returned = slots
            .into_vec()
            .into_iter()
            .flatten()
            .map(|token| self.pool.put(token))
            .count();
        self.pool.note_provided(returned, false);
    }
}

impl<T> fmt::Debug for BufRing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group", &self.group)
            .field("entries", &self.entries)
            .field("in_ring", &self.in_ring)
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

/// Why a completion of an operation that selected from a [`BufRing`]
/// carries no data.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// `ENOBUFS`: the ring was empty when data came, and the operation
    /// ended (a multishot one too). Call [`BufRing::replenish`] (after
    /// dropping buffers you hold, if the pool is dry) and submit the
    /// operation again.
    NoBuffers,
    /// The operation failed with this error (its buffer, if it carried
    /// one, went back to the pool).
    Os(io::Error),
    /// The completion names buffer id `.0`, which the ring does not hold:
    /// made up, or of another buffer group. Nothing was recycled. (A
    /// replayed completion is undefined behaviour, not this error: see
    /// [`BufRing::completion`].)
    UnknownBuffer(u16),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::NoBuffers => f.write_str(
                "the provided-buffer ring ran empty (ENOBUFS): replenish it and resubmit",
            ),
            RecvError::Os(e) => write!(f, "the operation failed: {e}"),
            RecvError::UnknownBuffer(id) => {
                write!(
                    f,
                    "the completion names buffer {id}, which the ring does not hold"
                )
            }
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RecvError> for io::Error {
    fn from(e: RecvError) -> io::Error {
        match e {
            RecvError::NoBuffers => io::Error::from_raw_os_error(libc::ENOBUFS),
            RecvError::Os(e) => e,
            RecvError::UnknownBuffer(_) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
