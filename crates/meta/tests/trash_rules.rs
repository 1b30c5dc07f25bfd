//! The trash: what goes there (a file's last name, a removed directory, a replaced file),
//! what it keeps and gives back, restoring, purging — on every engine.

mod common;

use common::{ME, NONE_OPEN, Opens, dir, file, fresh, fresh_keeping_trash, write};
use datenlord_meta::{FileKind, Meta, QuotaLimits, RENAME_NOREPLACE, ROOT_INO, TrashEntry};

/// A new empty file `name` in `parent`, mode 0644.
async fn new_file(meta: &Meta, parent: u64, name: &[u8]) -> u64 {
    meta.create(ME, parent, name, file(0o644)).await.unwrap().0
}

async fn lookup(meta: &Meta, parent: u64, name: &[u8]) -> u64 {
    meta.lookup(parent, name).await.unwrap().0
}

async fn entry_of(meta: &Meta, ino: u64) -> TrashEntry {
    let entries = meta.trash_entries().await.unwrap();
    entries
        .into_iter()
        .find(|e| e.ino == ino)
        .unwrap_or_else(|| panic!("inode {ino} is not in the trash"))
}

fn clean(report: datenlord_meta::MetaReport) {
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn an_unlinked_file_keeps_its_data_in_the_trash_out_of_its_quota() {
    let (_d, meta) = fresh_keeping_trash(1).await;
    let q = meta.create(ME, ROOT_INO, b"q", dir()).await.unwrap().0;
    let limits = QuotaLimits {
        capacity: 0,
        inodes: 0,
    };
    meta.set_quota(q, limits, &|_| {}).await.unwrap();
    let f = meta.create(ME, q, b"report", file(0o640)).await.unwrap().0;
    let object = write(&meta, f, 5000).await;
    let usage = meta.usage().await.unwrap();

    let removed = meta.unlink(q, b"report", &NONE_OPEN).await.unwrap();
    assert_eq!(removed.ino, f);
    assert!(meta.lookup(q, b"report").await.is_err());
    let attr = meta.getattr(f).await.unwrap();
    assert_eq!((attr.visible_nlink(), attr.size), (0, 5000));
    assert!(attr.trashed);
    let now = meta.usage().await.unwrap();
    assert_eq!(
        (now.space, now.inodes),
        (usage.space + 4096, usage.inodes + 1),
        "the volume still holds it (and the new hour's directory)"
    );
    let quota = meta.quota(q).await.unwrap().unwrap();
    assert_eq!(
        (quota.used_space, quota.used_inodes),
        (0, 0),
        "it left its quota"
    );
    assert!(meta.doomed_objects(10).await.unwrap().is_empty());

    let entry = entry_of(&meta, f).await;
    assert_eq!((entry.parent, &entry.original[..]), (q, &b"report"[..]));
    assert_eq!(entry.kind, FileKind::File);
    assert_eq!(entry.name, format!("{q}-{f}-report").into_bytes());
    clean(meta.check(false).await.unwrap());

    meta.restore_trashed(&entry).await.unwrap();
    assert_eq!(lookup(&meta, q, b"report").await, f);
    let attr = meta.getattr(f).await.unwrap();
    assert_eq!(
        (attr.visible_nlink(), attr.trashed, attr.parent),
        (1, false, q)
    );
    let quota = meta.quota(q).await.unwrap().unwrap();
    assert_eq!(
        (quota.used_space, quota.used_inodes),
        (8192, 1),
        "charged again"
    );
    assert!(meta.trash_entries().await.unwrap().is_empty());
    assert!(meta.doomed_objects(10).await.unwrap().is_empty());
    let _ = object;
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn a_removed_tree_comes_back_whole() {
    let (_d, meta) = fresh_keeping_trash(1).await;
    let a = meta.create(ME, ROOT_INO, b"a", dir()).await.unwrap().0;
    let b = meta.create(ME, a, b"b", dir()).await.unwrap().0;
    let f = new_file(&meta, b, b"f").await;
    write(&meta, f, 100).await;
    let g = new_file(&meta, a, b"g").await;
    // What `rm -r a` does: the deepest first.
    meta.unlink(b, b"f", &NONE_OPEN).await.unwrap();
    meta.rmdir(a, b"b").await.unwrap();
    meta.unlink(a, b"g", &NONE_OPEN).await.unwrap();
    let removed = meta.rmdir(ROOT_INO, b"a").await.unwrap();
    assert_eq!(removed.attr.nlink, 0);
    assert!(meta.lookup(ROOT_INO, b"a").await.is_err());
    assert_eq!(meta.trash_entries().await.unwrap().len(), 4);
    clean(meta.check(false).await.unwrap());

    // Restored in the worst order: each waits for its directory.
    let mut pending = meta.trash_entries().await.unwrap();
    pending.sort_by_key(|e| e.kind == FileKind::Dir);
    for _ in 0..4 {
        let mut waiting = Vec::new();
        for entry in pending {
            match meta.restore_trashed(&entry).await {
                Ok(()) => {}
                Err(err) if err.errno() == libc::ENOENT => waiting.push(entry),
                Err(err) => panic!("{err}"),
            }
        }
        pending = waiting;
    }
    assert!(pending.is_empty());
    assert_eq!(lookup(&meta, ROOT_INO, b"a").await, a);
    assert_eq!(lookup(&meta, a, b"b").await, b);
    assert_eq!(lookup(&meta, b, b"f").await, f);
    assert_eq!(lookup(&meta, a, b"g").await, g);
    assert_eq!(meta.getattr(a).await.unwrap().nlink, 3);
    assert_eq!(meta.getattr(f).await.unwrap().size, 100);
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn a_replaced_file_goes_to_the_trash_and_restoring_never_overwrites() {
    let (_d, meta) = fresh_keeping_trash(1).await;
    let old = new_file(&meta, ROOT_INO, b"x").await;
    write(&meta, old, 10).await;
    let new = new_file(&meta, ROOT_INO, b"x.tmp").await;
    let replaced = meta
        .rename(ROOT_INO, b"x.tmp", ROOT_INO, b"x", 0, &NONE_OPEN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.ino, old);
    assert_eq!(lookup(&meta, ROOT_INO, b"x").await, new);
    let entry = entry_of(&meta, old).await;
    let err = meta.restore_trashed(&entry).await.unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST);
    // Renamed out by hand, the way `mv` restores it.
    meta.rename(
        entry.hour_ino,
        &entry.name,
        ROOT_INO,
        b"x.old",
        RENAME_NOREPLACE,
        &NONE_OPEN,
    )
    .await
    .unwrap();
    let attr = meta.getattr(old).await.unwrap();
    assert_eq!(
        (attr.visible_nlink(), attr.trashed, attr.size),
        (1, false, 10)
    );
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn purging_deletes_for_good_but_an_open_file_lives_to_its_last_close() {
    let (_d, meta) = fresh_keeping_trash(1).await;
    let before = meta.usage().await.unwrap();
    let f = new_file(&meta, ROOT_INO, b"f").await;
    let object = write(&meta, f, 3000).await;
    let held = new_file(&meta, ROOT_INO, b"held").await;
    let held_object = write(&meta, held, 700).await;
    meta.hold_open(held, 7).await.unwrap();
    meta.unlink(ROOT_INO, b"f", &NONE_OPEN).await.unwrap();
    meta.unlink(ROOT_INO, b"held", &Opens(vec![held]))
        .await
        .unwrap();
    // Not yet expired: a day is kept.
    let now = datenlord_meta::Timespec::now().sec;
    assert!(meta.purge_trash(now).await.unwrap().hours.is_empty());
    assert!(meta.purge_expired_trash().await.unwrap().hours.is_empty());
    assert_eq!(meta.trash_entries().await.unwrap().len(), 2);

    let hours = meta.purge_trash(i64::MAX).await.unwrap().hours;
    assert_eq!(hours.len(), 1);
    assert!(meta.trash_entries().await.unwrap().is_empty());
    assert!(meta.getattr(f).await.is_err());
    assert_eq!(meta.doomed_objects(10).await.unwrap(), vec![(object, 3000)]);
    let attr = meta.getattr(held).await.unwrap();
    assert_eq!(
        (attr.nlink, attr.visible_nlink()),
        (0, 0),
        "open, without names"
    );
    assert!(meta.release_open(7, held).await.unwrap());
    assert!(meta.getattr(held).await.is_err());
    let doomed = meta.doomed_objects(10).await.unwrap();
    assert!(doomed.contains(&(held_object, 700)), "{doomed:?}");
    let hour_dir = meta.usage().await.unwrap();
    assert_eq!(hour_dir, before, "everything given back");
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn without_trash_days_and_inside_the_trash_a_name_goes_at_once() {
    let (_d, meta) = fresh().await;
    assert!(meta.trash_dir().is_some(), "every new volume has a trash");
    let f = new_file(&meta, ROOT_INO, b"f").await;
    let object = write(&meta, f, 10).await;
    meta.unlink(ROOT_INO, b"f", &NONE_OPEN).await.unwrap();
    assert!(meta.getattr(f).await.is_err());
    assert_eq!(meta.doomed_objects(10).await.unwrap(), vec![(object, 10)]);
    assert!(meta.trash_entries().await.unwrap().is_empty());

    let (_d, meta) = fresh_keeping_trash(1).await;
    let f = new_file(&meta, ROOT_INO, b"f").await;
    meta.unlink(ROOT_INO, b"f", &NONE_OPEN).await.unwrap();
    let entry = entry_of(&meta, f).await;
    // Removed from the trash by hand: gone for good.
    meta.unlink(entry.hour_ino, &entry.name, &NONE_OPEN)
        .await
        .unwrap();
    assert!(meta.getattr(f).await.is_err());
    // A file with other names keeps them: nothing goes to the trash.
    let g = new_file(&meta, ROOT_INO, b"g").await;
    meta.link(g, ROOT_INO, b"g2").await.unwrap();
    meta.unlink(ROOT_INO, b"g", &NONE_OPEN).await.unwrap();
    assert_eq!(meta.getattr(g).await.unwrap().visible_nlink(), 1);
    assert!(meta.trash_entries().await.unwrap().is_empty());
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn overwritten_and_truncated_data_is_kept_until_its_day_is_over() {
    let (_d, meta) = fresh_keeping_trash(1).await;
    let f = new_file(&meta, ROOT_INO, b"f").await;
    let first = write(&meta, f, 4000).await;
    let second = write(&meta, f, 4000).await;
    // Compaction rewrites the chunk into one object: both old ones lose their last reference.
    let old = meta.chunk(f, 0).await.unwrap();
    let id = meta.next_object().await.unwrap();
    let merged = datenlord_meta::NewObject {
        session: 7,
        id,
        len: 4000,
    };
    meta.intend_object(merged).await.unwrap();
    let new = [datenlord_meta::Slice {
        pos: 0,
        len: 4000,
        object: id,
        offset: 0,
    }];
    assert!(meta.replace_chunk(f, 0, &old, &new, merged).await.unwrap());
    // And truncation drops the merged one.
    let now = datenlord_meta::Timespec::now();
    meta.truncate(f, 0, now).await.unwrap();
    assert!(meta.doomed_objects(10).await.unwrap().is_empty());
    let kept = meta.kept_data().await.unwrap();
    assert_eq!((kept.objects, kept.bytes), (3, 12_000));
    assert!(kept.oldest.is_some_and(|t| t <= now.sec));
    let report = meta.check(false).await.unwrap();
    assert_eq!(
        report.kept.keys().copied().collect::<Vec<_>>(),
        vec![first, second, id]
    );
    clean(report);
    let known = meta.known_objects(&[first, second, id]).await.unwrap();
    assert_eq!(known.len(), 3, "gc leaves kept objects alone");

    let purged = meta.purge_expired_trash().await.unwrap();
    assert!(purged.is_empty(), "kept for a day: {purged:?}");
    let purged = meta.purge_trash(i64::MAX).await.unwrap();
    assert_eq!((purged.kept_objects, purged.kept_bytes), (3, 12_000));
    let mut doomed = meta.doomed_objects(10).await.unwrap();
    doomed.sort_unstable();
    assert_eq!(doomed, vec![(first, 4000), (second, 4000), (id, 4000)]);
    assert_eq!(meta.kept_data().await.unwrap().objects, 0);
    clean(meta.check(false).await.unwrap());

    // Without the trash, overwritten data goes at once.
    let (_d, plain) = fresh().await;
    let g = new_file(&plain, ROOT_INO, b"g").await;
    let object = write(&plain, g, 10).await;
    plain.truncate(g, 0, now).await.unwrap();
    assert_eq!(plain.doomed_objects(10).await.unwrap(), vec![(object, 10)]);
    assert_eq!(plain.kept_data().await.unwrap().objects, 0);
}

#[tokio::test]
async fn a_tree_with_its_own_quota_goes_to_the_trash_whole_and_comes_back() {
    let (_d, meta) = fresh_keeping_trash(1).await;
    let outer = meta.create(ME, ROOT_INO, b"outer", dir()).await.unwrap().0;
    let no_limit = QuotaLimits {
        capacity: 0,
        inodes: 0,
    };
    meta.set_quota(outer, no_limit, &|_| {}).await.unwrap();
    let vol = meta.create(ME, outer, b"vol", dir()).await.unwrap().0;
    let limits = QuotaLimits {
        capacity: 1 << 30,
        inodes: 100,
    };
    meta.set_quota(vol, limits, &|_| {}).await.unwrap();
    let sub = meta.create(ME, vol, b"sub", dir()).await.unwrap().0;
    let f = new_file(&meta, sub, b"f").await;
    write(&meta, f, 5000).await;
    let before = meta.quota(outer).await.unwrap().unwrap();
    assert!(before.used_inodes >= 3);

    assert!(meta.trash_tree(outer, b"vol").await.unwrap());
    assert!(meta.lookup(outer, b"vol").await.is_err());
    let outer_quota = meta.quota(outer).await.unwrap().unwrap();
    assert_eq!(
        (outer_quota.used_space, outer_quota.used_inodes),
        (0, 0),
        "the tree left the enclosing quota whole"
    );
    assert_eq!(meta.getattr(outer).await.unwrap().nlink, 2);
    let vol_quota = meta.quota(vol).await.unwrap().unwrap();
    assert_eq!((vol_quota.capacity, vol_quota.used_inodes), (1 << 30, 2));
    clean(meta.check(false).await.unwrap());
    for (name, errno) in [(&b"vol"[..], libc::ENOENT), (b"x", libc::ENOENT)] {
        let err = meta.trash_tree(outer, name).await.unwrap_err();
        assert_eq!(err.errno(), errno);
    }
    new_file(&meta, outer, b"file").await;
    let err = meta.trash_tree(outer, b"file").await.unwrap_err();
    assert_eq!(err.errno(), libc::ENOTDIR);

    let entry = entry_of(&meta, vol).await;
    assert_eq!((entry.parent, &entry.original[..]), (outer, &b"vol"[..]));
    meta.restore_trashed(&entry).await.unwrap();
    assert_eq!(lookup(&meta, outer, b"vol").await, vol);
    assert_eq!(lookup(&meta, sub, b"f").await, f);
    let again = meta.quota(outer).await.unwrap().unwrap();
    assert_eq!(
        (again.used_space, again.used_inodes),
        (before.used_space, before.used_inodes + 1),
        "charged again, whole (beside the empty file made meanwhile)"
    );
    clean(meta.check(false).await.unwrap());

    // Purged with its hour: every inode and the quota go.
    assert!(meta.trash_tree(outer, b"vol").await.unwrap());
    let usage = meta.usage().await.unwrap();
    meta.purge_trash(i64::MAX).await.unwrap();
    assert!(meta.getattr(f).await.is_err());
    assert!(!matches!(meta.quota(vol).await, Ok(Some(_))));
    assert!(meta.usage().await.unwrap().inodes < usage.inodes);
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn without_trash_days_a_tree_is_discarded_at_once() {
    let (_d, meta) = fresh().await;
    let vol = meta.create(ME, ROOT_INO, b"vol", dir()).await.unwrap().0;
    let f = new_file(&meta, vol, b"f").await;
    write(&meta, f, 100).await;
    assert!(!meta.trash_tree(ROOT_INO, b"vol").await.unwrap());
    assert!(meta.getattr(f).await.is_err());
    assert!(meta.trash_entries().await.unwrap().is_empty());
    clean(meta.check(false).await.unwrap());
}

#[tokio::test]
async fn a_process_whose_first_change_makes_a_trash_hour_does_not_wait_for_itself() {
    let (_d, first, second) = common::fresh_with_second(1).await;
    let f = new_file(&first, ROOT_INO, b"f").await;
    // `second` has taken no inode numbers yet: the hour directory its first removal makes
    // takes one inside the removal's own transaction.
    let open = NONE_OPEN;
    let removal = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        second.unlink(ROOT_INO, b"f", &open),
    );
    removal.await.expect("the removal finished").unwrap();
    assert_eq!(entry_of(&second, f).await.original, b"f");
    clean(second.check(false).await.unwrap());
}
