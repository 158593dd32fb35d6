//! The one error type of the crate.

use std::fmt;
use std::io;

/// Everything that can go wrong in `iobuf`.
///
/// The enum is `#[non_exhaustive]`: match the variants you handle and keep a
/// wildcard arm. Every variant has a lower-case, period-free [`Display`](std::fmt::Display)
/// message, and converts into [`std::io::Error`] with a fitting
/// [`io::ErrorKind`].
///
/// # Examples
///
/// ```
/// use iobuf::{Error, aligned_mem};
///
/// let err = aligned_mem(4096, 3).unwrap_err();
/// assert!(matches!(err, Error::InvalidArgument { .. }));
/// assert_eq!(err.to_string(), "invalid argument: alignment 3 is not a power of two");
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The operation would have to wait: the pool is empty (`try_get`,
    /// `try_get_index`, `try_get_owned`).
    WouldBlock,
    /// A deadline passed before the operation could complete (`get_timeout`).
    TimedOut,
    /// A pool capacity outside `1..=2^31` was requested.
    InvalidCapacity {
        /// The capacity that was asked for.
        requested: usize,
    },
    /// An argument was out of its domain (an alignment that is not a power of
    /// two, a zero count, a size that overflows `usize`, a pool whose memory
    /// is above the machine's physical memory, …).
    InvalidArgument {
        /// What was wrong, with the offending values.
        reason: String,
    },
    /// The operating system or the allocator refused memory.
    Alloc {
        /// The number of bytes asked for.
        len: usize,
        /// The error the OS reported (`ENOMEM` when the global allocator gave
        /// no reason).
        source: io::Error,
    },
    /// A system call failed (registering an io_uring provided-buffer ring,
    /// say).
    Os {
        /// What was asked of the kernel.
        op: &'static str,
        /// The error it reported.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            reason: reason.into(),
        }
    }

    pub(crate) fn alloc(len: usize, source: io::Error) -> Self {
        Error::Alloc { len, source }
    }

    #[cfg_attr(not(all(feature = "io-uring", target_os = "linux")), allow(dead_code))]
    pub(crate) fn os(op: &'static str, source: io::Error) -> Self {
        Error::Os { op, source }
    }

    /// The allocator gave no reason: report what it nearly always means.
    pub(crate) fn out_of_memory(len: usize) -> Self {
        Error::alloc(len, io::Error::from_raw_os_error(libc::ENOMEM))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WouldBlock => f.write_str("operation would block: the pool is empty"),
            Error::TimedOut => f.write_str("timed out waiting for a buffer"),
            Error::InvalidCapacity { requested } => write!(
                f,
                "invalid capacity {requested}: a pool holds between 1 and 2^31 buffers"
            ),
            Error::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            Error::Alloc { len, source } => {
                write!(f, "failed to allocate {len} bytes: {source}")
            }
            Error::Os { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Alloc { source, .. } | Error::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Two errors are equal when they are the same variant with the same values;
/// OS errors compare by their code (or kind, when they have none).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::WouldBlock, Error::WouldBlock) | (Error::TimedOut, Error::TimedOut) => true,
            (Error::InvalidCapacity { requested: a }, Error::InvalidCapacity { requested: b }) => {
                a == b
            }
            (Error::InvalidArgument { reason: a }, Error::InvalidArgument { reason: b }) => a == b,
            (Error::Alloc { len: a, source: x }, Error::Alloc { len: b, source: y }) => {
                a == b && same_os_error(x, y)
            }
            (Error::Os { op: a, source: x }, Error::Os { op: b, source: y }) => {
                a == b && same_os_error(x, y)
            }
            _ => false,
        }
    }
}

impl Eq for Error {}

fn same_os_error(x: &io::Error, y: &io::Error) -> bool {
    x.raw_os_error() == y.raw_os_error() && x.kind() == y.kind()
}

fn clone_os_error(source: &io::Error) -> io::Error {
    match source.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(source.kind(), source.to_string()),
    }
}

impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Error::WouldBlock => Error::WouldBlock,
            Error::TimedOut => Error::TimedOut,
            Error::InvalidCapacity { requested } => Error::InvalidCapacity {
                requested: *requested,
            },
            Error::InvalidArgument { reason } => Error::InvalidArgument {
                reason: reason.clone(),
            },
            Error::Alloc { len, source } => Error::Alloc {
                len: *len,
                source: clone_os_error(source),
            },
            Error::Os { op, source } => Error::Os {
                op,
                source: clone_os_error(source),
            },
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::WouldBlock => io::ErrorKind::WouldBlock,
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::InvalidCapacity { .. } | Error::InvalidArgument { .. } => {
                io::ErrorKind::InvalidInput
            }
            Error::Alloc { source, .. } if source.raw_os_error() == Some(libc::ENOMEM) => {
                io::ErrorKind::OutOfMemory
            }
            Error::Alloc { source, .. } | Error::Os { source, .. } => source.kind(),
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_kinds() {
        let kind = |e: Error| io::Error::from(e).kind();
        assert_eq!(kind(Error::WouldBlock), io::ErrorKind::WouldBlock);
        assert_eq!(kind(Error::TimedOut), io::ErrorKind::TimedOut);
        assert_eq!(
            kind(Error::InvalidCapacity { requested: 0 }),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(kind(Error::out_of_memory(1)), io::ErrorKind::OutOfMemory);
        let perm = Error::alloc(8, io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(kind(perm), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn display_is_lower_case_without_period() {
        for e in [
            Error::WouldBlock,
            Error::TimedOut,
            Error::InvalidCapacity { requested: 0 },
            Error::invalid("n is 0"),
            Error::out_of_memory(10),
            Error::os(
                "io_uring_register",
                io::Error::from_raw_os_error(libc::EINVAL),
            ),
        ] {
            let s = e.to_string();
            assert!(s.starts_with(|c: char| c.is_lowercase()), "{s}");
            assert!(!s.ends_with('.'), "{s}");
        }
    }

    #[test]
    fn alloc_has_source_and_clones_equal() {
        let e = Error::out_of_memory(10);
        assert!(e.source().is_some());
        assert_eq!(e.clone(), e);
        assert_ne!(e, Error::WouldBlock);
    }
}
