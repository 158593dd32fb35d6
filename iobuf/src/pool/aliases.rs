//! The pool type of each standard buffer: one alias per row of the tier
//! table (`crate::tier::for_each_tier!`), plus [`RegisterBufferPool`].

/// One `BoundedPool` alias per row of the tier table.
macro_rules! pool_aliases {
    ($({
        $variant:ident, $name:literal, $size_const:ident = $size:expr, $doc_size:literal,
        $article:literal, $buffer:ident, $pool:ident, $use_case:literal
    })*) => {$(
        #[doc = concat!(
            "A pool of [`", stringify!($buffer), "`](crate::", stringify!($buffer), ")s (",
            $doc_size, ")."
        )]
        pub type $pool = super::BoundedPool<crate::buffer::$buffer>;
    )*};
}

crate::tier::for_each_tier!(pool_aliases);

/// A pool of [`RegisterBuffer`](crate::RegisterBuffer)s (128 KiB), for
/// io_uring registration.
pub type RegisterBufferPool = super::BoundedPool<crate::RegisterBuffer>;
