//! `format`, `umount`, `status`, `fsck` and `gc`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use datenlord_meta::Timespec;
use datenlord_store::StorageUrl;

use crate::cli::{FormatArgs, FsckArgs, GcArgs, StatusArgs, UmountArgs};
use crate::home;

pub fn format(args: FormatArgs) -> Result<ExitCode> {
    let meta = home::meta_url(args.meta.meta.as_deref())?;
    let storage: StorageUrl = match &args.storage {
        Some(url) => url.parse()?,
        None => home::default_storage(),
    };
    let block_size = home::parse_size(&args.block_size)?;
    if !(64 << 10..=16 << 20).contains(&block_size) || !block_size.is_power_of_two() {
        bail!(
            "--block-size must be a power of two from 64K to 16M, not {}",
            args.block_size
        );
    }
    if args.name.is_empty() || args.name.contains(['/', ':', ',']) {
        bail!(
            "volume name {:?} must be non-empty and contain no '/', ':' or ','",
            args.name
        );
    }
    let volume = home::runtime()?.block_on(home::format(
        &meta,
        &storage,
        block_size as u32,
        &args.name,
        args.trash_days,
        args.force,
    ))?;
    println!(
        "volume {} ({}) formatted\n  metadata   {meta}\n  storage    {}\n  block size {}\n  trash      {}",
        volume.name,
        volume.uuid,
        volume.storage,
        human(u64::from(volume.block_size)),
        trash_days(volume.trash_days)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn umount(args: UmountArgs) -> Result<ExitCode> {
    let path = &args.mountpoint;
    if !path.exists() && std::fs::symlink_metadata(path).is_err() {
        bail!("{} does not exist", path.display());
    }
    match datenlord_fuse::unmount(path, args.lazy) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) => match err.raw_os_error() {
            Some(libc::EINVAL) => bail!("{} is not mounted", path.display()),
            Some(libc::EBUSY) => bail!(
                "{} is busy (files are open on it); close them or detach it with `datenlord umount -l {}`",
                path.display(),
                path.display()
            ),
            _ => Err(err).with_context(|| format!("unmounting {}", path.display())),
        },
    }
}

/// How a volume's trash setting reads.
fn trash_days(days: u32) -> String {
    match days {
        0 => "off (deleted files go at once)".into(),
        1 => "deleted files kept 1 day".into(),
        n => format!("deleted files kept {n} days"),
    }
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn status(args: StatusArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let url = home::meta_url(args.meta.meta.as_deref())?;
        let kv = url.open(false).await?;
        let meta = datenlord_meta::Meta::open(kv).await?;
        let usage = meta.usage().await?;
        let sessions = meta.sessions().await?;
        let volume = meta.volume();
        let capacity = volume
            .storage
            .parse::<StorageUrl>()
            .ok()
            .and_then(|s| datenlord_store::BlockStore::open(&s, volume.block_size, false).ok())
            .and_then(|s| s.capacity());
        let now = Timespec::now().sec;
        let groups = if args.cache {
            Some(crate::locality::groups(&meta, now).await?)
        } else {
            None
        };
        if args.json {
            let json = serde_json::json!({
                "cache_groups": groups,
                "volume": volume,
                "meta": url.to_string(),
                "usage": { "bytes": usage.space, "inodes": usage.inodes },
                "storage_capacity": capacity.map(|c| serde_json::json!({"total": c.total, "free": c.free})),
                "sessions": sessions.iter().map(|(id, s)| serde_json::json!({
                    "id": id, "host": s.host, "pid": s.pid, "mountpoint": s.mountpoint,
                    "version": s.version, "started": s.started, "heartbeat_age": now - s.heartbeat,
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!("volume     {} ({})", volume.name, volume.uuid);
        println!("metadata   {url}");
        println!("storage    {}", volume.storage);
        println!("block size {}", human(u64::from(volume.block_size)));
        println!("trash      {}", trash_days(volume.trash_days));
        println!("used       {} in {} inodes", human(usage.space), usage.inodes);
        if let Some(cap) = capacity {
            println!("storage    {} free of {}", human(cap.free), human(cap.total));
        }
        if sessions.is_empty() {
            println!("mounts     none");
        }
        for (id, s) in &sessions {
            println!(
                "mount {id:<4} {}:{} pid {} since {}s, heartbeat {}s ago",
                s.host,
                s.mountpoint,
                s.pid,
                now - s.started,
                now - s.heartbeat
            );
        }
        if let Some(groups) = &groups {
            crate::locality::print_groups(groups);
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn fsck(args: FsckArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let url = home::meta_url(args.meta.meta.as_deref())?;
        let meta = datenlord_meta::Meta::open(url.open(false).await?).await?;
        let storage: StorageUrl = meta.volume().storage.parse()?;
        let store = datenlord_store::BlockStore::open(&storage, meta.volume().block_size, false)?;
        let mounts = meta.sessions().await?.len();
        if args.repair && mounts > 0 {
            bail!("volume {} is mounted ({mounts} mounts): unmount it before --repair", meta.volume().name);
        }
        let report = datenlord_vfs::fsck(&meta, &store, args.repair).await?;
        println!(
            "checked {} inodes ({} files, {} directories), {} objects",
            report.meta.inodes,
            report.meta.files,
            report.meta.directories,
            report.meta.objects.len()
        );
        if mounts > 0 {
            println!("note: the volume is mounted; blocks being written may show as leaked");
        }
        for problem in &report.meta.problems {
            println!("problem: {problem}");
        }
        for missing in &report.missing {
            println!("missing: {missing}");
        }
        for (object, bytes) in &report.leaked {
            println!("leaked: object {object} ({})", human(*bytes));
        }
        if !report.meta.doomed.is_empty() {
            println!("{} unreferenced objects are waiting to be deleted", report.meta.doomed.len());
        }
        if !report.meta.kept.is_empty() {
            let bytes: u64 = report.meta.kept.values().sum();
            println!(
                "{} objects of overwritten data ({}) are kept for the trash",
                report.meta.kept.len(),
                human(bytes)
            );
        }
        if report.is_clean() {
            println!("clean");
            return Ok(ExitCode::SUCCESS);
        }
        if args.repair {
            println!(
                "repaired {} metadata records, deleted {} leaked objects; missing blocks cannot be repaired",
                report.meta.repaired, report.deleted
            );
        }
        Ok(ExitCode::FAILURE)
    })
}

pub fn gc(args: GcArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let meta = home::open_meta(args.meta.meta.as_deref()).await?;
        let storage: StorageUrl = meta.volume().storage.parse()?;
        let store = datenlord_store::BlockStore::open(&storage, meta.volume().block_size, false)
            .with_context(|| format!("opening the block store {storage}"))?;
        let now = datenlord_meta::Timespec::now().sec;
        let before = now - i64::from(args.uploads_older_than) * 86_400;
        let uploads = datenlord_gateway::stale::stale_uploads(&meta, before)
            .await
            .context("looking for unfinished S3 uploads")?;
        let mut discarded = 0;
        if args.delete {
            for upload in &uploads {
                if datenlord_gateway::stale::discard_upload(&meta, &upload.id)
                    .await
                    .with_context(|| format!("discarding upload {}", upload.id))?
                {
                    discarded += 1;
                }
            }
        }
        let progress = crate::progress::Progress::start_count("listing the store's blocks");
        let report = datenlord_vfs::gc(&meta, &store, args.delete, &|n| progress.set_items(n))
            .await
            .context("collecting garbage")?;
        progress.finish();
        println!(
            "listed {} blocks; {} leaked objects ({}){}",
            report.blocks,
            report.leaked,
            human(report.leaked_bytes),
            if args.delete {
                format!(", {} deleted", report.deleted)
            } else {
                String::new()
            }
        );
        for (object, bytes) in &report.examples {
            println!("leaked: object {object} ({})", human(*bytes));
        }
        if !uploads.is_empty() {
            let bytes = uploads.iter().map(|u| u.bytes).sum();
            let done = if args.delete {
                format!(", {discarded} discarded")
            } else {
                String::new()
            };
            println!(
                "{} unfinished S3 uploads started {} or more days ago ({}){done}",
                uploads.len(),
                args.uploads_older_than,
                human(bytes)
            );
            for upload in uploads.iter().take(20) {
                let hours = (now - upload.initiated).max(0) / 3600;
                println!(
                    "upload {} of {}/{} started {hours} hours ago ({})",
                    upload.id,
                    upload.bucket,
                    upload.key,
                    human(upload.bytes)
                );
            }
        }
        if report.dead_clones > 0 {
            let done = if args.delete { "removed" } else { "to remove" };
            println!(
                "{} unfinished clones of dead builders {done}",
                report.dead_clones
            );
        }
        if !args.delete && (report.leaked > 0 || report.dead_clones > 0 || !uploads.is_empty()) {
            println!("dry run: run again with --delete to remove them");
        }
        Ok(ExitCode::SUCCESS)
    })
}
