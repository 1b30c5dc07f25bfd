//! Where a volume lives: the default volume under `$DATENLORD_HOME`, or the one a META_URL
//! names.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use datenlord_meta::{
    DEFAULT_BLOCK_SIZE, FORMAT_VERSION, FileKind, Meta, MetaUrl, ROOT_INO, Timespec, Volume,
};
use datenlord_store::{BlockStore, StorageUrl};

/// `$DATENLORD_HOME`, default `~/.datenlord`.
pub fn home() -> PathBuf {
    if let Some(home) = std::env::var_os("DATENLORD_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    let user_home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    user_home.join(".datenlord")
}

pub fn default_meta() -> MetaUrl {
    MetaUrl::Sqlite(home().join("meta.db"))
}

pub fn default_storage() -> StorageUrl {
    StorageUrl::File(home().join("blocks"))
}

pub fn meta_url(arg: Option<&str>) -> Result<MetaUrl> {
    match arg {
        Some(url) => Ok(url.parse()?),
        None => Ok(default_meta()),
    }
}

/// Parses a size like `4M`, `64K`, `1MiB` or `1048576`.
pub fn parse_size(text: &str) -> Result<u64> {
    Ok(datenlord_vfs::parse_size(text)?)
}

/// A random id for a new volume.
pub fn new_uuid() -> String {
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let now = Timespec::now();
        bytes[..8].copy_from_slice(&now.sec.to_le_bytes());
        bytes[8..12].copy_from_slice(&now.nsec.to_le_bytes());
        bytes[12..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The settings of a new volume.
pub fn new_volume(name: &str, storage: &StorageUrl, block_size: u32, trash_days: u32) -> Volume {
    Volume {
        name: name.to_string(),
        uuid: new_uuid(),
        storage: storage.to_string(),
        block_size,
        created: Timespec::now().sec,
        version: FORMAT_VERSION,
        trash_days,
    }
}

/// Days a deleted file stays in the trash of a new volume.
pub const DEFAULT_TRASH_DAYS: u32 = 1;

/// Formats a volume (see `datenlord format`); without `trash_days` an existing volume keeps
/// its own, a new one gets [`DEFAULT_TRASH_DAYS`].
pub async fn format(
    meta: &MetaUrl,
    storage: &StorageUrl,
    block_size: u32,
    name: &str,
    trash_days: Option<u32>,
    force: bool,
) -> Result<Volume> {
    let store = BlockStore::open(storage, block_size, true)?;
    store
        .probe()
        .await
        .with_context(|| format!("storage {storage} is not writable"))?;
    let kv = meta.open(true).await?;
    let trash_days = match trash_days {
        Some(days) => days,
        None => match Meta::open(kv.clone()).await {
            Ok(existing) => existing.volume().trash_days,
            Err(_) => DEFAULT_TRASH_DAYS,
        },
    };
    let volume = new_volume(name, storage, block_size, trash_days);
    Ok(Meta::format(&kv, &volume, force).await?)
}

/// Opens a formatted volume: its metadata and its block store. The default volume is
/// formatted on first use.
pub async fn open(meta_arg: Option<&str>) -> Result<(Meta, BlockStore)> {
    let url = meta_url(meta_arg)?;
    if meta_arg.is_none() && !home().join("meta.db").exists() {
        let volume = format(
            &url,
            &default_storage(),
            DEFAULT_BLOCK_SIZE,
            "default",
            None,
            false,
        )
        .await
        .context("formatting the default volume")?;
        eprintln!(
            "datenlord: formatted the default volume {} under {}",
            volume.name,
            home().display()
        );
    }
    let kv = url.open(false).await?;
    let meta = Meta::open(kv).await?;
    let storage: StorageUrl = meta.volume().storage.parse()?;
    let store = BlockStore::open(&storage, meta.volume().block_size, false)
        .with_context(|| format!("opening the block store of volume {}", meta.volume().name))?;
    Ok((meta, store))
}

/// The directory at `path` (from the volume's root: `/`, `/a/b` or `a/b`).
pub async fn resolve(meta: &Meta, path: &str) -> Result<u64> {
    let (ino, kind) = walk(meta, path).await?;
    if kind != FileKind::Dir {
        bail!("{path}: not a directory");
    }
    Ok(ino)
}

/// Whatever is at `path` (from the volume's root).
pub async fn resolve_any(meta: &Meta, path: &str) -> Result<u64> {
    Ok(walk(meta, path).await?.0)
}

async fn walk(meta: &Meta, path: &str) -> Result<(u64, FileKind)> {
    let (mut ino, mut kind) = (ROOT_INO, FileKind::Dir);
    for name in path.split('/').filter(|n| !n.is_empty() && *n != ".") {
        if kind != FileKind::Dir {
            bail!("{path}: a component before {name} is not a directory");
        }
        let (found, attr) = meta
            .lookup(ino, name.as_bytes())
            .await
            .with_context(|| format!("{path}: not found in the volume"))?;
        (ino, kind) = (found, attr.kind);
    }
    Ok((ino, kind))
}

/// The path of directory `ino` from the volume's root.
pub async fn path_of(meta: &Meta, mut ino: u64) -> Result<String> {
    let mut names = Vec::new();
    while ino != ROOT_INO && names.len() < 4096 {
        let parent = meta.getattr(ino).await?.parent;
        let name = meta
            .readdir(parent)
            .await?
            .into_iter()
            .find(|(_, dirent)| dirent.ino == ino)
            .map(|(name, _)| String::from_utf8_lossy(&name).into_owned())
            .unwrap_or_else(|| format!("<inode {ino}>"));
        names.push(name);
        ino = parent;
    }
    names.reverse();
    Ok(format!("/{}", names.join("/")))
}

/// A runtime for a command that does its work and exits.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The metadata of the volume `meta_arg` (or the default META_URL) names, which must exist.
pub async fn open_meta(meta_arg: Option<&str>) -> Result<Meta> {
    let url = meta_url(meta_arg)?;
    Ok(Meta::open(url.open(false).await?).await?)
}
