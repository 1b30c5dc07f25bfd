//! The shared POSIX suite (`suite/posix.rs`) on memfs, plus what only memfs offers.

mod common;
#[path = "suite/posix.rs"]
mod posix;

use common::Mounted;

#[test]
fn statx_reports_the_birth_time() {
    let m = Mounted::new();
    std::fs::write(m.join("f"), b"x").unwrap();
    let created = std::fs::metadata(m.join("f")).unwrap().created();
    assert!(created.is_ok(), "statx reports the birth time: {created:?}");
}
