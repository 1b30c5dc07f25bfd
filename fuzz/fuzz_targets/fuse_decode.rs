//! Feeds arbitrary bytes to the request decoder: it must return `Ok` or `Err`, never panic,
//! and whatever it returns must be fully readable.

#![no_main]

use std::fmt::Write as _;
use std::hint::black_box;

use datenlord_fuse::decode::{self, DecodeOptions, NAME_MAX, Operation, XATTR_NAME_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = String::new();

    let header = decode::header(data);
    match &header {
        Ok(h) => write!(sink, "{h:?}").unwrap(),
        Err(err) => touch_error(&mut sink, err),
    }

    for setxattr_ext in [false, true] {
        match decode::decode(data, DecodeOptions { setxattr_ext }) {
            Ok(decoded) => {
                // A request that decodes has a header that decodes alike, and its length is exact.
                assert_eq!(header.as_ref().ok(), Some(&decoded.header));
                assert_eq!(decoded.header.len as usize, data.len());
                check(&decoded.op);
                write!(sink, "{decoded:?}").unwrap();
            }
            Err(err) => touch_error(&mut sink, &err),
        }
    }

    black_box(sink);
});

fn touch_error(sink: &mut String, err: &decode::DecodeError) {
    write!(sink, "{err} {err:?} {:?}", err.errno()).unwrap();
}

/// Walks the parts of the value that `Debug` does not already read in full, and checks the
/// limits the decoder promises.
fn check(op: &Operation<'_>) {
    let name_ok = |name: &std::ffi::OsStr, max: usize| {
        let bytes = name.as_encoded_bytes();
        assert!(
            !bytes.is_empty() && bytes.len() <= max && !bytes.contains(&0),
            "{name:?}"
        );
    };
    match op {
        Operation::BatchForget(list) => {
            let all: Vec<_> = list.iter().collect();
            assert_eq!(all.len(), list.len());
            assert_eq!(list.is_empty(), all.is_empty());
            black_box(all.iter().fold(0u64, |acc, f| acc ^ f.ino ^ f.nlookup));
        }
        Operation::Write(w) => {
            black_box((
                w.from_cache(),
                w.kill_suidgid(),
                w.data.iter().map(|&b| u64::from(b)).sum::<u64>(),
            ));
        }
        Operation::Lookup(o) => name_ok(o.name, NAME_MAX),
        Operation::Unlink(o) | Operation::Rmdir(o) => name_ok(o.name, NAME_MAX),
        Operation::Mkdir(o) => name_ok(o.name, NAME_MAX),
        Operation::Mknod(o) => name_ok(o.name, NAME_MAX),
        Operation::Create(o) => name_ok(o.name, NAME_MAX),
        Operation::Symlink(o) => {
            name_ok(o.name, NAME_MAX);
            name_ok(o.target, decode::TARGET_MAX);
        }
        Operation::Rename(o) => {
            name_ok(o.name, NAME_MAX);
            name_ok(o.newname, NAME_MAX);
        }
        Operation::Link(o) => name_ok(o.newname, NAME_MAX),
        Operation::Setxattr(o) => {
            name_ok(o.name, XATTR_NAME_MAX);
            black_box(o.value.len());
        }
        Operation::Getxattr(o) => name_ok(o.name, XATTR_NAME_MAX),
        Operation::Removexattr(o) => name_ok(o.name, XATTR_NAME_MAX),
        Operation::Ioctl(o) => {
            black_box(o.in_data.len());
        }
        Operation::NotifyReply { data, .. } => {
            black_box(data.len());
        }
        _ => {}
    }
}
