//! File data in the metadata: each 64 MiB chunk of a file has a list of slices, oldest first,
//! each pointing into an immutable object. A read resolves which slice is visible where (newer
//! wins); a write appends slices; truncate and hole punching append holes; deleting a chunk
//! drops one reference per slice, and an object nobody references is queued for deletion —
//! or, when only overwritten or truncated data used it and the volume keeps a trash, kept
//! for the trash's days first.

use crate::engine::{AnyTxn, KvTxn, TXN_BUDGET};
use crate::error::{MetaError, Result, errno};
use crate::keys;
use crate::meta::{
    Meta, charged, get_attr, put_attr, read_txn, scan_prefix, usage_shard_of, write_txn,
};
use crate::model::{Attr, CHUNK_SIZE, FileKind, SLICE_LEN, Slice, Timespec};

/// A chunk whose record holds more slices than this is worth compacting.
pub const COMPACT_SLICES: usize = 64;

/// Chunks one step of a deletion looks at.
const DROP_SCAN: usize = 64;

/// Room a chunk of one slice takes to drop (a read and up to two writes, the chunk's delete):
/// a deletion step ends rather than queue such a chunk as garbage.
const DROP_ROOM: usize = 4;

/// Bytes of `len` at `pos` in a chunk, and where to read them (object 0: zeros).
pub type Piece = Slice;

/// The visible pieces of `[start, end)` in a chunk with these slices, in position order,
/// gaps filled with holes.
pub fn visible(slices: &[Slice], start: u32, end: u32) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut uncovered = vec![(start, end)];
    for slice in slices.iter().rev() {
        if uncovered.is_empty() {
            break;
        }
        let (s_start, s_end) = (slice.pos, slice.pos.saturating_add(slice.len));
        let mut rest = Vec::with_capacity(uncovered.len());
        for (a, b) in uncovered {
            let (lo, hi) = (a.max(s_start), b.min(s_end));
            if lo >= hi {
                rest.push((a, b));
                continue;
            }
            pieces.push(Slice {
                pos: lo,
                len: hi - lo,
                object: slice.object,
                offset: if slice.is_hole() {
                    0
                } else {
                    slice.offset + u64::from(lo - s_start)
                },
            });
            if a < lo {
                rest.push((a, lo));
            }
            if hi < b {
                rest.push((hi, b));
            }
        }
        uncovered = rest;
    }
    pieces.extend(uncovered.into_iter().map(|(a, b)| Slice::hole(a, b - a)));
    pieces.sort_by_key(|p| p.pos);
    pieces
}

/// The chunks `[offset, offset + len)` of a file touches, each as (chunk index, start, end)
/// with positions inside the chunk.
pub fn split_range(offset: u64, len: u64) -> impl Iterator<Item = (u32, u32, u32)> {
    let end = offset.saturating_add(len);
    let mut at = offset;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let index = at / CHUNK_SIZE;
        let chunk_end = ((index + 1) * CHUNK_SIZE).min(end);
        let item = (
            u32::try_from(index).ok()?,
            (at % CHUNK_SIZE) as u32,
            (chunk_end - index * CHUNK_SIZE) as u32,
        );
        at = chunk_end;
        Some(item)
    })
}

/// An object a session writes: its id and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewObject {
    /// The mount session writing it (its pending record is `"P" session id`).
    pub session: u64,
    /// The object id, from [`Meta::next_object`].
    pub id: u64,
    /// Its size in bytes.
    pub len: u64,
}

/// A slice written into one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSlice {
    /// The chunk's index in the file (its bytes from `chunk` × [`CHUNK_SIZE`]).
    pub chunk: u32,
    /// The slice, its position relative to the chunk.
    pub slice: Slice,
}

impl Meta {
    /// The slices of chunk `index` of `ino`, oldest first.
    pub async fn chunk(&self, ino: u64, index: u32) -> Result<Vec<Slice>> {
        read_txn!(self, |txn| read_chunk(&mut txn, ino, index).await)
    }

    /// Chunk `index` of `ino` and the file's length, of one moment: a reader clips what it
    /// returns to that length (another mount may have cut the file since this one learned
    /// its length).
    pub async fn chunk_and_len(&self, ino: u64, index: u32) -> Result<(Vec<Slice>, u64)> {
        read_txn!(self, |txn| {
            txn.prefetch(&[keys::chunk(ino, index), keys::attr(ino)])
                .await?;
            let slices = read_chunk(&mut txn, ino, index).await?;
            Ok((slices, get_attr(&mut txn, ino).await?.size))
        })
    }

    /// Announces that `object.session` is about to write `object` (`object.len` bytes), so
    /// that a crash before [`Meta::commit_write`] leaves a record of what to delete, not leaked
    /// blocks.
    pub async fn intend_object(&self, object: NewObject) -> Result<()> {
        write_txn!(self, |txn| {
            txn.put(
                &keys::pending(object.session, object.id),
                &object.len.to_be_bytes(),
            )?;
            Ok(())
        })
    }

    /// Records a write: `slices` point into the new object `object` (`object.len` bytes).
    /// The file grows to `new_len` if shorter. Returns the attributes and the chunks now worth
    /// compacting. ENOENT when the file is gone: the caller then discards the object; EINVAL
    /// when it is not a regular file; EIO when the object's pending record is gone (the session
    /// was found dead meanwhile and its blocks may be deleted). `announce` is announced in the
    /// same commit, as [`Meta::intend_object`] would: the object the session's next write
    /// stores, which then needs no commit before its bytes are stored.
    pub async fn commit_write(
        &self,
        ino: u64,
        object: NewObject,
        slices: &[ChunkSlice],
        new_len: u64,
        mtime: Timespec,
        announce: Option<NewObject>,
    ) -> Result<(Attr, Vec<u32>)> {
        let mut wanted = vec![
            keys::attr(ino),
            keys::pending(object.session, object.id),
            keys::refs(object.id),
            keys::usage_shard(keys::USED_SPACE, usage_shard_of(ino)),
        ];
        wanted.extend(slices.iter().map(|one| keys::chunk(ino, one.chunk)));
        wanted.dedup();
        write_txn!(self, |txn| {
            txn.prefetch(&wanted).await?;
            let mut attr = get_attr(&mut txn, ino).await?;
            if attr.kind != FileKind::File {
                return errno(libc::EINVAL);
            }
            claim_pending(&mut txn, &object).await?;
            let mut crowded = Vec::new();
            for one in slices {
                let key = keys::chunk(ino, one.chunk);
                let mut record = txn.get(&key).await?.unwrap_or_default();
                one.slice.encode_into(&mut record);
                if record.len() / SLICE_LEN > COMPACT_SLICES && !crowded.contains(&one.chunk) {
                    crowded.push(one.chunk);
                }
                txn.put(&key, &record)?;
            }
            if !slices.is_empty() {
                add_refs(&mut txn, object.id, object.len, slices.len() as u64).await?;
            }
            if new_len > attr.size {
                resize(&mut txn, ino, &mut attr, new_len).await?;
            }
            attr.mtime = mtime;
            attr.ctime = mtime.max(attr.ctime);
            put_attr(&mut txn, ino, &attr)?;
            if let Some(next) = announce {
                txn.put(
                    &keys::pending(next.session, next.id),
                    &next.len.to_be_bytes(),
                )?;
            }
            Ok((attr, crowded))
        })
    }

    /// Whether any slice refers to `object` now.
    pub async fn is_referenced(&self, object: u64) -> Result<bool> {
        read_txn!(self, |txn| Ok(txn
            .get(&keys::refs(object))
            .await?
            .is_some()))
    }

    /// Queues an object that was written but never referenced (its commit failed).
    pub async fn discard_object(&self, object: NewObject) -> Result<()> {
        write_txn!(self, |txn| {
            txn.delete(&keys::pending(object.session, object.id))?;
            txn.put(&keys::doomed(object.id), &object.len.to_be_bytes())?;
            Ok(())
        })
    }

    /// Sets the length of a regular file; bytes past a shrunk end read as zeros if it grows
    /// again.
    ///
    /// Cutting off more chunks than one transaction holds goes in steps from the end, each a
    /// truncate to a chunk boundary on the way, so every state in between is a valid file.
    pub async fn truncate(&self, ino: u64, size: u64, now: Timespec) -> Result<Attr> {
        loop {
            let (attr, done) = write_txn!(self, |txn| {
                let mut attr = get_attr(&mut txn, ino).await?;
                match attr.kind {
                    FileKind::File => {}
                    FileKind::Dir => return errno(libc::EISDIR),
                    _ => return errno(libc::EINVAL),
                }
                let mut target = size;
                if size < attr.size {
                    let first = first_chunk_past(size);
                    let end = first_chunk_past(attr.size);
                    let kept = self.keep_replaced();
                    let lowest = drop_chunk_tail(&mut txn, ino, (first, end), kept).await?;
                    if lowest > first {
                        target = lowest * CHUNK_SIZE;
                    } else {
                        cut(&mut txn, ino, size).await?;
                    }
                }
                resize(&mut txn, ino, &mut attr, target).await?;
                attr.mtime = now;
                attr.ctime = now;
                put_attr(&mut txn, ino, &attr)?;
                Ok((attr, target == size))
            })?;
            if done {
                return Ok(attr);
            }
        }
    }

    /// Drops the chunks of deleted files, and the references of replaced or dropped slices,
    /// that did not fit in their transaction; returns how many records it finished.
    pub async fn drop_deleted_chunks(&self) -> Result<usize> {
        let inodes: Vec<u64> = read_txn!(self, |txn| {
            let end = crate::engine::prefix_end(keys::DROPPING_PREFIX);
            Ok(txn
                .scan(keys::DROPPING_PREFIX, &end, 64)
                .await?
                .iter()
                .filter_map(|(key, _)| keys::u64_at(key, 1))
                .collect())
        })?;
        for &ino in &inodes {
            loop {
                let done = write_txn!(self, |txn| {
                    let done = drop_chunks(&mut txn, ino).await?;
                    if done {
                        txn.delete(&keys::dropping(ino))?;
                    }
                    Ok(done)
                })?;
                if done {
                    break;
                }
            }
        }
        let garbage: Vec<Vec<u8>> = read_txn!(self, |txn| {
            let end = crate::engine::prefix_end(keys::GARBAGE_PREFIX);
            Ok(txn
                .scan(keys::GARBAGE_PREFIX, &end, 64)
                .await?
                .into_iter()
                .map(|(key, _)| key)
                .collect())
        })?;
        for key in &garbage {
            loop {
                let done = write_txn!(self, |txn| {
                    let Some(record) = txn.get(key).await? else {
                        return Ok(true);
                    };
                    // Slices a live file replaced are overwritten data; a deleted file's went
                    // through the trash already.
                    let kept = match (self.keep_replaced(), keys::u64_at(key, 1)) {
                        (Some(since), Some(ino)) if txn.get(&keys::attr(ino)).await?.is_some() => {
                            Some(since)
                        }
                        _ => None,
                    };
                    let slices = Slice::decode_all(&record)?;
                    let mut dropped = 0;
                    for slice in &slices {
                        if txn.size() + 3 >= TXN_BUDGET {
                            break;
                        }
                        drop_ref(&mut txn, slice.object, kept).await?;
                        dropped += 1;
                    }
                    if dropped == slices.len() {
                        txn.delete(key)?;
                        return Ok(true);
                    }
                    txn.put(key, &record[dropped * SLICE_LEN..])?;
                    Ok(false)
                })?;
                if done {
                    break;
                }
            }
        }
        Ok(inodes.len() + garbage.len())
    }

    /// Turns `[offset, offset + len)` into a hole; with `grow` the file is extended to cover
    /// the range (fallocate ZERO_RANGE without KEEP_SIZE).
    pub async fn punch(&self, ino: u64, offset: u64, len: u64, grow: bool) -> Result<Attr> {
        write_txn!(self, |txn| {
            let mut attr = get_attr(&mut txn, ino).await?;
            if attr.kind != FileKind::File {
                return errno(libc::ENODEV);
            }
            let limit = if grow {
                offset.saturating_add(len)
            } else {
                attr.size
            };
            let end = offset.saturating_add(len).min(limit);
            if end > offset {
                for (index, start, stop) in split_range(offset, end - offset) {
                    append(&mut txn, ino, index, Slice::hole(start, stop - start)).await?;
                }
            }
            if grow && offset.saturating_add(len) > attr.size {
                resize(&mut txn, ino, &mut attr, offset.saturating_add(len)).await?;
            }
            let now = Timespec::now();
            attr.mtime = now;
            attr.ctime = now;
            put_attr(&mut txn, ino, &attr)?;
            Ok(attr)
        })
    }

    /// Makes `[dst_offset, +len)` of `dst` share the objects behind `[src_offset, +len)` of
    /// `src` (copy_file_range without copying bytes). Returns the bytes copied and `dst`'s
    /// attributes; a range of many chunks may be copied short, as one transaction holds only so
    /// many changes.
    pub async fn clone_range(
        &self,
        src: u64,
        src_offset: u64,
        dst: u64,
        dst_offset: u64,
        len: u64,
    ) -> Result<(u64, Attr)> {
        write_txn!(self, |txn| {
            let src_attr = get_attr(&mut txn, src).await?;
            let mut dst_attr = get_attr(&mut txn, dst).await?;
            if src_attr.kind != FileKind::File || dst_attr.kind != FileKind::File {
                return errno(libc::EINVAL);
            }
            let len = len.min(src_attr.size.saturating_sub(src_offset));
            if len == 0 {
                return Ok((0, dst_attr));
            }
            if dst_offset.saturating_add(len) > crate::model::MAX_FILE_SIZE {
                return errno(libc::EFBIG);
            }
            let mut copied = 0;
            for (index, start, stop) in split_range(src_offset, len) {
                let slices = read_chunk(&mut txn, src, index).await?;
                for piece in visible(&slices, start, stop) {
                    let file_pos = u64::from(index) * CHUNK_SIZE + u64::from(piece.pos);
                    let target = dst_offset + (file_pos - src_offset);
                    let mut at = 0;
                    for (d_index, d_start, d_stop) in split_range(target, u64::from(piece.len)) {
                        let part = Slice {
                            pos: d_start,
                            len: d_stop - d_start,
                            object: piece.object,
                            offset: if piece.is_hole() {
                                0
                            } else {
                                piece.offset + at
                            },
                        };
                        at += u64::from(part.len);
                        if !part.is_hole() {
                            add_refs(&mut txn, part.object, 0, 1).await?;
                        }
                        append(&mut txn, dst, d_index, part).await?;
                    }
                }
                copied += u64::from(stop - start);
                if txn.size() >= TXN_BUDGET {
                    // A short copy: the caller continues from here (copy_file_range may).
                    break;
                }
            }
            if dst_offset + copied > dst_attr.size {
                resize(&mut txn, dst, &mut dst_attr, dst_offset + copied).await?;
            }
            let now = Timespec::now();
            dst_attr.mtime = now;
            dst_attr.ctime = now;
            put_attr(&mut txn, dst, &dst_attr)?;
            Ok((copied, dst_attr))
        })
    }

    /// Replaces chunk `index` of `ino` with `new` (pointing into `object`) if it still holds
    /// exactly `old`; returns whether it did. Compaction uses this after rewriting a chunk.
    pub async fn replace_chunk(
        &self,
        ino: u64,
        index: u32,
        old: &[Slice],
        new: &[Slice],
        object: NewObject,
    ) -> Result<bool> {
        write_txn!(self, |txn| {
            if read_chunk(&mut txn, ino, index).await? != old {
                return Ok(false);
            }
            let mut record = Vec::with_capacity(new.len() * SLICE_LEN);
            new.iter().for_each(|s| s.encode_into(&mut record));
            txn.put(&keys::chunk(ino, index), &record)?;
            let fresh = new.iter().filter(|s| !s.is_hole()).count() as u64;
            if fresh > 0 {
                claim_pending(&mut txn, &object).await?;
                add_refs(&mut txn, object.id, object.len, fresh).await?;
            }
            let dropped: Vec<Slice> = old.iter().filter(|s| !s.is_hole()).copied().collect();
            drop_slices(&mut txn, (ino, index), &dropped, self.keep_replaced()).await?;
            Ok(true)
        })
    }

    /// Objects nobody references any more, with their sizes, for the block deleter; none
    /// while a clone runs (it may take back an object its snapshot refers to).
    pub async fn doomed_objects(&self, limit: usize) -> Result<Vec<(u64, u64)>> {
        read_txn!(self, |txn| {
            if crate::clone::clone_running(&mut txn).await? {
                return Ok(Vec::new());
            }
            let prefix = keys::DOOMED_PREFIX;
            txn.scan(prefix, &crate::engine::prefix_end(prefix), limit)
                .await?
                .into_iter()
                .map(|(key, value)| {
                    let object = keys::u64_at(&key, 1)
                        .ok_or_else(|| MetaError::Corrupt("doomed object key".into()))?;
                    Ok((object, crate::model::decode_u64(&value, "object size")?))
                })
                .collect()
        })
    }

    /// Which of `objects` (sorted) the metadata knows: referenced, kept for the trash,
    /// waiting for deletion, or being written. The rest are leaked (a crash between storing
    /// blocks and recording them). Reads ranges of reference records around runs of close ids, so the keys read
    /// stay within a few times the ids asked about.
    pub async fn known_objects(&self, objects: &[u64]) -> Result<std::collections::HashSet<u64>> {
        read_txn!(self, |txn| {
            let mut known = std::collections::HashSet::new();
            for (key, _) in scan_prefix(&mut txn, keys::PENDING_PREFIX).await? {
                if let Some(object) = keys::u64_at(&key, 9) {
                    known.insert(object);
                }
            }
            let mut runs = vec![objects];
            while let Some(run) = runs.pop() {
                let (Some(&first), Some(&last)) = (run.first(), run.last()) else {
                    continue;
                };
                if run.len() > 1 && last - first > 4 * run.len() as u64 {
                    let (low, high) = run.split_at(run.len() / 2);
                    runs.extend([low, high]);
                    continue;
                }
                for prefix in [keys::REFS_PREFIX, keys::KEPT_PREFIX, keys::DOOMED_PREFIX] {
                    let start = [prefix, &first.to_be_bytes()[..]].concat();
                    let end = match last.checked_add(1) {
                        Some(next) => [prefix, &next.to_be_bytes()[..]].concat(),
                        None => crate::engine::prefix_end(prefix),
                    };
                    for (key, _) in txn.scan(&start, &end, usize::MAX).await? {
                        if let Some(object) = keys::u64_at(&key, prefix.len()) {
                            known.insert(object);
                        }
                    }
                }
            }
            Ok(known)
        })
    }

    /// The blocks of `object` are deleted.
    pub async fn forget_object(&self, object: u64) -> Result<()> {
        write_txn!(self, |txn| Ok(txn.delete(&keys::doomed(object))?))
    }
}

pub(crate) async fn read_chunk(txn: &mut AnyTxn, ino: u64, index: u32) -> Result<Vec<Slice>> {
    match txn.get(&keys::chunk(ino, index)).await? {
        Some(bytes) => Slice::decode_all(&bytes),
        None => Ok(Vec::new()),
    }
}

async fn append(txn: &mut AnyTxn, ino: u64, index: u32, slice: Slice) -> Result<()> {
    let key = keys::chunk(ino, index);
    let mut record = txn.get(&key).await?.unwrap_or_default();
    slice.encode_into(&mut record);
    Ok(txn.put(&key, &record)?)
}

/// Sets a file's size and charges the difference.
async fn resize(txn: &mut AnyTxn, ino: u64, attr: &mut Attr, size: u64) -> Result<()> {
    let delta = charged(attr.kind, size) - charged(attr.kind, attr.size);
    attr.size = size;
    crate::quota::charge(txn, ino, attr, delta, 0).await
}

/// Hides everything at and after `size`: later chunks are dropped, the chunk holding `size`
/// gets a hole from there to its end.
async fn cut(txn: &mut AnyTxn, ino: u64, size: u64) -> Result<()> {
    let index = size / CHUNK_SIZE;
    let within = (size % CHUNK_SIZE) as u32;
    if within != 0 {
        let index = index as u32;
        if txn.get(&keys::chunk(ino, index)).await?.is_some() {
            append(
                txn,
                ino,
                index,
                Slice::hole(within, CHUNK_SIZE as u32 - within),
            )
            .await?;
        }
    }
    Ok(())
}

/// A written object becomes referenced: its pending record goes. If the record is gone, the
/// writing session was declared dead (its heartbeat stopped for longer than its lease) and the
/// object's blocks may be deleted already: nothing may point at it, so the write fails.
async fn claim_pending(txn: &mut AnyTxn, object: &NewObject) -> Result<()> {
    let key = keys::pending(object.session, object.id);
    if txn.get(&key).await?.is_none() {
        tracing::error!(
            session = object.session,
            object = object.id,
            "this mount's session expired while it wrote; the write fails"
        );
        return errno(libc::EIO);
    }
    txn.delete(&key)?;
    Ok(())
}

/// The index of the first chunk wholly past `size`.
fn first_chunk_past(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE)
}

/// Deletes the chunks of a removed file, dropping their references, as far as the
/// transaction's budget allows; true when none are left.
pub(crate) async fn drop_chunks(txn: &mut AnyTxn, ino: u64) -> Result<bool> {
    let prefix = keys::chunks(ino);
    let end = crate::engine::prefix_end(&prefix);
    let batch = txn.scan(&prefix, &end, DROP_SCAN + 1).await?;
    let more = batch.len() > DROP_SCAN;
    for (key, value) in batch.into_iter().take(DROP_SCAN) {
        if txn.size() + DROP_ROOM >= TXN_BUDGET {
            return Ok(false);
        }
        drop_chunk(txn, &key, &value, None).await?;
    }
    Ok(!more)
}

/// Deletes the chunks of `ino` from index `first` up to (not including) `end`, last first, as
/// far as the budget allows; returns the lowest index from which none are left. `kept`: see
/// [`drop_ref`].
async fn drop_chunk_tail(
    txn: &mut AnyTxn,
    ino: u64,
    (first, end): (u64, u64),
    kept: Option<i64>,
) -> Result<u64> {
    let window = first.max(end.saturating_sub(DROP_SCAN as u64));
    let chunk_key = |index: u64| match u32::try_from(index) {
        Ok(index) => keys::chunk(ino, index),
        Err(_) => crate::engine::prefix_end(&keys::chunks(ino)),
    };
    let found = txn
        .scan(&chunk_key(window), &chunk_key(end), usize::MAX)
        .await?;
    let mut lowest = end;
    for (key, value) in found.into_iter().rev() {
        if lowest < end && txn.size() + DROP_ROOM >= TXN_BUDGET {
            return Ok(lowest);
        }
        drop_chunk(txn, &key, &value, kept).await?;
        lowest = keys::u32_at(&key, 9).map_or(window, u64::from);
    }
    Ok(window)
}

async fn drop_chunk(txn: &mut AnyTxn, key: &[u8], value: &[u8], kept: Option<i64>) -> Result<()> {
    let (Some(ino), Some(index)) = (keys::u64_at(key, 1), keys::u32_at(key, 9)) else {
        return Err(MetaError::Corrupt("chunk key".into()));
    };
    let slices: Vec<Slice> = Slice::decode_all(value)?
        .into_iter()
        .filter(|s| !s.is_hole())
        .collect();
    drop_slices(txn, (ino, index), &slices, kept).await?;
    txn.delete(key)?;
    Ok(())
}

/// Drops one reference per slice: at once if the transaction has room (each costs a read and
/// up to two writes), otherwise by queueing the slices as garbage of chunk `index` of `ino`
/// for the background ([`Meta::drop_deleted_chunks`]). `kept`: see [`drop_ref`].
async fn drop_slices(
    txn: &mut AnyTxn,
    (ino, index): (u64, u32),
    slices: &[Slice],
    kept: Option<i64>,
) -> Result<()> {
    if txn.size() + 3 * slices.len() < TXN_BUDGET {
        for slice in slices {
            drop_ref(txn, slice.object, kept).await?;
        }
        return Ok(());
    }
    let key = keys::garbage(ino, index);
    let mut record = txn.get(&key).await?.unwrap_or_default();
    slices.iter().for_each(|s| s.encode_into(&mut record));
    txn.put(&key, &record)?;
    Ok(())
}

/// Adds `count` references to an object; `len` is its size, recorded on first reference.
async fn add_refs(txn: &mut AnyTxn, object: u64, len: u64, count: u64) -> Result<()> {
    let key = keys::refs(object);
    let (refs, size) = match txn.get(&key).await? {
        Some(bytes) => decode_refs(&bytes)?,
        None => (0, len),
    };
    txn.put(&key, &encode_refs(refs + count, size))?;
    Ok(())
}

/// Drops one reference to `object`. Its last goes: with `kept` (the second overwritten data
/// lost it, when the volume keeps a trash) the object is kept for the trash's days, else it
/// is queued for deletion.
async fn drop_ref(txn: &mut AnyTxn, object: u64, kept: Option<i64>) -> Result<()> {
    let key = keys::refs(object);
    let Some(bytes) = txn.get(&key).await? else {
        tracing::warn!(
            object,
            "dropping a reference to an object without references"
        );
        return Ok(());
    };
    let (refs, size) = decode_refs(&bytes)?;
    if refs <= 1 {
        txn.delete(&key)?;
        match kept {
            Some(since) => txn.put(&keys::kept(object), &encode_kept(size, since))?,
            None => txn.put(&keys::doomed(object), &size.to_be_bytes())?,
        }
    } else {
        txn.put(&key, &encode_refs(refs - 1, size))?;
    }
    Ok(())
}

pub(crate) fn encode_refs(refs: u64, size: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&refs.to_be_bytes());
    out[8..].copy_from_slice(&size.to_be_bytes());
    out
}

pub(crate) fn encode_kept(size: u64, since: i64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&size.to_be_bytes());
    out[8..].copy_from_slice(&since.to_be_bytes());
    out
}

/// An object kept for the trash: its size and the second it lost its last reference.
pub(crate) fn decode_kept(bytes: &[u8]) -> Result<(u64, i64)> {
    let parts = bytes
        .split_first_chunk::<8>()
        .and_then(|(size, rest)| Some((*size, <[u8; 8]>::try_from(rest).ok()?)));
    match parts {
        Some((size, since)) => Ok((u64::from_be_bytes(size), i64::from_be_bytes(since))),
        None => Err(MetaError::Corrupt("kept object record".into())),
    }
}

pub(crate) fn decode_refs(bytes: &[u8]) -> Result<(u64, u64)> {
    match bytes.split_first_chunk::<8>() {
        Some((refs, size)) if size.len() == 8 => Ok((
            u64::from_be_bytes(*refs),
            crate::model::decode_u64(size, "object size")?,
        )),
        _ => Err(MetaError::Corrupt("object reference record".into())),
    }
}

/// Every chunk record of a file, for checks and SEEK_DATA.
pub(crate) async fn all_chunks(txn: &mut AnyTxn, ino: u64) -> Result<Vec<(u32, Vec<Slice>)>> {
    let prefix = keys::chunks(ino);
    scan_prefix(txn, &prefix)
        .await?
        .into_iter()
        .map(|(key, value)| {
            let index = keys::u32_at(&key, prefix.len())
                .ok_or_else(|| MetaError::Corrupt("chunk key".into()))?;
            Ok((index, Slice::decode_all(&value)?))
        })
        .collect()
}

impl Meta {
    /// `lseek` with SEEK_DATA (`data`) or SEEK_HOLE from `offset`: ENXIO at or past the end,
    /// or when no data follows. The end of the file counts as a hole.
    pub async fn seek(&self, ino: u64, offset: u64, data: bool) -> Result<u64> {
        read_txn!(self, |txn| {
            let attr = get_attr(&mut txn, ino).await?;
            if offset >= attr.size {
                return errno(libc::ENXIO);
            }
            let mut extents = Vec::new();
            for (index, slices) in all_chunks(&mut txn, ino).await? {
                let base = u64::from(index) * CHUNK_SIZE;
                for piece in visible(&slices, 0, CHUNK_SIZE as u32) {
                    if !piece.is_hole() {
                        let start = base + u64::from(piece.pos);
                        extents.push((start, (start + u64::from(piece.len)).min(attr.size)));
                    }
                }
            }
            let mut at = offset;
            for (start, end) in extents.into_iter().filter(|&(s, e)| s < e) {
                if data {
                    if end > at {
                        return Ok(start.max(at));
                    }
                } else if start > at {
                    return Ok(at);
                } else if end > at {
                    at = end;
                }
            }
            if data {
                errno(libc::ENXIO)
            } else {
                Ok(at.min(attr.size))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pos: u32, len: u32, object: u64) -> Slice {
        Slice {
            pos,
            len,
            object,
            offset: 0,
        }
    }

    #[test]
    fn newer_slices_win_and_gaps_are_holes() {
        let slices = [s(0, 100, 1), s(50, 10, 2), Slice::hole(90, 20)];
        let pieces = visible(&slices, 0, 120);
        let summary: Vec<_> = pieces
            .iter()
            .map(|p| (p.pos, p.len, p.object, p.offset))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, 50, 1, 0),
                (50, 10, 2, 0),
                (60, 30, 1, 60),
                (90, 20, 0, 0),
                (110, 10, 0, 0)
            ]
        );
    }

    #[test]
    fn ranges_split_at_chunk_boundaries() {
        let parts: Vec<_> = split_range(CHUNK_SIZE - 10, 30).collect();
        assert_eq!(
            parts,
            vec![(0, (CHUNK_SIZE - 10) as u32, CHUNK_SIZE as u32), (1, 0, 20)]
        );
        assert_eq!(split_range(5, 0).count(), 0);
    }
}
