//! What the metadata suites share: a fresh volume on the engine the environment names, and
//! shorthands for what they create.

#![allow(dead_code)]

use datenlord_meta::engine::engine_for_tests;
use datenlord_meta::{
    Caller, ChunkSlice, FileKind, Meta, NewInode, NewObject, OpenFiles, Slice, Timespec, Volume,
};

pub struct Opens(pub Vec<u64>);

impl OpenFiles for Opens {
    fn is_open(&self, ino: u64) -> bool {
        self.0.contains(&ino)
    }
    fn session(&self) -> u64 {
        7
    }
}

pub const NONE_OPEN: Opens = Opens(Vec::new());

/// A fresh volume on the engine the environment names (`engine_for_tests`: SQLite, etcd, the
/// memory engine bare or with faults): the same rules hold on every engine, and whatever the
/// faults, once the retries are done.
pub async fn fresh() -> (tempfile::TempDir, Meta) {
    fresh_keeping_trash(0).await
}

/// [`fresh_keeping_trash`], and a second handle on the same engine: another process, with
/// no ids of its own taken yet.
pub async fn fresh_with_second(trash_days: u32) -> (tempfile::TempDir, Meta, Meta) {
    let (dir, meta) = fresh_keeping_trash(trash_days).await;
    let second = Meta::open(meta.engine().clone()).await.unwrap();
    (dir, meta, second)
}

/// [`fresh`], with deleted files kept in the trash for `trash_days`.
pub async fn fresh_keeping_trash(trash_days: u32) -> (tempfile::TempDir, Meta) {
    let dir = tempfile::tempdir().unwrap();
    let kv = engine_for_tests(dir.path()).await.unwrap();
    let volume = Volume {
        name: "test".into(),
        uuid: "u".into(),
        storage: "memory://".into(),
        block_size: 4 << 20,
        created: 0,
        version: 1,
        trash_days,
    };
    Meta::format(&kv, &volume, false).await.unwrap();
    (dir, Meta::open(kv).await.unwrap().rehearse_transactions())
}

pub fn file(perm: u16) -> NewInode<'static> {
    NewInode {
        kind: FileKind::File,
        perm,
        umask: 0o022,
        rdev: 0,
        target: None,
    }
}

pub fn dir() -> NewInode<'static> {
    NewInode {
        kind: FileKind::Dir,
        perm: 0o777,
        umask: 0o022,
        rdev: 0,
        target: None,
    }
}

pub const ME: Caller = Caller {
    uid: 1000,
    gid: 1000,
};

/// Writes `len` bytes (one new object) at the start of `ino`.
pub async fn write(meta: &Meta, ino: u64, len: u32) -> u64 {
    let id = meta.next_object().await.unwrap();
    let object = NewObject {
        session: 7,
        id,
        len: u64::from(len),
    };
    meta.intend_object(object).await.unwrap();
    let slice = Slice {
        pos: 0,
        len,
        object: id,
        offset: 0,
    };
    meta.commit_write(
        ino,
        object,
        &[ChunkSlice { chunk: 0, slice }],
        u64::from(len),
        Timespec::now(),
        None,
    )
    .await
    .unwrap();
    id
}
