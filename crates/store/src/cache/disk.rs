//! The disk tier: one file per cached block, checksummed in pieces, kept across restarts.
//!
//! A file is `{root}/{object % 256:02x}/{object}_{index}`: a header (magic, length, piece size,
//! the block's key, a CRC-32C of each 64 KiB piece, a CRC of the header) then the bytes. A
//! read checks only the pieces it spans, so a 4 KiB read of a 4 MiB block costs one piece. A
//! file that is short, has the wrong key, or fails a check is a miss and is removed: a crash,
//! a full disk or a flipped bit costs a fetch, never wrong data. Files are written under a
//! temporary name and renamed, so a reader never sees half a file; they are not fsynced (a
//! torn file fails its checks). At start the directory is listed again, oldest first.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;

use super::policy::{Access, Evictor, Policy};
use super::stats::TierStats;
use super::{BlockKey, HitRange};

const MAGIC: &[u8; 8] = b"DLBLOCK1";
const PIECE: u32 = 64 * 1024;
/// Magic, length, piece size, object, index, header CRC.
const FIXED: usize = 8 + 4 + 4 + 8 + 8 + 4;
/// Headers are read in one request of this size, enough for blocks up to 64 MiB.
const HEADER_READ: usize = 4096;
/// Disk space a file costs beyond its bytes, on average (half a filesystem block).
const FILE_OVERHEAD: u64 = 2048;

fn crc(data: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}

fn header_len(len: u32) -> usize {
    FIXED + 4 * len.div_ceil(PIECE) as usize
}

/// The header of a block of `data`.
fn encode_header(key: BlockKey, data: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(header_len(data.len() as u32));
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&(data.len() as u32).to_le_bytes());
    header.extend_from_slice(&PIECE.to_le_bytes());
    header.extend_from_slice(&key.object.to_le_bytes());
    header.extend_from_slice(&key.index.to_le_bytes());
    header.extend_from_slice(&[0; 4]);
    for piece in data.chunks(PIECE as usize) {
        header.extend_from_slice(&crc(piece).to_le_bytes());
    }
    let sum = crc(&header);
    header[FIXED - 4..FIXED].copy_from_slice(&sum.to_le_bytes());
    header
}

/// A checked header: the block's length and its pieces' CRCs.
struct Header {
    len: u32,
    crcs: Vec<u32>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

/// Checks the first bytes of a file; `None` when they are not a header of `key`.
fn decode_header(key: BlockKey, bytes: &[u8]) -> Option<Header> {
    if bytes.len() < FIXED || &bytes[..8] != MAGIC {
        return None;
    }
    let len = u32_at(bytes, 8);
    if u32_at(bytes, 12) != PIECE
        || u64_at(bytes, 16) != key.object
        || u64_at(bytes, 24) != key.index
    {
        return None;
    }
    let total = header_len(len);
    if bytes.len() < total {
        return None;
    }
    let mut copy = bytes[..total].to_vec();
    copy[FIXED - 4..FIXED].fill(0);
    if crc(&copy) != u32_at(bytes, FIXED - 4) {
        return None;
    }
    let crcs = (FIXED..total)
        .step_by(4)
        .map(|at| u32_at(bytes, at))
        .collect();
    Some(Header { len, crcs })
}

/// Why a cached file could not be used.
enum Unusable {
    /// Gone (evicted meanwhile, or removed by hand).
    Absent,
    /// Present but wrong: short, foreign or failing a checksum.
    Corrupt(String),
    /// Shorter than the range asked for: the block itself is (the object store's copy will
    /// say so too).
    Short,
}

/// Where a tier keeps its files, how much it may hold, and how much free space it leaves.
#[derive(Debug, Clone)]
pub struct DiskTierConfig {
    /// The directory of the tier's files (made if missing).
    pub root: PathBuf,
    /// Bytes the tier may hold, headers and a per-file overhead included.
    pub capacity: u64,
    /// The tier gives back space when its filesystem has less than this share free.
    pub min_free_ratio: f64,
    /// The order the tier evicts in.
    pub policy: Policy,
}

/// Blocks cached in files under one directory.
#[derive(Debug)]
pub struct DiskTier {
    config: DiskTierConfig,
    evictor: Mutex<Evictor<BlockKey>>,
    temp_seq: AtomicU64,
    pub(super) stats: TierStats,
}

impl DiskTier {
    /// Opens (making it if needed) the tier's directory and indexes the files already there.
    pub fn open(config: DiskTierConfig) -> std::io::Result<Self> {
        fs::create_dir_all(&config.root)?;
        let tier = Self {
            evictor: Mutex::new(Evictor::new(config.policy, config.capacity)),
            config,
            temp_seq: AtomicU64::new(0),
            stats: TierStats::default(),
        };
        tier.reindex()?;
        Ok(tier)
    }

    fn path(&self, key: BlockKey) -> PathBuf {
        self.config
            .root
            .join(format!("{:02x}", key.object % 256))
            .join(format!("{}_{}", key.object, key.index))
    }

    fn evictor(&self) -> std::sync::MutexGuard<'_, Evictor<BlockKey>> {
        self.evictor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists the files a previous run left, oldest first, and drops what does not fit.
    fn reindex(&self) -> std::io::Result<()> {
        let mut found = Vec::new();
        for dir in fs::read_dir(&self.config.root)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(dir.path())? {
                let file = file?;
                let name = file.file_name();
                let key = name.to_str().and_then(parse_name);
                let meta = file.metadata()?;
                match key {
                    Some(key) if meta.is_file() && self.path(key) == file.path() => {
                        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                        found.push((used, key, meta.len()));
                    }
                    // Temporary files of a write cut short, and strangers.
                    _ => {
                        let _ = fs::remove_file(file.path());
                    }
                }
            }
        }
        found.sort_unstable();
        let mut evicted = Vec::new();
        {
            let mut evictor = self.evictor();
            for (_, key, len) in &found {
                evicted.extend(evictor.insert(*key, len + FILE_OVERHEAD, Access::Random));
            }
        }
        self.stats.evicted(evicted.len() as u64);
        self.remove_files(&evicted);
        tracing::info!(
            dir = %self.config.root.display(),
            blocks = found.len() - evicted.len(),
            bytes = self.evictor().used(),
            "disk cache indexed"
        );
        Ok(())
    }

    fn remove_files(&self, keys: &[BlockKey]) {
        for key in keys {
            if let Err(err) = fs::remove_file(self.path(*key))
                && err.kind() != ErrorKind::NotFound
            {
                tracing::warn!(%err, path = %self.path(*key).display(), "cannot remove a cached block");
            }
        }
    }

    /// Whether the tier's index has block `key` (its file may still turn out damaged).
    pub fn contains(&self, key: BlockKey) -> bool {
        self.evictor().contains(&key)
    }

    /// Bytes held and the limit.
    pub fn usage(&self) -> (u64, u64) {
        let evictor = self.evictor();
        (evictor.used(), evictor.capacity())
    }

    /// `range` of block `key`, if cached and intact.
    pub fn get(&self, key: BlockKey, range: HitRange, access: Access) -> Option<Bytes> {
        if !self.contains(key) {
            self.stats.miss();
            return None;
        }
        let started = std::time::Instant::now();
        match self.read(key, range) {
            Ok(bytes) => {
                self.evictor().hit(&key, access);
                self.stats.hit(bytes.len() as u64, started.elapsed());
                Some(bytes)
            }
            Err(Unusable::Short) => {
                self.stats.miss();
                None
            }
            Err(Unusable::Absent) => {
                self.evictor().remove(&key);
                self.stats.miss();
                None
            }
            Err(Unusable::Corrupt(why)) => {
                tracing::warn!(path = %self.path(key).display(), why, "corrupt cached block removed");
                self.evictor().remove(&key);
                self.remove_files(&[key]);
                self.stats.corrupt();
                self.stats.miss();
                None
            }
        }
    }

    fn read(&self, key: BlockKey, range: HitRange) -> Result<Bytes, Unusable> {
        let path = self.path(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Err(Unusable::Absent),
            Err(err) => return Err(Unusable::Corrupt(err.to_string())),
        };
        let corrupt = |why: &str| Unusable::Corrupt(why.to_string());
        let mut first = vec![0; HEADER_READ];
        let got = read_at_most(&file, &mut first, 0).map_err(|e| corrupt(&e.to_string()))?;
        first.truncate(got);
        let header = decode_header(key, &first).ok_or_else(|| corrupt("bad header"))?;
        let len = u64::from(header.len);
        let (offset, want) = match range {
            HitRange::Whole => (0, len),
            HitRange::Part { offset, len: want } => (offset, want),
        };
        if offset + want > len {
            return Err(Unusable::Short);
        }
        if want == 0 {
            return Ok(Bytes::new());
        }
        let piece = u64::from(PIECE);
        let (first_piece, last_piece) = (offset / piece, (offset + want - 1) / piece);
        let start = first_piece * piece;
        let stop = ((last_piece + 1) * piece).min(len);
        let mut data = vec![0; (stop - start) as usize];
        file.read_exact_at(&mut data, header_len(header.len) as u64 + start)
            .map_err(|_| corrupt("truncated"))?;
        for (i, bytes) in data.chunks(PIECE as usize).enumerate() {
            if crc(bytes) != header.crcs[first_piece as usize + i] {
                return Err(corrupt("checksum mismatch"));
            }
        }
        let data = Bytes::from(data);
        let within = (offset - start) as usize;
        Ok(data.slice(within..within + want as usize))
    }

    /// Writes block `key` into the tier, evicting what no longer fits (by size and by the
    /// filesystem's free space). Failures are logged: a cache that cannot write only misses.
    pub fn put(&self, key: BlockKey, data: &[u8], access: Access) {
        if self.contains(key) {
            return;
        }
        let weight = (header_len(data.len() as u32) + data.len()) as u64 + FILE_OVERHEAD;
        let (mut evicted, fits) = self.make_room(weight);
        if !fits {
            self.stats.write_failed();
            self.stats.evicted(evicted.len() as u64);
            self.remove_files(&evicted);
            return;
        }
        if let Err(err) = self.write(key, data) {
            tracing::debug!(%err, "cannot write a cached block");
            self.stats.write_failed();
            self.stats.evicted(evicted.len() as u64);
            self.remove_files(&evicted);
            return;
        }
        evicted.extend(self.evictor().insert(key, weight, access));
        if evicted.contains(&key) {
            // Larger than the whole tier.
            evicted.retain(|k| *k != key);
            self.remove_files(&[key]);
        } else {
            self.stats.inserted(data.len() as u64);
        }
        self.stats.evicted(evicted.len() as u64);
        self.remove_files(&evicted);
    }

    /// Evicts until `weight` more bytes leave the filesystem above its free-space floor;
    /// false when even an empty tier would not (the disk is filled by others).
    fn make_room(&self, weight: u64) -> (Vec<BlockKey>, bool) {
        let Ok(stat) = nix::sys::statvfs::statvfs(&self.config.root) else {
            return (Vec::new(), true);
        };
        let unit = stat.fragment_size();
        let (total, free) = (stat.blocks() * unit, stat.blocks_available() * unit);
        let floor = (total as f64 * self.config.min_free_ratio) as u64;
        let short = (floor + weight).saturating_sub(free);
        if short == 0 {
            return (Vec::new(), true);
        }
        let mut evictor = self.evictor();
        let fits = evictor.used() >= short;
        let target = evictor.used().saturating_sub(short);
        (evictor.shrink_to(target), fits)
    }

    fn write(&self, key: BlockKey, data: &[u8]) -> std::io::Result<()> {
        let path = self.path(key);
        let seq = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        let temp = path.with_file_name(format!(".{key}.{}.{seq}.tmp", std::process::id()));
        let file = match File::create_new(&temp) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                if let Some(parent) = temp.parent() {
                    fs::create_dir_all(parent)?;
                }
                File::create_new(&temp)
            }
            other => other,
        }?;
        let written = (|| {
            let mut file = std::io::BufWriter::new(file);
            file.write_all(&encode_header(key, data))?;
            file.write_all(data)?;
            file.into_inner().map_err(|e| e.into_error())?;
            fs::rename(&temp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Drops block `key` if cached.
    pub fn remove(&self, key: BlockKey) {
        if self.evictor().remove(&key) {
            self.remove_files(&[key]);
        }
    }
}

/// Reads up to `buf.len()` bytes at `offset`; fewer at the end of the file.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(got)
}

fn parse_name(name: &str) -> Option<BlockKey> {
    let (object, index) = name.split_once('_')?;
    let key = BlockKey {
        object: object.parse().ok()?,
        index: index.parse().ok()?,
    };
    (name == format!("{}_{}", key.object, key.index)).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tier(root: &Path, capacity: u64) -> DiskTier {
        DiskTier::open(DiskTierConfig {
            root: root.to_path_buf(),
            capacity,
            min_free_ratio: 0.0,
            policy: Policy::Lru,
        })
        .unwrap()
    }

    fn block(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    const KEY: BlockKey = BlockKey {
        object: 1234,
        index: 2,
    };

    #[test]
    fn blocks_survive_a_restart_and_ranges_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = block(7, 300_000);
        tier(dir.path(), 1 << 30).put(KEY, &data, Access::Random);
        let again = tier(dir.path(), 1 << 30);
        assert!(again.contains(KEY));
        let whole = again.get(KEY, HitRange::Whole, Access::Random).unwrap();
        assert_eq!(whole, data);
        let part = HitRange::Part {
            offset: 65_000,
            len: 70_000,
        };
        assert_eq!(
            again.get(KEY, part, Access::Random).unwrap(),
            data[65_000..135_000]
        );
        assert_eq!(again.stats.snapshot().hits, 2);
    }

    #[test]
    fn a_corrupt_or_truncated_file_is_a_miss_and_goes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = tier(dir.path(), 1 << 30);
        let data = block(3, 200_000);
        cache.put(KEY, &data, Access::Random);
        let path = cache.path(KEY);
        // One flipped bit in the second piece.
        let mut bytes = fs::read(&path).unwrap();
        let at = header_len(200_000) + 70_000;
        bytes[at] ^= 1;
        fs::write(&path, &bytes).unwrap();
        // The first piece is still good; the second is not.
        let first = HitRange::Part {
            offset: 0,
            len: 1000,
        };
        assert_eq!(cache.get(KEY, first, Access::Random).unwrap(), data[..1000]);
        assert!(cache.get(KEY, HitRange::Whole, Access::Random).is_none());
        assert!(!path.exists());
        assert_eq!(cache.stats.snapshot().corrupt, 1);

        cache.put(KEY, &data, Access::Random);
        let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(100_000).unwrap();
        assert!(cache.get(KEY, HitRange::Whole, Access::Random).is_none());
        // A file that claims another block's key is not this block.
        cache.put(KEY, &data, Access::Random);
        let other = BlockKey {
            object: 1234,
            index: 3,
        };
        fs::copy(&path, cache.path(other)).unwrap();
        let reopened = tier(dir.path(), 1 << 30);
        assert!(
            reopened
                .get(other, HitRange::Whole, Access::Random)
                .is_none()
        );
        assert!(reopened.get(KEY, HitRange::Whole, Access::Random).is_some());
    }

    #[test]
    fn the_size_limit_evicts_and_a_smaller_restart_trims() {
        let dir = tempfile::tempdir().unwrap();
        let cache = tier(dir.path(), 1 << 30);
        for object in 0..10 {
            let key = BlockKey { object, index: 0 };
            cache.put(key, &block(object as u8, 100_000), Access::Random);
        }
        assert_eq!(
            cache.usage().0,
            10 * (100_000 + header_len(100_000) as u64 + FILE_OVERHEAD)
        );
        drop(cache);
        let small = tier(dir.path(), 5 * 110_000);
        assert_eq!(small.evictor().len(), 5);
        let files: usize = fs::read_dir(dir.path())
            .unwrap()
            .map(|d| fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum();
        assert_eq!(files, 5);
        let keys = small.evictor().shrink_to(0);
        small.remove_files(&keys);
        assert_eq!(small.usage().0, 0);
        assert!(!small.path(keys[0]).exists());
    }

    #[test]
    fn a_disk_below_its_free_space_floor_caches_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskTier::open(DiskTierConfig {
            root: dir.path().to_path_buf(),
            capacity: 1 << 30,
            // More free space than any test machine has: the floor is never met.
            min_free_ratio: 0.999_999,
            policy: Policy::Lru,
        })
        .unwrap();
        cache.put(KEY, &block(1, 1000), Access::Random);
        assert!(!cache.contains(KEY));
        assert!(!cache.path(KEY).exists());
        assert_eq!(cache.stats.snapshot().write_failures, 1);
    }

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(parse_name("1234_2"), Some(KEY));
        assert_eq!(parse_name("01234_2"), None);
        assert_eq!(parse_name(".1234_2.1.0.tmp"), None);
    }
}
