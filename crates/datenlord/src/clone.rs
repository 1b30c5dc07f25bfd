//! `datenlord clone` and `datenlord snapshot`: metadata-only copies of a file or a directory
//! tree of a volume, in the namespace or kept apart from it.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::admin::human;
use crate::cli::{CloneArgs, SnapshotAction, SnapshotArgs};
use crate::home;
use crate::progress::Progress;

pub fn run(args: CloneArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let meta = home::open_meta(args.meta.meta.as_deref()).await?;
        let src = home::resolve_any(&meta, &args.src).await?;
        let (parent, name) = split_destination(&args.dst)?;
        let parent_ino = home::resolve(&meta, parent).await?;
        let host = datenlord_vfs::this_host();
        let host_id = datenlord_vfs::host_identity();
        let progress = Progress::start_count(&format!("cloning {}", args.src));
        let cloned = meta
            .clone_tree(src, parent_ino, name.as_bytes(), (&host, &host_id), &|n| {
                progress.set_items(n)
            })
            .await
            .with_context(|| format!("cloning {} to {}", args.src, args.dst))?;
        let took = progress.finish();
        println!(
            "cloned {} to {}: {} inodes, {} of files, in {:.1} s (no data copied)",
            args.src,
            args.dst,
            cloned.inodes,
            human(cloned.bytes),
            took.as_secs_f64()
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The directory and the new name of a destination path.
fn split_destination(dst: &str) -> Result<(&str, &str)> {
    let trimmed = dst.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some((parent, name)) => (if parent.is_empty() { "/" } else { parent }, name),
        None => ("/", trimmed),
    };
    if name.is_empty() || name == "." || name == ".." {
        bail!("destination {dst:?} names no new entry");
    }
    Ok((parent, name))
}

/// `datenlord snapshot`: read-only clones kept apart from the namespace.
pub fn snapshot(args: SnapshotArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let meta = home::open_meta(args.meta.meta.as_deref()).await?;
        let host = datenlord_vfs::this_host();
        let host_id = datenlord_vfs::host_identity();
        match args.action {
            SnapshotAction::Create { path, name } => {
                let src = home::resolve_any(&meta, &path).await?;
                let progress = Progress::start_count(&format!("snapshot {name} of {path}"));
                let cloned = meta
                    .create_snapshot(src, &path, name.as_bytes(), (&host, &host_id), &|n| {
                        progress.set_items(n)
                    })
                    .await
                    .with_context(|| format!("taking snapshot {name} of {path}"))?;
                progress.finish();
                println!("snapshot {name} of {path}: {} inodes, {}", cloned.inodes, human(cloned.bytes));
            }
            SnapshotAction::List { json } => {
                let snapshots = meta.snapshots().await?;
                if snapshots.is_empty() && !json {
                    println!("no snapshots");
                }
                for (name, _, info) in snapshots {
                    let name = String::from_utf8_lossy(&name);
                    if json {
                        let line = serde_json::json!({"name": name, "source": info.source, "created": info.created});
                        println!("{line}");
                    } else {
                        let age = datenlord_meta::Timespec::now().sec - info.created;
                        println!("{name}\tof {}\ttaken {age} s ago", info.source);
                    }
                }
            }
            SnapshotAction::Delete { name } => {
                meta.delete_snapshot(name.as_bytes())
                    .await
                    .with_context(|| format!("deleting snapshot {name}"))?;
                println!("snapshot {name} deleted");
            }
            SnapshotAction::Restore { name, dst } => {
                let (parent, new_name) = split_destination(&dst)?;
                let parent_ino = home::resolve(&meta, parent).await?;
                let progress = Progress::start_count(&format!("restoring {name}"));
                let cloned = meta
                    .restore_snapshot(name.as_bytes(), (parent_ino, new_name.as_bytes()), None, (&host, &host_id), &|n| {
                        progress.set_items(n)
                    })
                    .await
                    .with_context(|| format!("restoring snapshot {name} to {dst}"))?;
                progress.finish();
                println!("snapshot {name} restored to {dst}: {} inodes", cloned.inodes);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::split_destination;

    #[test]
    fn destinations_split_into_directory_and_name() {
        assert_eq!(split_destination("/a/b").unwrap(), ("/a", "b"));
        assert_eq!(split_destination("b").unwrap(), ("/", "b"));
        assert_eq!(split_destination("/b/").unwrap(), ("/", "b"));
        assert!(split_destination("/").is_err());
        assert!(split_destination("/a/..").is_err());
    }
}
