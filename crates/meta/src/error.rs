//! The errors of metadata operations: a POSIX errno for what the caller asked wrongly, or a
//! failure of the engine underneath.

use crate::engine::KvError;

/// The result of a metadata operation.
pub type Result<T> = std::result::Result<T, MetaError>;

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The request is refused with this errno (ENOENT, EEXIST, ENOTEMPTY, ...).
    #[error("{}", std::io::Error::from_raw_os_error(*.0))]
    Errno(i32),
    /// The key-value engine failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The request cannot be done as asked (formatting over other settings, an unformatted
    /// store); the text says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// A stored record could not be decoded: the metadata is damaged or from a newer version.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

impl MetaError {
    /// The errno a filesystem answers for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Self::Errno(errno) => *errno,
            Self::Kv(KvError::NoSpace(_)) => libc::ENOSPC,
            Self::Kv(KvError::ReadOnly(_)) => libc::EROFS,
            Self::Kv(_) | Self::Corrupt(_) => libc::EIO,
            Self::Refused(_) => libc::EINVAL,
        }
    }
}

/// Shorthand for returning an errno.
pub(crate) fn errno<T>(errno: i32) -> Result<T> {
    Err(MetaError::Errno(errno))
}
