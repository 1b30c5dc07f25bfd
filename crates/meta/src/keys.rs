//! The whole key schema, one builder per kind of key. Integers are big-endian so that keys of
//! one kind sort by number and a prefix scan walks them in order.
//!
//! ```text
//! 0x00                        durability marker (written by the embedded engine's sync)
//! "V"                         volume settings (JSON, see `volume.rs`)
//! "C" name                    counter (u64): next inode, next object id, next session, used
//!                             space, used inodes
//! "A" ino                     inode attributes (see `model.rs`, [`Attr`](crate::Attr))
//! "M" ino                     when a directory's entries last changed (a time): its mtime
//!                             and ctime when later than its attributes'
//! "D" parent name             directory entry: kind (u8) + inode (u64)
//! "S" ino                     symbolic link target
//! "X" ino name                extended attribute value
//! "F" ino chunk:u32           chunk map: the slices written into one 64 MiB chunk, oldest first
//! "R" object                  how many slices point into an object (u64) and its size (u64)
//! "Z" object                  an object nobody references: its size, until its blocks are deleted
//! "H" object                  an object only overwritten or truncated data used: its size and
//!                             the second it lost its last reference, kept for the trash's days
//! "E" session                 a mount session (JSON) with its heartbeat
//! "O" ino session             a session holds the inode open: without names it lives on
//! "P" session object          an object a session is writing: its size, until committed
//! "T" ino                     a deleted file whose chunks are still being dropped, in batches
//! "G" ino chunk:u32           slices whose references are still to be dropped, in batches
//! "L" ino kind session owner  one owner's locks on a file (kind 0: POSIX, 1: flock)
//! "N" group 0x00 addr         a member of a cache group (JSON) with its heartbeat
//! "Q" ino                     a directory quota: limits, enclosing quota, usage (`model.rs`)
//!                             less what its shards hold
//! "U" quota shard:u8          a shard of a quota's usage: space (i64) + inodes (i64)
//! "K" root                    a clone being built under the unnamed `root` (JSON, `clone.rs`)
//! "I" name                    a reserved directory no entry names (u64 inode): snapshots
//! ```

// Counter names: the `name` of a `"C" name` key (see `counter`).

/// Counter: the first inode number no process has taken yet (processes take them in batches).
pub const NEXT_INODE: &str = "nextInode";
/// Counter: the first object id no process has taken yet (processes take them in batches).
pub const NEXT_OBJECT: &str = "nextObject";
/// Counter: the id the next registered mount session gets.
pub const NEXT_SESSION: &str = "nextSession";
/// Counter: bytes in use, files charged in whole 4 KiB blocks, directories and symbolic links
/// 4 KiB each.
pub const USED_SPACE: &str = "usedSpace";
/// Counter: inodes in use.
pub const USED_INODES: &str = "usedInodes";

/// `"V"`: the whole key of the volume's settings (JSON of [`Volume`](crate::Volume)).
pub const VOLUME: &[u8] = b"V";
/// `"A" ino`: an inode's attributes ([`Attr`](crate::Attr)).
pub const ATTR_PREFIX: &[u8] = b"A";
/// `"M" ino`: when a directory's entries last changed. Creates, links, unlinks and renames
/// write it without reading it, so that those in one directory do not conflict on the
/// directory's attributes; its mtime and ctime are the later of this and the attributes'.
pub const DIR_TIMES_PREFIX: &[u8] = b"M";
/// `"D" parent name`: a directory entry ([`Dirent`](crate::Dirent)).
pub const ENTRY_PREFIX: &[u8] = b"D";
/// `"F" ino chunk:u32`: the slices of one chunk of a file, oldest first.
pub const CHUNK_PREFIX: &[u8] = b"F";
/// `"R" object`: an object's reference count (u64) and size in bytes (u64).
pub const REFS_PREFIX: &[u8] = b"R";
/// `"Z" object`: an object nobody references, with its size (u64), until its blocks are deleted.
pub const DOOMED_PREFIX: &[u8] = b"Z";
/// `"H" object`: an object only overwritten or truncated data used, with its size (u64) and
/// the second (i64) it lost its last reference, kept while the trash keeps deleted files.
pub const KEPT_PREFIX: &[u8] = b"H";
/// `"E" session`: a mount session ([`SessionInfo`](crate::SessionInfo), JSON).
pub const SESSION_PREFIX: &[u8] = b"E";
/// `"O" ino session`: a session holds the inode open (empty value).
pub const OPEN_PREFIX: &[u8] = b"O";
/// `"S" ino`: a symbolic link's target.
pub const SYMLINK_PREFIX: &[u8] = b"S";
/// `"P" session object`: an object a session is writing, with its size (u64), until committed.
pub const PENDING_PREFIX: &[u8] = b"P";
/// `"X" ino name`: an extended attribute's value (POSIX ACLs included).
pub const XATTR_PREFIX: &[u8] = b"X";
/// `"T" ino`: a deleted file whose chunks are still being dropped (empty value).
pub const DROPPING_PREFIX: &[u8] = b"T";
/// `"L" ino kind:u8 session owner`: one lock owner's locks on a file (kind 0: POSIX, 1: flock).
pub const LOCK_PREFIX: &[u8] = b"L";
/// `"G" ino chunk:u32`: slices whose references are still to be dropped, in batches.
pub const GARBAGE_PREFIX: &[u8] = b"G";
/// `"N" group 0x00 addr`: a member of a cache group ([`CacheNodeInfo`](crate::CacheNodeInfo)).
pub const CACHE_NODE_PREFIX: &[u8] = b"N";
/// Prefix of directory quotas.
pub const QUOTA_PREFIX: &[u8] = b"Q";
/// Prefix of the shards of quotas' usage.
pub const QUOTA_USAGE_PREFIX: &[u8] = b"U";
/// A quota's usage is kept in its record and this many shards, each changed only by the
/// inodes it owns (inode % shards), so concurrent writers under one quota seldom meet on one
/// key.
pub const QUOTA_SHARDS: u64 = 16;
/// Prefix of clones being built.
pub const CLONE_PREFIX: &[u8] = b"K";
/// Prefix of reserved directories.
pub const RESERVED_PREFIX: &[u8] = b"I";

fn with(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.extend_from_slice(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// `"C" name`: the key of counter `name` (u64 value).
pub fn counter(name: &str) -> Vec<u8> {
    with(b"C", &[name.as_bytes()])
}

/// Usage counters ([`USED_SPACE`], [`USED_INODES`]) are kept in this many shards, each
/// changed only by the inodes it owns (inode % shards), so concurrent writers of different
/// files never meet on one key.
pub const USAGE_SHARDS: u64 = 64;

/// `"C" name "/" shard`: one shard of usage counter `name` (i64 value: a shard's inodes may
/// give back what the unsharded counter of an older volume counted).
pub fn usage_shard(name: &str, shard: u8) -> Vec<u8> {
    with(b"C", &[name.as_bytes(), b"/", &[shard]])
}

/// The prefix of every shard of usage counter `name`.
pub fn usage_shards(name: &str) -> Vec<u8> {
    with(b"C", &[name.as_bytes(), b"/"])
}

/// `"I" name`: the reserved directory `name`.
pub fn reserved(name: &str) -> Vec<u8> {
    with(RESERVED_PREFIX, &[name.as_bytes()])
}

/// `"K" root`: the clone being built under the unnamed directory (or file) `root`.
pub fn clone_root(root: u64) -> Vec<u8> {
    with(CLONE_PREFIX, &[&root.to_be_bytes()])
}

/// `"Q" ino`: the quota of directory `ino`.
pub fn quota(ino: u64) -> Vec<u8> {
    with(QUOTA_PREFIX, &[&ino.to_be_bytes()])
}

/// `"U" quota shard`: shard `shard` of the usage of quota `quota`.
pub fn quota_usage(quota: u64, shard: u8) -> Vec<u8> {
    with(QUOTA_USAGE_PREFIX, &[&quota.to_be_bytes(), &[shard]])
}

/// The prefix of every shard of quota `quota`'s usage.
pub fn quota_usages(quota: u64) -> Vec<u8> {
    id_key(QUOTA_USAGE_PREFIX, quota)
}

/// The kinds of keys named after an inode number.
pub const INODE_KINDS: [&[u8]; 8] = [
    ATTR_PREFIX,
    DIR_TIMES_PREFIX,
    ENTRY_PREFIX,
    CHUNK_PREFIX,
    XATTR_PREFIX,
    SYMLINK_PREFIX,
    OPEN_PREFIX,
    LOCK_PREFIX,
];

/// The kinds of keys named after an object id.
pub const OBJECT_KINDS: [&[u8]; 2] = [REFS_PREFIX, DOOMED_PREFIX];

/// For each of `kinds`, the range of keys named after an id in `ids`: `[kind start, kind end)`.
pub fn id_ranges(kinds: &[&[u8]], ids: std::ops::Range<u64>) -> Vec<(Vec<u8>, Vec<u8>)> {
    kinds
        .iter()
        .map(|kind| (id_key(kind, ids.start), id_key(kind, ids.end)))
        .collect()
}

/// `"A" ino`: the attributes of `ino`.
pub fn attr(ino: u64) -> Vec<u8> {
    id_key(ATTR_PREFIX, ino)
}

/// `"M" ino`: when the entries of directory `ino` last changed.
pub fn dir_times(ino: u64) -> Vec<u8> {
    id_key(DIR_TIMES_PREFIX, ino)
}

/// `"D" parent name`: the entry `name` in directory `parent`.
pub fn entry(parent: u64, name: &[u8]) -> Vec<u8> {
    with(ENTRY_PREFIX, &[&parent.to_be_bytes(), name])
}

/// The prefix of every entry of a directory.
pub fn entries(parent: u64) -> Vec<u8> {
    id_key(ENTRY_PREFIX, parent)
}

/// `"S" ino`: the target of symbolic link `ino`.
pub fn symlink(ino: u64) -> Vec<u8> {
    id_key(SYMLINK_PREFIX, ino)
}

/// `"X" ino name`: extended attribute `name` of `ino`.
pub fn xattr(ino: u64, name: &[u8]) -> Vec<u8> {
    with(XATTR_PREFIX, &[&ino.to_be_bytes(), name])
}

/// The prefix of every extended attribute of `ino`.
pub fn xattrs(ino: u64) -> Vec<u8> {
    id_key(XATTR_PREFIX, ino)
}

/// `"F" ino index`: the slices of chunk `index` of `ino` (its bytes from `index` × 64 MiB).
pub fn chunk(ino: u64, index: u32) -> Vec<u8> {
    with(CHUNK_PREFIX, &[&ino.to_be_bytes(), &index.to_be_bytes()])
}

/// The prefix of every chunk of a file.
pub fn chunks(ino: u64) -> Vec<u8> {
    id_key(CHUNK_PREFIX, ino)
}

/// `"R" object`: the reference count and size of `object`.
pub fn refs(object: u64) -> Vec<u8> {
    id_key(REFS_PREFIX, object)
}

/// `"Z" object`: `object` is unreferenced and its blocks are to be deleted.
pub fn doomed(object: u64) -> Vec<u8> {
    id_key(DOOMED_PREFIX, object)
}

/// `"H" object`: `object` holds only data the trash keeps.
pub fn kept(object: u64) -> Vec<u8> {
    id_key(KEPT_PREFIX, object)
}

/// `"G" ino index`: slices of chunk `index` of `ino` whose references are still to be dropped.
pub fn garbage(ino: u64, index: u32) -> Vec<u8> {
    with(GARBAGE_PREFIX, &[&ino.to_be_bytes(), &index.to_be_bytes()])
}

/// `"T" ino`: deleted file `ino` still has chunks to drop.
pub fn dropping(ino: u64) -> Vec<u8> {
    id_key(DROPPING_PREFIX, ino)
}

/// `"L" ino kind session owner`: the locks that the kernel's lock owner `owner` of mount
/// session `session` holds on `ino`: flock locks when `flock` (kind 1), POSIX record locks
/// otherwise (kind 0).
pub fn lock(ino: u64, flock: bool, session: u64, owner: u64) -> Vec<u8> {
    with(
        LOCK_PREFIX,
        &[
            &ino.to_be_bytes(),
            &[u8::from(flock)],
            &session.to_be_bytes(),
            &owner.to_be_bytes(),
        ],
    )
}

/// The prefix of every lock record of one kind on a file.
pub fn locks_of(ino: u64, flock: bool) -> Vec<u8> {
    with(LOCK_PREFIX, &[&ino.to_be_bytes(), &[u8::from(flock)]])
}

/// The prefix of the members of cache group `group`.
pub fn cache_group(group: &str) -> Vec<u8> {
    with(CACHE_NODE_PREFIX, &[group.as_bytes(), &[0]])
}

/// `"N" group 0x00 addr`: the member of cache group `group` reached at `addr`.
pub fn cache_node(group: &str, addr: &str) -> Vec<u8> {
    with(&cache_group(group), &[addr.as_bytes()])
}

/// `"E" session`: mount session `id`.
pub fn session(id: u64) -> Vec<u8> {
    id_key(SESSION_PREFIX, id)
}

/// `"O" ino session`: `session` holds `ino` open.
pub fn open_file(ino: u64, session: u64) -> Vec<u8> {
    with(OPEN_PREFIX, &[&ino.to_be_bytes(), &session.to_be_bytes()])
}

/// The prefix of every session's hold on a file.
pub fn open_files(ino: u64) -> Vec<u8> {
    id_key(OPEN_PREFIX, ino)
}

/// `"P" session object`: `session` is writing `object`.
pub fn pending(session: u64, object: u64) -> Vec<u8> {
    with(
        PENDING_PREFIX,
        &[&session.to_be_bytes(), &object.to_be_bytes()],
    )
}

/// The prefix of every object `session` is writing.
pub fn pending_of(session: u64) -> Vec<u8> {
    id_key(PENDING_PREFIX, session)
}

/// `prefix` followed by one id: a record of that id, or the prefix of all its records.
fn id_key(prefix: &[u8], id: u64) -> Vec<u8> {
    with(prefix, &[&id.to_be_bytes()])
}

/// Reads the big-endian u64 at `at` in a key.
pub fn u64_at(key: &[u8], at: usize) -> Option<u64> {
    let bytes = key.get(at..at + 8)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads the big-endian u32 at `at` in a key.
pub fn u32_at(key: &[u8], at: usize) -> Option<u32> {
    let bytes = key.get(at..at + 4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}
