//! Plain byte-block buffer types: the [`BufferTier`] trait and the thirteen
//! standard buffers.

use std::alloc::{self, Layout};
use std::fmt;
use std::io::{IoSlice, IoSliceMut};
use std::mem::{align_of, size_of};

use crate::iovec::types::{IoVec, IoVecMut};
use crate::tier::{self, BUFFER_SIZE_LARGE, Tier, for_each_tier};

/// A plain block of bytes that pools hold and I/O reads into and writes from.
///
/// # Safety
///
/// Implement it with `#[derive(BufferTier)]`, never by hand. The provided
/// methods rely on three facts, and the trait itself checks them at compile
/// time, whatever path or attribute the derive was given:
///
/// - every field is a byte array `[u8; N]`, so every bit pattern is a valid
///   value and the type holds no pointers: the derive names each field type
///   in the hidden `__require_byte_array`, whose bound (a sealed trait
///   implemented only for `[u8; N]`) is this trait's own;
/// - the type has no padding: its size is the sum of its fields', so every
///   byte of it is initialised;
/// - its size is not zero.
///
/// The last two are asserted by the hidden constant `__LAYOUT` over the
/// field list `__Fields`, defined here (so no item of the deriving crate can
/// stand in for `size_of` or `assert!`), forced by the derive's output and
/// again by every provided method that depends on it.
///
/// # Examples
///
/// ```
/// use iobuf::BufferTier;
///
/// #[derive(BufferTier)]
/// #[repr(C)]
/// struct Frame {
///     header: [u8; 16],
///     payload: [u8; 2032],
/// }
///
/// assert_eq!(Frame::SIZE, 2048);
/// assert_eq!(Frame::TIER, Some(iobuf::Tier::Small));
/// let mut frame = Frame::zeroed_box();
/// frame.payload[0] = 1;
/// assert_eq!(frame.as_bytes()[16], 1);
/// ```
pub unsafe trait BufferTier: Sized + Send + Sync + 'static {
    /// The size of the type in bytes.
    const SIZE: usize = layout_size::<Self>();

    /// The tier whose size equals [`SIZE`](Self::SIZE), if one does.
    const TIER: Option<Tier> = Tier::exact(size_of::<Self>());

    /// Not public API: the field types as nested pairs `(F1, (F2, ()))`,
    /// written by the derive; `__LAYOUT` compares their total size with
    /// `Self`'s.
    #[doc(hidden)]
    type __Fields: ByteFields;

    /// Not public API: compiles only for a byte array `F`. The derive names
    /// it once per field type, through this trait, so the check is this
    /// trait's own whatever path the derive was given.
    #[doc(hidden)]
    fn __require_byte_array<F: ByteArray>() {}

    /// Not public API: evaluating it proves that `Self` is exactly its byte
    /// arrays (no padding) and not empty.
    #[doc(hidden)]
    const __LAYOUT: () = {
        assert!(
            size_of::<Self>() == <Self::__Fields as ByteFields>::LEN,
            "a `BufferTier` type must have no padding: its size must be the sum of its byte \
             arrays (is `repr(align)` larger than its fields?)"
        );
        assert!(
            size_of::<Self>() != 0,
            "a `BufferTier` type needs at least one byte"
        );
    };

    /// The buffer's bytes.
    fn as_bytes(&self) -> &[u8] {
        let len = layout_size::<Self>();
        // SAFETY: Self has no padding (`__LAYOUT`, forced by `layout_size`),
        // so all `len` bytes behind `self` are initialised, and they live as
        // long as the borrow.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<u8>(), len) }
    }

    /// The buffer's bytes, for writing.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = layout_size::<Self>();
        // SAFETY: as in `as_bytes`; moreover every bit pattern is a valid
        // Self (only byte arrays, `__Fields`), so any bytes written leave a
        // valid value, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast::<u8>(), len) }
    }

    /// The buffer as a std [`IoSlice`], for `write_vectored`.
    fn io_slice(&self) -> IoSlice<'_> {
        IoSlice::new(self.as_bytes())
    }

    /// The buffer as a std [`IoSliceMut`], for `read_vectored`.
    fn io_slice_mut(&mut self) -> IoSliceMut<'_> {
        IoSliceMut::new(self.as_bytes_mut())
    }

    /// The buffer as an [`IoVec`] over shared bytes: for `writev` and other
    /// calls in which the kernel only reads.
    fn iovec(&self) -> IoVec<'_> {
        IoVec::from(self.as_bytes())
    }

    /// The buffer as an [`IoVecMut`] over exclusively borrowed bytes: for
    /// `readv`, `read_vectored` (through [`IoVecMut::as_io_slices_mut`]) and
    /// other calls that write the buffer.
    ///
    /// ```
    /// use iobuf::{BufferTier, PicoBuffer};
    /// let mut buf = PicoBuffer([0; 32]);
    /// buf.iovec_mut().as_mut_slice()[3] = 1;
    /// assert_eq!(buf.0[3], 1);
    /// ```
    fn iovec_mut(&mut self) -> IoVecMut<'_> {
        IoVecMut::from(self.as_bytes_mut())
    }

    /// A zeroed value on the heap, built there: the value never passes
    /// through the stack, so a 128 MiB buffer works on a thread with a small
    /// stack. Large sizes are lazily committed by the allocator.
    ///
    /// ```
    /// use iobuf::{BufferTier, TitanBuffer};
    /// let big = std::thread::Builder::new()
    ///     .stack_size(64 << 10)
    ///     .spawn(|| TitanBuffer::zeroed_box().as_bytes()[12345])
    ///     .unwrap()
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(big, 0);
    /// ```
    fn zeroed_box() -> Box<Self> {
        // `layout_size` forces `__LAYOUT`, which proves the size non-zero.
        let layout = Layout::from_size_align(layout_size::<Self>(), align_of::<Self>())
            .expect("the layout of a type is valid");
        // SAFETY: the layout's size is not zero (`__LAYOUT`, forced above).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        if raw.is_null() {
            alloc::handle_alloc_error(layout);
        }
        // SAFETY: `raw` was allocated by the global allocator with Self's
        // layout, and zero bytes are a valid Self (byte arrays only), so Box
        // may own and later free it.
        unsafe { Box::from_raw(raw.cast::<Self>()) }
    }

    /// A zero-copy view of `bytes` as `Self`: `None` unless `bytes` is
    /// exactly [`SIZE`](Self::SIZE) long and suitably aligned.
    ///
    /// ```
    /// use iobuf::{BufferTier, PicoBuffer};
    /// let raw = [7u8; 32];
    /// assert_eq!(PicoBuffer::ref_from_bytes(&raw).unwrap().0[31], 7);
    /// assert!(PicoBuffer::ref_from_bytes(&raw[1..]).is_none());
    /// ```
    fn ref_from_bytes(bytes: &[u8]) -> Option<&Self> {
        if bytes.len() != layout_size::<Self>() || !is_aligned_for::<Self>(bytes) {
            return None;
        }
        // SAFETY: length and alignment were checked above; every bit pattern
        // is a valid Self; the borrow keeps `bytes` alive and unchanged.
        Some(unsafe { &*bytes.as_ptr().cast::<Self>() })
    }

    /// A zero-copy mutable view of `bytes` as `Self`, checked as
    /// [`ref_from_bytes`](Self::ref_from_bytes).
    fn mut_from_bytes(bytes: &mut [u8]) -> Option<&mut Self> {
        if bytes.len() != layout_size::<Self>() || !is_aligned_for::<Self>(bytes) {
            return None;
        }
        // SAFETY: as in `ref_from_bytes`; `&mut` makes the access exclusive
        // and any bytes written through Self keep `bytes` valid.
        Some(unsafe { &mut *bytes.as_mut_ptr().cast::<Self>() })
    }

    /// A zero-copy view of `bytes` as consecutive `Self`s: `None` unless the
    /// length is a whole multiple of [`SIZE`](Self::SIZE) and the start is
    /// suitably aligned.
    ///
    /// ```
    /// use iobuf::{BufferTier, PicoBuffer};
    /// let raw = [0u8; 96];
    /// assert_eq!(PicoBuffer::slice_from_bytes(&raw).unwrap().len(), 3);
    /// assert!(PicoBuffer::slice_from_bytes(&raw[..95]).is_none());
    /// ```
    fn slice_from_bytes(bytes: &[u8]) -> Option<&[Self]> {
        let size = layout_size::<Self>();
        if size == 0 || bytes.len() % size != 0 || !is_aligned_for::<Self>(bytes) {
            return None;
        }
        // SAFETY: the start is aligned, `len / size` values of Self fit
        // exactly, every bit pattern is valid, and the borrow keeps `bytes`.
        Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / size) })
    }

    /// A copy of [`SIZE`](Self::SIZE) bytes of `bytes` from `offset`, in a
    /// fresh zeroed box; `None` if they do not all lie inside `bytes`.
    ///
    /// ```
    /// use iobuf::{BufferTier, PicoBuffer};
    /// let raw: Vec<u8> = (0..40).collect();
    /// assert_eq!(PicoBuffer::read_from_bytes(&raw, 8).unwrap().0[0], 8);
    /// assert!(PicoBuffer::read_from_bytes(&raw, 9).is_none());
    /// ```
    fn read_from_bytes(bytes: &[u8], offset: usize) -> Option<Box<Self>> {
        let end = offset.checked_add(layout_size::<Self>())?;
        let src = bytes.get(offset..end)?;
        let mut value = Self::zeroed_box();
        value.as_bytes_mut().copy_from_slice(src);
        Some(value)
    }
}

/// `size_of::<T>()`, after forcing `T::__LAYOUT`: a type that reaches a
/// provided method has passed the trait's own layout checks (at compile
/// time: the constant is evaluated when the method is instantiated).
#[inline(always)]
pub(crate) const fn layout_size<T: BufferTier>() -> usize {
    let () = T::__LAYOUT;
    size_of::<T>()
}

fn is_aligned_for<T>(bytes: &[u8]) -> bool {
    (bytes.as_ptr() as usize) % align_of::<T>() == 0
}

/// Declares a standard buffer type with the derive, plus the conversions and
/// a contents-free `Debug` that every standard type shares.
macro_rules! standard_buffer {
    ($(#[$doc:meta])* $name:ident($size:path) = $tier:ident) => {
        $(#[$doc])*
        #[derive(crate::BufferTier)]
        #[buffer_tier(tier = $tier)]
        #[repr(transparent)]
        pub struct $name(pub [u8; $size]);

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl AsMut<[u8]> for $name {
            fn as_mut(&mut self) -> &mut [u8] {
                &mut self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &$size)
                    .field("tier", &Tier::$tier)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// One standard buffer type per row of the tier table.
macro_rules! tier_buffers {
    ($({
        $variant:ident, $name:literal, $size_const:ident = $size:expr, $doc_size:literal,
        $article:literal, $buffer:ident, $pool:ident, $use_case:literal
    })*) => {$(
        standard_buffer! {
            #[doc = concat!(
                $article, " ", $doc_size, " buffer ([`Tier::", stringify!($variant), "`])."
            )]
            $buffer(tier::$size_const) = $variant
        }
    )*};
}

for_each_tier!(tier_buffers);

standard_buffer! {
    /// A 128 KiB buffer meant for io_uring buffer registration
    /// (`register_buffers`); the same size as [`LargeBuffer`], a distinct type
    /// so registered and unregistered buffers cannot be mixed up.
    RegisterBuffer(BUFFER_SIZE_LARGE) = Large
}

// What the derive's checks name, through `__private` (not public API).

/// Keeps `ByteArray` and `ByteFields` closed: no crate but this one can
/// implement them, so their impls below are the only ones.
mod sealed {
    pub trait Sealed {}
}

/// Implemented for `[u8; N]` only (sealed): a field type the derive
/// accepts.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a byte array, so it cannot be a field of a `BufferTier`",
    label = "not `[u8; N]`",
    note = "every field of a `#[derive(BufferTier)]` type must be a byte array `[u8; N]`; \
            store numbers as bytes (e.g. `[u8; 4]` with `u32::from_le_bytes`) and keep \
            owned data such as `Vec<u8>` outside the buffer"
)]
pub trait ByteArray: sealed::Sealed {
    /// The array's length in bytes.
    const LEN: usize;
}

impl<const N: usize> sealed::Sealed for [u8; N] {}
impl<const N: usize> ByteArray for [u8; N] {
    const LEN: usize = N;
}

/// A list of types as nested pairs, `(A, (B, ()))` (sealed): the bound
/// of `BufferTier::__Fields`, which sums their sizes. (That each one is
/// a byte array is `BufferTier::__require_byte_array`'s check, made per
/// field so that an error points at the field.)
pub trait ByteFields: sealed::Sealed {
    /// The total size of the types in bytes.
    const LEN: usize;
}

impl sealed::Sealed for () {}
impl ByteFields for () {
    const LEN: usize = 0;
}

impl<A, B: ByteFields> sealed::Sealed for (A, B) {}
impl<A, B: ByteFields> ByteFields for (A, B) {
    const LEN: usize = core::mem::size_of::<A>() + B::LEN;
}
