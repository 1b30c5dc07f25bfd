//! The shared concurrency suite (many threads, a 1 GiB round trip) on a DatenLord volume.

mod common;
#[path = "../../fuse/tests/suite/concurrency.rs"]
mod concurrency;
