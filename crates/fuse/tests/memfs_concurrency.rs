//! The shared concurrency suite (`suite/concurrency.rs`) on memfs.

mod common;
#[path = "suite/concurrency.rs"]
mod concurrency;
