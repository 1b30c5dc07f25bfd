//! `datenlord clone`: a metadata-only copy of a file or a directory tree of a volume.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use datenlord_meta::Meta;

use crate::admin::human;
use crate::cli::CloneArgs;
use crate::home;
use crate::progress::Progress;

pub fn run(args: CloneArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let url = home::meta_url(args.meta.meta.as_deref())?;
        let meta = Meta::open(url.open(false).await?).await?;
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
