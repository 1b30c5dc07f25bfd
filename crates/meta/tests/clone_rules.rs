//! Metadata-only clones: what is copied, what is shared, the snapshot a clone reads, quotas,
//! and what an unfinished clone leaves — on every engine.

mod common;

use common::{ME, NONE_OPEN, dir, file, fresh, write};
use datenlord_meta::{FileKind, Meta, NewInode, QuotaLimits, ROOT_INO};

const BUILDER: (&str, &str) = ("test-host", "");

async fn lookup(meta: &Meta, parent: u64, name: &[u8]) -> u64 {
    meta.lookup(parent, name).await.unwrap().0
}

#[tokio::test]
async fn a_tree_is_cloned_with_everything_and_shares_its_objects() {
    let (_d, meta) = fresh().await;
    let src = meta.create(ME, ROOT_INO, b"src", dir()).await.unwrap().0;
    let sub = meta.create(ME, src, b"sub", dir()).await.unwrap().0;
    let f = meta.create(ME, sub, b"f", file(0o640)).await.unwrap().0;
    let object = write(&meta, f, 5000).await;
    meta.setxattr(f, b"user.tag", b"blue", 0, false)
        .await
        .unwrap();
    meta.link(f, src, b"again").await.unwrap();
    let link = NewInode {
        kind: FileKind::Symlink,
        perm: 0o777,
        umask: 0,
        rdev: 0,
        target: Some(b"sub/f"),
    };
    meta.create(ME, src, b"l", link).await.unwrap();

    let cloned = meta
        .clone_tree(src, ROOT_INO, b"copy", BUILDER, &|_| {})
        .await
        .unwrap();
    assert_eq!(cloned.inodes, 4, "src, sub, f (once) and l");
    assert_eq!(cloned.bytes, 5000);
    let copy = lookup(&meta, ROOT_INO, b"copy").await;
    assert_eq!(copy, cloned.ino);
    let copy_sub = lookup(&meta, copy, b"sub").await;
    let cf = lookup(&meta, copy_sub, b"f").await;
    assert_ne!(cf, f);
    assert_eq!(
        lookup(&meta, copy, b"again").await,
        cf,
        "a hard link stays one inode"
    );
    let (a, b) = (
        meta.getattr(f).await.unwrap(),
        meta.getattr(cf).await.unwrap(),
    );
    assert_eq!(
        (b.perm, b.uid, b.size, b.mtime, b.nlink),
        (a.perm, a.uid, a.size, a.mtime, 2)
    );
    assert_eq!(meta.getattr(copy_sub).await.unwrap().parent, copy);
    assert_eq!(meta.getxattr(cf, b"user.tag").await.unwrap(), b"blue");
    let cl = lookup(&meta, copy, b"l").await;
    assert_eq!(meta.readlink(cl).await.unwrap(), b"sub/f");
    assert_eq!(
        meta.chunk(cf, 0).await.unwrap(),
        meta.chunk(f, 0).await.unwrap()
    );

    // The source goes; the clone keeps the object alive, and lets it go last.
    for name in [&b"again"[..], b"l"] {
        meta.unlink(src, name, &NONE_OPEN).await.unwrap();
    }
    meta.unlink(sub, b"f", &NONE_OPEN).await.unwrap();
    assert!(meta.is_referenced(object).await.unwrap());
    assert!(meta.doomed_objects(10).await.unwrap().is_empty());
    meta.unlink(copy, b"again", &NONE_OPEN).await.unwrap();
    meta.unlink(copy_sub, b"f", &NONE_OPEN).await.unwrap();
    assert_eq!(meta.doomed_objects(10).await.unwrap(), vec![(object, 5000)]);
    assert!(meta.check(false).await.unwrap().problems.is_empty());
}

#[tokio::test]
async fn a_clone_refuses_a_taken_name_and_a_full_quota_and_leaves_nothing() {
    let (_d, meta) = fresh().await;
    let src = meta.create(ME, ROOT_INO, b"src", dir()).await.unwrap().0;
    for i in 0..40 {
        let f = meta
            .create(ME, src, format!("f{i}").as_bytes(), file(0o644))
            .await
            .unwrap()
            .0;
        write(&meta, f, 4096).await;
    }
    let err = meta
        .clone_tree(src, ROOT_INO, b"src", BUILDER, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);

    let q = meta.create(ME, ROOT_INO, b"q", dir()).await.unwrap().0;
    let limits = QuotaLimits {
        capacity: 20 * 4096,
        inodes: 0,
    };
    meta.set_quota(q, limits, &|_| {}).await.unwrap();
    let usage = meta.usage().await.unwrap();
    let err = meta
        .clone_tree(src, q, b"copy", BUILDER, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.errno(), libc::EDQUOT);
    assert!(meta.lookup(q, b"copy").await.is_err());
    assert_eq!(meta.usage().await.unwrap(), usage, "everything given back");
    let quota = meta.quota(q).await.unwrap().unwrap();
    assert_eq!((quota.used_space, quota.used_inodes), (0, 0));
    assert!(meta.clones().await.unwrap().is_empty());
    assert!(meta.check(false).await.unwrap().problems.is_empty());
}

#[tokio::test]
async fn a_clone_with_a_quota_of_its_own_is_charged_as_it_is_built() {
    let (_d, meta) = fresh().await;
    let src = meta.create(ME, ROOT_INO, b"src", dir()).await.unwrap().0;
    for i in 0..10 {
        let f = meta
            .create(ME, src, format!("f{i}").as_bytes(), file(0o644))
            .await
            .unwrap()
            .0;
        write(&meta, f, 4096).await;
    }
    let outer = meta.create(ME, ROOT_INO, b"outer", dir()).await.unwrap().0;
    let no_limit = QuotaLimits {
        capacity: 0,
        inodes: 0,
    };
    meta.set_quota(outer, no_limit, &|_| {}).await.unwrap();

    let limits = QuotaLimits {
        capacity: 1 << 20,
        inodes: 50,
    };
    let cloned = meta
        .clone_tree_with_quota(src, outer, b"copy", Some(limits), BUILDER, &|_| {})
        .await
        .unwrap();
    let quota = meta.quota(cloned.ino).await.unwrap().unwrap();
    assert_eq!((quota.capacity, quota.inodes), (1 << 20, 50));
    assert_eq!((quota.used_space, quota.used_inodes), (10 * 4096, 10));
    assert!(quota.ready, "no walk of the tree is left to do");
    assert_eq!(quota.parent, outer);
    let enclosing = meta.quota(outer).await.unwrap().unwrap();
    assert_eq!(
        (enclosing.used_space, enclosing.used_inodes),
        (10 * 4096 + 4096, 11),
        "the enclosing quota holds the clone and its root"
    );
    let f = lookup(&meta, cloned.ino, b"f0").await;
    assert_eq!(meta.getattr(f).await.unwrap().quota, cloned.ino);
    assert!(meta.check(false).await.unwrap().problems.is_empty());
    assert!(
        meta.check_quotas(false)
            .await
            .unwrap()
            .iter()
            .all(|c| c.stored == c.counted)
    );

    // Limits below what the source holds: EDQUOT, and nothing is left behind.
    let usage = meta.usage().await.unwrap();
    let tight = QuotaLimits {
        capacity: 4 * 4096,
        inodes: 0,
    };
    let err = meta
        .clone_tree_with_quota(src, outer, b"small", Some(tight), BUILDER, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.errno(), libc::EDQUOT);
    assert!(meta.lookup(outer, b"small").await.is_err());
    assert_eq!(meta.usage().await.unwrap(), usage);
    assert_eq!(meta.quotas().await.unwrap().len(), 2, "outer and copy only");
    let file_src = lookup(&meta, src, b"f0").await;
    let err = meta
        .clone_tree_with_quota(file_src, outer, b"f", Some(limits), BUILDER, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.errno(), libc::ENOTDIR);
    assert!(meta.check(false).await.unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_is_the_tree_at_one_moment() {
    if std::env::var("DATENLORD_TEST_ENGINE").as_deref() == Ok("faulty") {
        // Through injected outages a clone reads on from newer snapshots, by design.
        return;
    }
    let (_d, meta) = fresh().await;
    let src = meta.create(ME, ROOT_INO, b"src", dir()).await.unwrap().0;
    let mut files = Vec::new();
    for i in 0..300 {
        let name = format!("f{i}");
        let f = meta
            .create(ME, src, name.as_bytes(), file(0o644))
            .await
            .unwrap()
            .0;
        let object = write(&meta, f, 100 + i).await;
        files.push((name, object));
    }
    let handle = tokio::runtime::Handle::current();
    let changed = std::sync::atomic::AtomicBool::new(false);
    // After the first batch, every source file is removed: the clone still copies them all.
    let cloned = meta
        .clone_tree(src, ROOT_INO, b"copy", BUILDER, &|_| {
            if changed.swap(true, std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    for (name, _) in &files {
                        meta.unlink(src, name.as_bytes(), &NONE_OPEN).await.unwrap();
                    }
                    assert!(
                        meta.doomed_objects(10).await.unwrap().is_empty(),
                        "no object is deleted while a clone runs"
                    );
                })
            });
        })
        .await
        .unwrap();
    let copy = lookup(&meta, ROOT_INO, b"copy").await;
    if std::env::var("DATENLORD_TEST_REDIS").is_ok()
        && std::env::var("DATENLORD_TEST_ETCD").is_err()
    {
        // No snapshots: the clone that saw the source change was built again, of the tree
        // after the change — still one moment's.
        assert_eq!(cloned.inodes, 1);
        assert!(meta.readdir(copy).await.unwrap().is_empty());
        assert!(meta.check(false).await.unwrap().problems.is_empty());
        return;
    }
    assert_eq!(cloned.inodes, 301);
    for (i, (name, object)) in files.iter().enumerate() {
        let f = lookup(&meta, copy, name.as_bytes()).await;
        assert_eq!(meta.getattr(f).await.unwrap().size, 100 + i as u64);
        assert!(
            meta.is_referenced(*object).await.unwrap(),
            "{name} kept its object"
        );
    }
    assert!(meta.doomed_objects(10).await.unwrap().is_empty());
    assert!(meta.check(false).await.unwrap().problems.is_empty());
}

#[tokio::test]
async fn an_abandoned_clone_is_reclaimed() {
    let (_d, meta) = fresh().await;
    let f = meta
        .create(ME, ROOT_INO, b"f", file(0o644))
        .await
        .unwrap()
        .0;
    let object = write(&meta, f, 10).await;
    let cloned = meta
        .clone_tree(f, ROOT_INO, b"g", BUILDER, &|_| {})
        .await
        .unwrap();
    assert_eq!((cloned.inodes, cloned.bytes), (1, 10));
    assert!(meta.clones().await.unwrap().is_empty());
    assert_eq!(meta.reclaim_stale_clones(|_| true).await.unwrap(), 0);
    meta.unlink(ROOT_INO, b"f", &NONE_OPEN).await.unwrap();
    assert!(meta.is_referenced(object).await.unwrap());
}

#[tokio::test]
async fn snapshots_are_taken_listed_restored_and_deleted() {
    let (_d, meta) = fresh().await;
    let src = meta.create(ME, ROOT_INO, b"vol", dir()).await.unwrap().0;
    let f = meta.create(ME, src, b"f", file(0o644)).await.unwrap().0;
    let first = write(&meta, f, 100).await;
    meta.create_snapshot(src, "/vol", b"monday", BUILDER, &|_| {})
        .await
        .unwrap();
    let err = meta
        .create_snapshot(src, "/vol", b"monday", BUILDER, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
    // The source changes; the snapshot does not.
    meta.unlink(src, b"f", &NONE_OPEN).await.unwrap();
    let listed = meta.snapshots().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].0.as_slice(), listed[0].2.source.as_str()),
        (&b"monday"[..], "/vol")
    );
    assert!(meta.is_referenced(first).await.unwrap());

    meta.restore_snapshot(b"monday", (ROOT_INO, b"restored"), None, BUILDER, &|_| {})
        .await
        .unwrap();
    let restored = lookup(&meta, ROOT_INO, b"restored").await;
    let rf = lookup(&meta, restored, b"f").await;
    assert_eq!(meta.getattr(rf).await.unwrap().size, 100);
    assert!(
        meta.getxattr(restored, b"trusted.datenlord.snapshot")
            .await
            .is_err(),
        "a restored tree is no snapshot"
    );

    meta.delete_snapshot(b"monday").await.unwrap();
    assert!(meta.snapshots().await.unwrap().is_empty());
    assert_eq!(
        meta.delete_snapshot(b"monday").await.unwrap_err().errno(),
        libc::ENOENT
    );
    assert!(
        meta.is_referenced(first).await.unwrap(),
        "the restored copy holds it"
    );
    meta.unlink(restored, b"f", &NONE_OPEN).await.unwrap();
    assert_eq!(meta.doomed_objects(10).await.unwrap(), vec![(first, 100)]);
    assert!(meta.check(false).await.unwrap().problems.is_empty());
}
