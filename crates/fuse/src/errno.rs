//! `Errno`: the error every filesystem operation answers with.

use std::fmt;
use std::num::NonZeroI32;

/// A positive, non-zero `errno` value; "error 0" cannot be built.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(NonZeroI32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[allow(missing_docs)]
                pub const $name: Errno = Errno(NonZeroI32::new(libc::$name).unwrap());
            )*
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    ERANGE,
    EDEADLK,
    ENAMETOOLONG,
    ENOLCK,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    ENODATA,
    EOVERFLOW,
    EOPNOTSUPP,
    ENOTSUP,
    ESTALE,
    EDQUOT,
    ECANCELED,
    ENOTCONN,
    ETIMEDOUT,
);

impl Errno {
    /// Builds an `Errno` from a raw value; zero or negative values become `EIO`.
    pub fn from_raw(code: i32) -> Self {
        if code > 0 {
            NonZeroI32::new(code).map_or(Self::EIO, Self)
        } else {
            Self::EIO
        }
    }

    /// The raw positive value.
    pub fn code(self) -> i32 {
        self.0.get()
    }
}

impl From<std::io::Error> for Errno {
    fn from(err: std::io::Error) -> Self {
        err.raw_os_error().map_or(Self::EIO, Self::from_raw)
    }
}

impl From<Errno> for std::io::Error {
    fn from(errno: Errno) -> Self {
        std::io::Error::from_raw_os_error(errno.code())
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Errno({}: {})",
            self.code(),
            std::io::Error::from_raw_os_error(self.code())
        )
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&std::io::Error::from_raw_os_error(self.code()), f)
    }
}

impl std::error::Error for Errno {}

/// The result type of filesystem operations.
pub type Result<T> = std::result::Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_round_trip_and_bad_ones_become_eio() {
        assert_eq!(Errno::ENOENT.code(), libc::ENOENT);
        assert_eq!(Errno::from_raw(libc::EEXIST), Errno::EEXIST);
        assert_eq!(Errno::from_raw(0), Errno::EIO);
        assert_eq!(Errno::from_raw(-3), Errno::EIO);
        let io: std::io::Error = Errno::ENOTEMPTY.into();
        assert_eq!(Errno::from(io), Errno::ENOTEMPTY);
    }
}
