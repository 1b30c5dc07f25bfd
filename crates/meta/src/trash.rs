//! The trash: with `trash_days` set, a file's last name and an emptied directory do not go
//! away but into the reserved directory `trash` — no path of the volume leads to it; mounts
//! show it to root as `/.trash` — in one directory per hour (`YYYY-MM-DD-HH`, UTC) under the
//! name `PARENT-INO-NAME`, until the hour is `trash_days` old and the background purges it.
//! A trashed inode keeps its data and attributes; the trash's entry is a link like any other
//! (so the deletion rule is unchanged), flagged so that programs do not count it
//! ([`Attr::visible_nlink`]), and it leaves its quota. Renaming it out restores it.
//!
//! Data a file overwrites or truncates away is kept too: an object only such data used is
//! not deleted when its last reference goes but kept (`"H"`) for as many days, then released
//! for deletion with the hours. No path shows it; an operator who needs it back finds it in
//! the object store by id, which the kept record names.

use crate::clone::NoneOpen;
use crate::engine::{AnyTxn, KvTxn};
use crate::error::{Result, errno};
use crate::keys;
use crate::meta::{Meta, get_attr, get_dir, put_attr, read_txn, write_txn};
use crate::model::{Attr, Dirent, FileKind, Timespec};
use crate::namespace::{NAME_MAX, OpenFiles, RENAME_NOREPLACE, drop_link};

/// The reserved directory the trash lives in.
pub(crate) const TRASH: &str = "trash";

/// Seconds in one hour, the trash's unit of time.
const HOUR: i64 = 3600;

/// Kept objects one scan of the trash's kept data reads at a time.
const KEPT_PAGE: usize = 512;

/// What a purge freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// The hour directories purged, by name.
    pub hours: Vec<String>,
    /// Objects of overwritten or truncated data released for deletion.
    pub kept_objects: u64,
    /// Their bytes.
    pub kept_bytes: u64,
}

impl Purged {
    /// Whether the purge found nothing to do.
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty() && self.kept_objects == 0
    }
}

/// The overwritten and truncated data the trash keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptData {
    /// Objects kept.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The second the oldest of them lost its last reference.
    pub oldest: Option<i64>,
}

/// One trashed inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    /// Its hour directory's name (`YYYY-MM-DD-HH`).
    pub hour: String,
    /// Its hour directory.
    pub hour_ino: u64,
    /// Its name in the hour directory.
    pub name: Vec<u8>,
    /// Its inode.
    pub ino: u64,
    /// What it is.
    pub kind: FileKind,
    /// The directory it was removed from (0: the entry records none).
    pub parent: u64,
    /// Its name there (cut to fit `NAME_MAX` with the prefix, for a long one).
    pub original: Vec<u8>,
}

/// The name of the hour directory for time `secs` (UTC).
pub fn hour_name(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}-{:02}", rest / HOUR)
}

/// The start (seconds since the epoch) of the hour an hour directory's name names.
pub fn hour_start(name: &str) -> Option<i64> {
    let mut parts = name.splitn(4, '-');
    let mut next = |len: usize| {
        let part = parts.next()?;
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i64>().ok())
            .flatten()
    };
    let (year, month, day, hour) = (next(4)?, next(2)?, next(2)?, next(2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * HOUR)
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01: the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A trashed inode's name in its hour directory: `PARENT-INO-NAME`, the name cut (at a
/// character boundary when it is UTF-8) to fit `NAME_MAX`.
fn entry_name(parent: u64, ino: u64, name: &[u8]) -> Vec<u8> {
    let mut out = format!("{parent}-{ino}-").into_bytes();
    let mut keep = name.len().min(NAME_MAX - out.len());
    if let Ok(text) = std::str::from_utf8(name) {
        while !text.is_char_boundary(keep) {
            keep -= 1;
        }
    }
    out.extend_from_slice(&name[..keep]);
    out
}

/// The directory, inode and name an hour directory's entry records.
pub fn parse_entry_name(name: &[u8]) -> Option<(u64, u64, &[u8])> {
    let mut parts = name.splitn(3, |&b| b == b'-');
    let number = |part: Option<&[u8]>| std::str::from_utf8(part?).ok()?.parse::<u64>().ok();
    let parent = number(parts.next())?;
    let ino = number(parts.next())?;
    let original = parts.next().filter(|n| !n.is_empty())?;
    Some((parent, ino, original))
}

impl Meta {
    /// The trash's directory when this volume keeps deleted files.
    fn trash_in_use(&self) -> Option<u64> {
        self.trash.filter(|_| self.volume().trash_days > 0)
    }

    /// The second to record on objects overwritten or truncated data leaves unreferenced now,
    /// when the volume keeps a trash (see [`crate::chunk`]).
    pub(crate) fn keep_replaced(&self) -> Option<i64> {
        self.trash_in_use().map(|_| Timespec::now().sec)
    }

    /// The trash's directory, if the volume has one (volumes formatted by older releases
    /// have none until formatted again).
    pub fn trash_dir(&self) -> Option<u64> {
        self.trash
    }

    /// The hour directory a name removed from `dir` now sends its inode to, made if missing;
    /// `None` when the volume keeps no trash or `dir` is in the trash already.
    async fn trash_hour(&self, txn: &mut AnyTxn, dir: u64, dir_attr: &Attr) -> Result<Option<u64>> {
        let Some(trash) = self.trash_in_use() else {
            return Ok(None);
        };
        if dir == trash || dir_attr.parent == trash {
            return Ok(None);
        }
        let name = hour_name(Timespec::now().sec);
        let key = keys::entry(trash, name.as_bytes());
        if let Some(bytes) = txn.get(&key).await? {
            return Ok(Some(Dirent::decode(&bytes)?.ino));
        }
        // Two mounts making the same hour meet on its entry: one retries and finds it.
        let ino = self.next_inode_in(txn).await?;
        let now = Timespec::now();
        let attr = Attr::system_dir(0o700, trash, now);
        put_attr(txn, ino, &attr)?;
        crate::quota::charge(
            txn,
            ino,
            &attr,
            crate::meta::charged(attr.kind, attr.size),
            1,
        )
        .await?;
        let dirent = Dirent {
            kind: FileKind::Dir,
            ino,
        };
        txn.put(&key, &dirent.encode())?;
        let mut root = get_dir(txn, trash).await?;
        root.nlink += 1;
        root.mtime = now;
        root.ctime = now;
        put_attr(txn, trash, &root)?;
        Ok(Some(ino))
    }

    /// Takes the name `name` in `dir` from the non-directory `ino`: its last name sends it to
    /// the trash when the volume keeps one (with its data, out of its quota), else the link
    /// goes ([`drop_link`]). Returns its attributes after the change.
    pub(crate) async fn drop_name(
        &self,
        txn: &mut AnyTxn,
        (dir, dir_attr): (u64, &Attr),
        name: &[u8],
        ino: u64,
        now: Timespec,
        open: &dyn OpenFiles,
    ) -> Result<Attr> {
        let mut attr = get_attr(txn, ino).await?;
        if attr.nlink != 1 || attr.trashed {
            return drop_link(txn, ino, now, open).await;
        }
        let Some(hour) = self.trash_hour(txn, dir, dir_attr).await? else {
            return drop_link(txn, ino, now, open).await;
        };
        crate::quota::move_charge(txn, ino, &mut attr, 0, false).await?;
        attr.trashed = true;
        attr.parent = hour;
        attr.ctime = now;
        put_attr(txn, ino, &attr)?;
        let dirent = Dirent {
            kind: attr.kind,
            ino,
        };
        txn.put(
            &keys::entry(hour, &entry_name(dir, ino, name)),
            &dirent.encode(),
        )?;
        Ok(attr)
    }

    /// Sends the empty directory `ino`, whose entry `name` in `dir` is gone already, to the
    /// trash when the volume keeps one and it has no quota of its own; returns whether it
    /// went (else the caller removes it).
    pub(crate) async fn trash_dir_entry(
        &self,
        txn: &mut AnyTxn,
        (dir, dir_attr): (u64, &Attr),
        name: &[u8],
        ino: u64,
        attr: &mut Attr,
        now: Timespec,
    ) -> Result<bool> {
        if attr.quota == ino {
            return Ok(false);
        }
        let Some(hour) = self.trash_hour(txn, dir, dir_attr).await? else {
            return Ok(false);
        };
        crate::quota::move_charge(txn, ino, attr, 0, false).await?;
        attr.parent = hour;
        attr.ctime = now;
        put_attr(txn, ino, attr)?;
        let dirent = Dirent {
            kind: FileKind::Dir,
            ino,
        };
        txn.put(
            &keys::entry(hour, &entry_name(dir, ino, name)),
            &dirent.encode(),
        )?;
        let mut hour_attr = get_dir(txn, hour).await?;
        hour_attr.nlink += 1;
        put_attr(txn, hour, &hour_attr)?;
        Ok(true)
    }

    /// Removes the directory `name` in `dir` with everything under it, in one transaction:
    /// into the trash, whole and with its quota, when the volume keeps one (renaming it out
    /// restores it; its hour's purge frees it), else for good ([`Meta::discard_tree`]).
    /// Returns whether it went to the trash. ENOENT when there is no such name, ENOTDIR when
    /// it names no directory, EXDEV for a tree that cannot leave its quota whole (a
    /// non-empty directory, under a quota, with none of its own).
    pub async fn trash_tree(&self, dir: u64, name: &[u8]) -> Result<bool> {
        crate::namespace::check_name(name)?;
        let trashed = write_txn!(self, |txn| {
            let mut dir_attr = get_dir(&mut txn, dir).await?;
            let Some(bytes) = txn.get(&keys::entry(dir, name)).await? else {
                return errno(libc::ENOENT);
            };
            let dirent = Dirent::decode(&bytes)?;
            if dirent.kind != FileKind::Dir {
                return errno(libc::ENOTDIR);
            }
            let Some(hour) = self.trash_hour(&mut txn, dir, &dir_attr).await? else {
                return Ok(false);
            };
            let now = Timespec::now();
            let mut attr = get_attr(&mut txn, dirent.ino).await?;
            crate::quota::move_charge(&mut txn, dirent.ino, &mut attr, 0, false).await?;
            attr.parent = hour;
            attr.ctime = now;
            put_attr(&mut txn, dirent.ino, &attr)?;
            txn.delete(&keys::entry(dir, name))?;
            txn.put(
                &keys::entry(hour, &entry_name(dir, dirent.ino, name)),
                &dirent.encode(),
            )?;
            dir_attr.nlink = dir_attr.nlink.saturating_sub(1);
            dir_attr.mtime = now;
            dir_attr.ctime = now;
            put_attr(&mut txn, dir, &dir_attr)?;
            let mut hour_attr = get_dir(&mut txn, hour).await?;
            hour_attr.nlink += 1;
            put_attr(&mut txn, hour, &hour_attr)?;
            Ok(true)
        })?;
        if !trashed {
            self.discard_tree(dir, name).await?;
        }
        Ok(trashed)
    }

    /// Every trashed inode, by hour, oldest first.
    pub async fn trash_entries(&self) -> Result<Vec<TrashEntry>> {
        let Some(trash) = self.trash else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (hour, dirent) in self.readdir(trash).await? {
            let hour = String::from_utf8_lossy(&hour).into_owned();
            for (name, entry) in self.readdir(dirent.ino).await? {
                let (parent, original) = match parse_entry_name(&name) {
                    Some((parent, _, original)) => (parent, original.to_vec()),
                    None => (0, Vec::new()),
                };
                out.push(TrashEntry {
                    hour: hour.clone(),
                    hour_ino: dirent.ino,
                    name,
                    ino: entry.ino,
                    kind: entry.kind,
                    parent,
                    original,
                });
            }
        }
        Ok(out)
    }

    /// Puts a trashed inode back under its name in the directory it was removed from: ENOENT
    /// when that directory is gone (or is in the trash itself), EEXIST when the name is taken
    /// again, EINVAL for an entry that records no origin.
    pub async fn restore_trashed(&self, entry: &TrashEntry) -> Result<()> {
        let Some(trash) = self.trash else {
            return errno(libc::ENOENT);
        };
        if entry.parent == 0 || entry.original.is_empty() {
            return errno(libc::EINVAL);
        }
        let parent = self.getattr(entry.parent).await?;
        let in_trash = entry.parent == trash
            || parent.parent == trash
            || self.getattr(parent.parent).await?.parent == trash;
        if parent.kind != FileKind::Dir || in_trash {
            return errno(libc::ENOENT);
        }
        self.rename(
            entry.hour_ino,
            &entry.name,
            entry.parent,
            &entry.original,
            RENAME_NOREPLACE,
            &NoneOpen,
        )
        .await
        .map(drop)
    }

    /// Purges the hours of the trash that ended at or before `before` (seconds since the
    /// epoch; `i64::MAX`: all of it): each hour's name goes in one transaction, then its
    /// tree in batches, as an abandoned clone's (so an interrupted purge is finished by
    /// whichever mount reclaims stale clones). Open files live on until their last close.
    /// Overwritten data kept since then is released for deletion too.
    pub async fn purge_trash(&self, before: i64) -> Result<Purged> {
        let (kept_objects, kept_bytes) = self.release_kept(before).await?;
        let Some(trash) = self.trash else {
            return Ok(Purged {
                hours: Vec::new(),
                kept_objects,
                kept_bytes,
            });
        };
        let mut purged = Vec::new();
        for (name, dirent) in self.readdir(trash).await? {
            let text = String::from_utf8_lossy(&name).into_owned();
            let expired = before == i64::MAX
                || hour_start(&text).is_some_and(|start| start.saturating_add(HOUR) <= before);
            if !expired || dirent.kind != FileKind::Dir {
                continue;
            }
            let gone = write_txn!(self, |txn| {
                // Purged meanwhile by another mount, and perhaps made again: not this one.
                let Some(Dirent { ino, .. }) = txn
                    .get(&keys::entry(trash, &name))
                    .await?
                    .map(|b| Dirent::decode(&b))
                    .transpose()?
                else {
                    return Ok(false);
                };
                if ino != dirent.ino {
                    return Ok(false);
                }
                crate::clone::abandon_entry(&mut txn, trash, &name).await?;
                Ok(true)
            })?;
            if gone {
                self.remove_staged_clone(dirent.ino).await?;
                purged.push(text);
            }
        }
        Ok(Purged {
            hours: purged,
            kept_objects,
            kept_bytes,
        })
    }

    /// Hands the objects overwritten data left, kept since `before` or earlier, to the block
    /// deleter, a page at a time; returns how many and their bytes.
    async fn release_kept(&self, before: i64) -> Result<(u64, u64)> {
        let (mut objects, mut bytes) = (0, 0);
        let mut from = Some(keys::KEPT_PREFIX.to_vec());
        loop {
            let page = self.kept_page(&mut from).await?;
            if page.is_empty() {
                break;
            }
            let due: Vec<(u64, u64)> = page
                .into_iter()
                .filter(|&(_, _, since)| since <= before)
                .map(|(object, size, _)| (object, size))
                .collect();
            for batch in due.chunks(crate::engine::TXN_BUDGET / 2) {
                let (count, size) = write_txn!(self, |txn| {
                    let (mut count, mut size) = (0, 0);
                    for &(object, len) in batch {
                        // A clone may have taken it back meanwhile.
                        if txn.get(&keys::kept(object)).await?.is_none() {
                            continue;
                        }
                        txn.delete(&keys::kept(object))?;
                        txn.put(&keys::doomed(object), &len.to_be_bytes())?;
                        count += 1;
                        size += len;
                    }
                    Ok((count, size))
                })?;
                objects += count;
                bytes += size;
            }
        }
        Ok((objects, bytes))
    }

    /// How much overwritten and truncated data the trash keeps.
    pub async fn kept_data(&self) -> Result<KeptData> {
        let mut kept = KeptData::default();
        let mut from = Some(keys::KEPT_PREFIX.to_vec());
        loop {
            let page = self.kept_page(&mut from).await?;
            if page.is_empty() {
                break;
            }
            for (_, size, since) in page {
                kept.objects += 1;
                kept.bytes += size;
                kept.oldest = Some(kept.oldest.map_or(since, |o| o.min(since)));
            }
        }
        Ok(kept)
    }

    /// The kept objects from key `from` on, one page of them as (object, size, second), each
    /// in its own read; `from` moves past the page, to `None` after the last.
    async fn kept_page(&self, from: &mut Option<Vec<u8>>) -> Result<Vec<(u64, u64, i64)>> {
        let Some(start) = from.take() else {
            return Ok(Vec::new());
        };
        let end = crate::engine::prefix_end(keys::KEPT_PREFIX);
        let page = read_txn!(self, |txn| Ok(txn.scan(&start, &end, KEPT_PAGE).await?))?;
        if page.len() == KEPT_PAGE
            && let Some((last, _)) = page.last()
        {
            *from = Some([last.as_slice(), &[0]].concat());
        }
        page.iter()
            .map(|(key, value)| {
                let object = keys::u64_at(key, keys::KEPT_PREFIX.len())
                    .ok_or_else(|| crate::MetaError::Corrupt("kept object key".into()))?;
                let (size, since) = crate::chunk::decode_kept(value)?;
                Ok((object, size, since))
            })
            .collect()
    }

    /// Purges what the volume's `trash_days` no longer keeps; the background's work.
    pub async fn purge_expired_trash(&self) -> Result<Purged> {
        // With the trash turned off, what it still holds goes too.
        let days = i64::from(self.volume().trash_days);
        let before = Timespec::now().sec - days * 24 * HOUR;
        self.purge_trash(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_names_round_trip() {
        assert_eq!(hour_name(0), "1970-01-01-00");
        assert_eq!(hour_name(951_825_600), "2000-02-29-12");
        assert_eq!(hour_name(1_796_162_400), "2026-12-01-22");
        for secs in [0_i64, 3600, 951_825_600, 1_796_162_400, 4_102_444_800 - 1] {
            let start = secs - secs.rem_euclid(HOUR);
            assert_eq!(hour_start(&hour_name(secs)), Some(start), "{secs}");
        }
        assert_eq!(hour_start("2026-13-01-00"), None);
        assert_eq!(hour_start("2026-12-01"), None);
        assert_eq!(hour_start("x026-12-01-00"), None);
    }

    #[test]
    fn entry_names_record_their_origin_and_fit() {
        let name = entry_name(12, 345, b"a-b c");
        assert_eq!(name, b"12-345-a-b c");
        assert_eq!(parse_entry_name(&name), Some((12, 345, &b"a-b c"[..])));
        let long = "é".repeat(127);
        let name = entry_name(u64::MAX, u64::MAX, long.as_bytes());
        assert!(name.len() <= NAME_MAX);
        let (_, _, cut) = parse_entry_name(&name).unwrap();
        assert!(std::str::from_utf8(cut).is_ok());
        assert_eq!(parse_entry_name(b"12-x-a"), None);
        assert_eq!(parse_entry_name(b"12-3-"), None);
    }
}
