//! Block store errors.

/// The result of a block store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Why a block store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage is full.
    #[error("block store is full: {0}")]
    NoSpace(String),
    /// A block that should exist does not: data was lost or removed behind our back.
    #[error("block {0} is missing from the block store")]
    Missing(String),
    /// The storage URL cannot be used.
    #[error("storage {url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it, or what failed when it was opened.
        reason: String,
    },
    /// Any other I/O failure.
    #[error("block store I/O error on {path}: {source}")]
    Io {
        /// The file or directory (or the component, such as "block writer") that failed.
        path: String,
        /// The error the system gave.
        #[source]
        source: std::io::Error,
    },
    /// The object store did not answer in time (after its retries).
    #[error("block store did not answer within {0:?}")]
    TimedOut(std::time::Duration),
    /// A failure reported by an OpenDAL service.
    #[error("block store error: {0}")]
    Service(#[from] opendal::Error),
    /// The failure of a fetch that several readers awaited.
    #[error("{0}")]
    Shared(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// Wraps an I/O error on `path`, recognising a full disk.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(libc::ENOSPC)
            || source.raw_os_error() == Some(libc::EDQUOT)
        {
            return Self::NoSpace(format!("{path}: {source}"));
        }
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    /// The errno a filesystem answers for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Self::NoSpace(_) => libc::ENOSPC,
            Self::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            Self::Shared(inner) => inner.errno(),
            Self::Missing(_) | Self::Url { .. } | Self::Service(_) | Self::TimedOut(_) => libc::EIO,
        }
    }
}
