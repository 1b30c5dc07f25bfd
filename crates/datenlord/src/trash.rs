//! `datenlord trash`: what deleted and replaced files the volume keeps, putting them back, and
//! purging them.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use datenlord_meta::{FileKind, Meta, ROOT_INO, Timespec, TrashEntry};

use crate::admin::human;
use crate::cli::{TrashAction, TrashArgs};
use crate::home;

pub fn run(args: TrashArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let meta = home::open_meta(args.meta.meta.as_deref()).await?;
        match args.action {
            TrashAction::List { json } => list(&meta, json).await,
            TrashAction::Restore { entries, hour, all } => {
                restore(&meta, &entries, &hour, all).await
            }
            TrashAction::Purge { all, older_than } => purge(&meta, all, older_than).await,
        }
    })
}

async fn list(meta: &Meta, json: bool) -> Result<ExitCode> {
    let entries = meta.trash_entries().await?;
    let kept = meta.kept_data().await?;
    if entries.is_empty() && kept.objects == 0 && !json {
        println!("the trash is empty");
    }
    let mut places = HashMap::new();
    for entry in &entries {
        let size = match meta.getattr(entry.ino).await {
            Ok(attr) if attr.kind == FileKind::File => attr.size,
            _ => 0,
        };
        let from = match places.get(&entry.parent) {
            Some(place) => place,
            None => {
                let place = origin(meta, entry.parent).await;
                places.entry(entry.parent).or_insert(place)
            }
        };
        let name = String::from_utf8_lossy(&entry.name);
        let original = String::from_utf8_lossy(&entry.original);
        if json {
            let line = serde_json::json!({
                "entry": format!("{}/{name}", entry.hour), "hour": entry.hour, "inode": entry.ino,
                "kind": kind_name(entry.kind), "size": size, "parent": entry.parent,
                "from": from, "name": original,
            });
            println!("{line}");
        } else {
            println!(
                "{}/{name}\t{}\t{}\tfrom {from}",
                entry.hour,
                kind_name(entry.kind),
                human(size)
            );
        }
    }
    if let (Some(oldest), false) = (kept.oldest, json) {
        println!(
            "overwritten or truncated data: {} in {} objects, kept since hour {} (freed by purge)",
            human(kept.bytes),
            kept.objects,
            datenlord_meta::hour_name(oldest)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Where an entry's directory is now, as a path; or why it is none.
async fn origin(meta: &Meta, dir: u64) -> String {
    let trash = meta.trash_dir();
    let mut names = Vec::new();
    let mut ino = dir;
    while ino != ROOT_INO {
        let Ok(attr) = meta.getattr(ino).await else {
            return format!(
                "directory {dir} (gone: restore it first, or give the entry a new place with mv)"
            );
        };
        let in_trash = Some(attr.parent) == trash
            || meta
                .getattr(attr.parent)
                .await
                .is_ok_and(|p| Some(p.parent) == trash);
        if in_trash || names.len() > 4096 {
            return format!("directory {dir} (in the trash: restored with it)");
        }
        let name = meta
            .readdir(attr.parent)
            .await
            .ok()
            .and_then(|entries| entries.into_iter().find(|(_, d)| d.ino == ino))
            .map(|(name, _)| String::from_utf8_lossy(&name).into_owned())
            .unwrap_or_else(|| format!("<inode {ino}>"));
        names.push(name);
        ino = attr.parent;
    }
    names.reverse();
    format!("/{}", names.join("/"))
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        _ => "special",
    }
}

async fn restore(meta: &Meta, names: &[String], hours: &[String], all: bool) -> Result<ExitCode> {
    if names.is_empty() && hours.is_empty() && !all {
        bail!(
            "name entries to restore (as `datenlord trash list` shows them), or give --hour HOUR or --all"
        );
    }
    let entries = meta.trash_entries().await?;
    let mut chosen: Vec<&TrashEntry> = Vec::new();
    for name in names {
        let found = entries
            .iter()
            .find(|e| format!("{}/{}", e.hour, String::from_utf8_lossy(&e.name)) == *name)
            .with_context(|| {
                format!("{name}: no such entry in the trash (see `datenlord trash list`)")
            })?;
        chosen.push(found);
    }
    for hour in hours {
        let before = chosen.len();
        chosen.extend(entries.iter().filter(|e| e.hour == *hour));
        if chosen.len() == before {
            bail!("the trash holds nothing from hour {hour}");
        }
    }
    if all {
        chosen = entries.iter().collect();
    }
    // Directories first, and again while any comes back: a removed tree's entries wait for
    // the directories they were in.
    chosen.sort_by_key(|e| (e.kind != FileKind::Dir, std::cmp::Reverse(e.hour.clone())));
    chosen.dedup_by_key(|e| e.ino);
    let mut failed = Vec::new();
    let mut restored = 0;
    loop {
        let mut waiting = Vec::new();
        let before = restored;
        for entry in chosen {
            let name = String::from_utf8_lossy(&entry.original);
            match meta.restore_trashed(entry).await {
                Ok(()) => {
                    restored += 1;
                    let dir = origin(meta, entry.parent).await;
                    let dir = dir.trim_end_matches('/');
                    println!(
                        "restored {}/{} to {dir}/{name}",
                        entry.hour,
                        String::from_utf8_lossy(&entry.name)
                    );
                }
                Err(err) if err.errno() == libc::ENOENT => waiting.push(entry),
                Err(err) if err.errno() == libc::EEXIST => failed.push((
                    entry,
                    format!(
                        "{name} exists in {} again; move the entry elsewhere with mv",
                        origin(meta, entry.parent).await
                    ),
                )),
                Err(err) => failed.push((entry, err.to_string())),
            }
        }
        chosen = waiting;
        if chosen.is_empty() || restored == before {
            break;
        }
    }
    for entry in chosen {
        failed.push((
            entry,
            format!(
                "its directory is gone: {}",
                origin(meta, entry.parent).await
            ),
        ));
    }
    for (entry, why) in &failed {
        eprintln!(
            "datenlord: cannot restore {}/{}: {why}",
            entry.hour,
            String::from_utf8_lossy(&entry.name)
        );
    }
    println!("{restored} restored, {} not", failed.len());
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn purge(meta: &Meta, all: bool, older_than: Option<u32>) -> Result<ExitCode> {
    let before = if all {
        i64::MAX
    } else {
        let days = older_than.unwrap_or(meta.volume().trash_days);
        Timespec::now().sec - i64::from(days) * 86_400
    };
    let purged = meta
        .purge_trash(before)
        .await
        .context("purging the trash")?;
    if purged.is_empty() {
        println!("nothing to purge");
    }
    if !purged.hours.is_empty() {
        let hours = &purged.hours;
        println!("purged {} hour(s): {}", hours.len(), hours.join(", "));
    }
    if purged.kept_objects > 0 {
        println!(
            "released {} of overwritten data ({} objects) for deletion",
            human(purged.kept_bytes),
            purged.kept_objects
        );
    }
    Ok(ExitCode::SUCCESS)
}
