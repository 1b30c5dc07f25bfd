//! The shared POSIX suite on a DatenLord volume.

mod common;
#[path = "../../fuse/tests/suite/posix.rs"]
mod posix;
