//! The one place errors of the layers below become errnos.

use datenlord_meta::MetaError;
use datenlord_store::StoreError;

/// The result of a VFS operation.
pub type Result<T> = std::result::Result<T, VfsError>;

/// Why a VFS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    /// From the metadata: a request's errno (ENOENT, EEXIST, …) or a failure of its engine
    /// (EIO); see [`MetaError::errno`].
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// From the block store; see [`StoreError::errno`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An errno of this layer's own checks (EBADF for an unknown handle, EFBIG, …), as is.
    #[error("{}", std::io::Error::from_raw_os_error(*.0))]
    Errno(i32),
}

impl VfsError {
    /// The errno to answer. Failures of the machinery (not of the request) are logged here,
    /// once, since the caller only sees EIO.
    pub fn errno(&self) -> i32 {
        let errno = match self {
            Self::Meta(err) => err.errno(),
            Self::Store(err) => err.errno(),
            Self::Errno(errno) => *errno,
        };
        if errno == libc::EIO {
            tracing::error!(error = %self, "I/O error");
        }
        errno
    }
}

pub(crate) fn errno<T>(errno: i32) -> Result<T> {
    Err(VfsError::Errno(errno))
}
