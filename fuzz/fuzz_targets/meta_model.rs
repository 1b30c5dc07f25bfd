//! The metadata layer against a model, on an engine that fails: each input is a fault plan
//! (commits lost to conflicts, operations failing as if the engine were unreachable) and a
//! sequence of namespace operations on a few names in two directories. An operation either
//! happens whole or not at all — after every one, the directories and link counts are exactly
//! the model's, which follows only the operations that succeeded — and the volume is
//! fsck-clean at the end. Retries after conflicts must not leave a trace (every transaction
//! body is also rehearsed); failures must not leave half an operation.

#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use datenlord_meta::engine::{AnyEngine, Faulty, MemoryEngine};
use datenlord_meta::{
    Caller, FORMAT_VERSION, FileKind, Meta, NewInode, OpenFiles, ROOT_INO, SetAttr, Volume,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&[u8]; 3] = [b"a", b"b", b"c"];

struct NoneOpen;

impl OpenFiles for NoneOpen {
    fn is_open(&self, _: u64) -> bool {
        false
    }
    fn session(&self) -> u64 {
        1
    }
}

/// Names of the model: (directory, name) → (inode, kind).
type Model = BTreeMap<(u64, Vec<u8>), (u64, FileKind)>;

fn new(kind: FileKind) -> NewInode<'static> {
    NewInode {
        kind,
        perm: 0o755,
        umask: 0,
        rdev: 0,
        target: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(run(data));
});

async fn run(data: &[u8]) {
    let Some((&plan, ops)) = data.split_first() else {
        return;
    };
    let faulty = Faulty::new(MemoryEngine::new());
    let engine = AnyEngine::Faulty(faulty.clone());
    let volume = Volume {
        name: "fuzz".into(),
        uuid: "u".into(),
        storage: "memory://".into(),
        block_size: 1 << 20,
        created: 0,
        version: FORMAT_VERSION,
        trash_days: 0,
    };
    Meta::format(&engine, &volume, false).await.unwrap();
    // No retries while unavailable: a failed operation reports the failure at once.
    let meta = Meta::open(engine)
        .await
        .unwrap()
        .with_timeout(Duration::ZERO)
        .rehearse_transactions();
    let (dir, _) = meta
        .create(Caller::ROOT, ROOT_INO, b"d", new(FileKind::Dir))
        .await
        .unwrap();
    let mut model = Model::new();
    model.insert((ROOT_INO, b"d".to_vec()), (dir, FileKind::Dir));
    // Every commit lost would only exhaust the retries; every other one at most.
    let conflict_every = u64::from(plan & 0x0f).max(2) * u64::from(plan & 0x0f != 0);
    let fail_every = u64::from(plan >> 4) * 3;
    let faults = |on: bool| {
        faulty
            .plan()
            .conflict_every(if on { conflict_every } else { 0 });
        faulty.plan().fail_every(if on { fail_every } else { 0 });
    };
    faults(true);

    let dirs = [ROOT_INO, dir];
    for op in ops.chunks_exact(3).take(64) {
        let (code, at, to) = (op[0] % 7, op[1], op[2]);
        let (parent, name) = (dirs[usize::from(at & 1)], NAMES[usize::from(at >> 1) % 3]);
        let (new_parent, new_name) = (dirs[usize::from(to & 1)], NAMES[usize::from(to >> 1) % 3]);
        let key = (parent, name.to_vec());
        let new_key = (new_parent, new_name.to_vec());
        match code {
            0 | 1 => {
                let kind = if code == 0 {
                    FileKind::File
                } else {
                    FileKind::Dir
                };
                if let Ok((ino, _)) = meta.create(Caller::ROOT, parent, name, new(kind)).await {
                    assert!(
                        model.insert(key, (ino, kind)).is_none(),
                        "created over a name"
                    );
                }
            }
            2 => {
                if meta.unlink(parent, name, &NoneOpen).await.is_ok() {
                    let (_, kind) = model.remove(&key).expect("unlinked a missing name");
                    assert_ne!(kind, FileKind::Dir);
                }
            }
            3 => {
                if meta.rmdir(parent, name).await.is_ok() {
                    let (_, kind) = model.remove(&key).expect("removed a missing name");
                    assert_eq!(kind, FileKind::Dir);
                }
            }
            4 => {
                let flags = u32::from(to >> 6) % 3;
                if meta
                    .rename(parent, name, new_parent, new_name, flags, &NoneOpen)
                    .await
                    .is_ok()
                    && key != new_key
                    // Two names of one file: POSIX renames nothing, both stay.
                    && (flags == datenlord_meta::RENAME_EXCHANGE
                        || model.get(&key).map(|n| n.0) != model.get(&new_key).map(|n| n.0))
                {
                    let src = model.remove(&key).expect("renamed a missing name");
                    if flags == datenlord_meta::RENAME_EXCHANGE {
                        let dst = model.insert(new_key, src).expect("exchanged with nothing");
                        model.insert(key, dst);
                    } else {
                        model.insert(new_key, src);
                    }
                }
            }
            5 => {
                if let Some(&(ino, kind)) = model.get(&key)
                    && meta.link(ino, new_parent, new_name).await.is_ok()
                {
                    assert!(
                        model.insert(new_key, (ino, kind)).is_none(),
                        "linked over a name"
                    );
                }
            }
            _ => {
                if let Some(&(ino, _)) = model.get(&key) {
                    let set = SetAttr {
                        mode: Some(u32::from(to) & 0o777),
                        ..SetAttr::default()
                    };
                    let _ = meta.setattr(Caller::ROOT, ino, set).await;
                }
            }
        }
        // The check reads without faults: it looks at what the operation left.
        faults(false);
        check(&meta, &model).await;
        faults(true);
    }
    faults(false);
    let report = meta.check(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// The volume's names and link counts are the model's.
async fn check(meta: &Meta, model: &Model) {
    let live_dirs: Vec<u64> = std::iter::once(ROOT_INO)
        .chain(
            model
                .values()
                .filter(|(_, k)| *k == FileKind::Dir)
                .map(|(i, _)| *i),
        )
        .collect();
    for dir in live_dirs {
        let listed = meta.readdir(dir).await.unwrap();
        let found: Vec<(Vec<u8>, u64)> = listed.into_iter().map(|(n, d)| (n, d.ino)).collect();
        let expected: Vec<(Vec<u8>, u64)> = model
            .iter()
            .filter(|((parent, _), _)| *parent == dir)
            .map(|((_, name), (ino, _))| (name.clone(), *ino))
            .collect();
        assert_eq!(found, expected, "entries of directory {dir}");
    }
    let mut links: BTreeMap<u64, (u32, FileKind)> = BTreeMap::new();
    for &(ino, kind) in model.values() {
        links.entry(ino).or_insert((0, kind)).0 += 1;
    }
    for (ino, (names, kind)) in links {
        let attr = meta.getattr(ino).await.unwrap();
        if kind != FileKind::Dir {
            assert_eq!(attr.nlink, names, "link count of {ino}");
        }
    }
}
