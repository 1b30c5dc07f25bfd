//! Mounting the way Linux mounts filesystems: `mount -t datenlord META_URL DIR -o OPTIONS`
//! and /etc/fstab lines run `mount.datenlord META_URL DIR [-sfnv] [-o OPTIONS]` (this binary,
//! linked under that name by `datenlord install-helper`), which mounts in the background and
//! returns once the mount is up, as mount(8) expects. Options are mount(8)'s and ours:
//! userspace-only ones (`_netdev`, `nofail`, `noauto`, `defaults`, ...) are accepted and
//! dropped; `attr_timeout=1`, `cache_size=50G`, `subdir=/pv/a`, `writeback_cache`, ... become
//! the `datenlord mount` flags of the same names; the rest go to the kernel.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::cli::MountArgs;
use crate::home;

/// The name mount(8) runs the helper by.
pub const HELPER_NAME: &str = "mount.datenlord";

/// Options of mount(8) and fstab that mean nothing to the filesystem.
const USERSPACE_ONLY: &[&str] = &[
    "_netdev", "nofail", "noauto", "auto", "defaults", "rw", "user", "users", "nouser", "owner",
    "group", "nosuid", "nodev", "exec", "async", "loop",
];

/// `datenlord mount` flags that take a value, by their option name.
const VALUE_FLAGS: &[&str] = &[
    "attr_timeout",
    "entry_timeout",
    "workers",
    "io_timeout",
    "lease",
    "buffer_size",
    "cache_dir",
    "cache_size",
    "memory_cache_size",
    "cache_free_ratio",
    "cache_policy",
    "cache_group",
    "cache_replicas",
    "readahead",
];

/// `datenlord mount` flags without a value, by their option name.
const SWITCHES: &[&str] = &["writeback_cache", "no_allow_other", "clean_stale"];

/// Whether this process was started as the mount helper.
pub fn is_helper() -> bool {
    std::env::args_os()
        .next()
        .and_then(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .is_some_and(|name| name == HELPER_NAME || name == "mount.fuse.datenlord")
}

/// What mount(8) asked for.
#[derive(Debug, Default, PartialEq)]
struct Request {
    meta: String,
    mountpoint: String,
    options: Vec<String>,
    fake: bool,
    verbose: bool,
    sloppy: bool,
}

fn parse(args: &[String]) -> Result<Request> {
    let mut request = Request::default();
    let mut positional = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-o" => {
                let value = words.next().context("-o needs a value")?;
                request
                    .options
                    .extend(value.split(',').filter(|o| !o.is_empty()).map(String::from));
            }
            "-t" => {
                words.next().context("-t needs a value")?;
            }
            "-N" => bail!("-N (mount in another namespace) is not supported"),
            flags if flags.starts_with('-') && flags.len() > 1 && !flags.starts_with("--") => {
                for flag in flags[1..].chars() {
                    match flag {
                        'f' => request.fake = true,
                        'v' => request.verbose = true,
                        's' => request.sloppy = true,
                        'n' | 'r' | 'w' => {}
                        other => bail!("unknown option -{other}"),
                    }
                }
            }
            _ => positional.push(word.clone()),
        }
    }
    match positional.as_slice() {
        [meta, mountpoint] => {
            request.meta = meta.clone();
            request.mountpoint = mountpoint.clone();
        }
        _ => bail!(
            "usage: {HELPER_NAME} META_URL MOUNTPOINT [-sfnv] [-o OPTIONS] (given {} operands)",
            positional.len()
        ),
    }
    Ok(request)
}

/// The `datenlord mount` command line for a request.
fn mount_command(request: &Request) -> Result<Vec<String>> {
    let mut args = vec![
        "mount".to_string(),
        request.mountpoint.clone(),
        "--meta".into(),
        request.meta.clone(),
        "-d".into(),
    ];
    let mut kernel = Vec::new();
    for option in &request.options {
        let (key, value) = match option.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (option.as_str(), None),
        };
        if USERSPACE_ONLY.contains(&key) || key == "comment" || key.starts_with("x-") {
            continue;
        }
        let flag = format!("--{}", key.replace('_', "-"));
        match value {
            Some(value) if VALUE_FLAGS.contains(&key) => args.extend([flag, value.to_string()]),
            None if SWITCHES.contains(&key) => args.push(flag),
            _ if VALUE_FLAGS.contains(&key) || SWITCHES.contains(&key) => {
                if !request.sloppy {
                    bail!("mount option {option:?} is malformed");
                }
            }
            _ => kernel.push(option.clone()),
        }
    }
    if !kernel.is_empty() {
        args.extend(["-o".to_string(), kernel.join(",")]);
    }
    Ok(args)
}

/// Runs as `mount.datenlord`: mounts in the background through `datenlord mount -d`.
pub fn run() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let request = parse(&args)?;
    let command = mount_command(&request)?;
    if request.verbose || request.fake {
        eprintln!("{HELPER_NAME}: datenlord {}", command.join(" "));
    }
    if request.fake {
        return Ok(ExitCode::SUCCESS);
    }
    let status = Command::new(std::env::current_exe()?)
        .args(&command)
        .status()
        .context("starting datenlord mount")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        // mount(8) reads 32 as "mount failure".
        ExitCode::from(32)
    })
}

/// `datenlord install-helper`: links `DIR/mount.datenlord` to this binary.
pub fn install(dir: &Path, force: bool) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let link = dir.join(HELPER_NAME);
    match std::fs::read_link(&link) {
        Ok(target) if target == exe => {
            println!("{} already links to {}", link.display(), exe.display());
            return Ok(ExitCode::SUCCESS);
        }
        Ok(_) | Err(_) if link.symlink_metadata().is_ok() => {
            if !force {
                bail!(
                    "{} exists and is not a link to {}; run with --force to replace it",
                    link.display(),
                    exe.display()
                );
            }
            std::fs::remove_file(&link).with_context(|| format!("removing {}", link.display()))?;
        }
        _ => {}
    }
    std::os::unix::fs::symlink(&exe, &link)
        .with_context(|| format!("linking {} to {}", link.display(), exe.display()))?;
    println!(
        "{} -> {}: `mount -t datenlord META_URL DIR` and fstab lines of type datenlord work now",
        link.display(),
        exe.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Where `--update-fstab` writes: `$DATENLORD_FSTAB`, or /etc/fstab.
fn fstab_path() -> PathBuf {
    std::env::var_os("DATENLORD_FSTAB")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/etc/fstab"), PathBuf::from)
}

/// An fstab field: spaces, tabs and backslashes escaped as fstab(5) reads them.
fn fstab_field(text: &str) -> String {
    text.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
}

/// The fstab line that mounts what `args` mounts.
fn fstab_line(args: &MountArgs) -> Result<String> {
    let meta = home::meta_url(args.meta.meta.as_deref())?.to_string();
    let mountpoint = std::path::absolute(&args.mountpoint)?;
    let mut options = vec!["_netdev".to_string()];
    options.extend(args.options.iter().map(|o| o.trim().to_string()));
    if let Some(subdir) = &args.subdir {
        options.push(format!("subdir={subdir}"));
    }
    if args.no_allow_other {
        options.push("no_allow_other".into());
    }
    if args.writeback_cache {
        options.push("writeback_cache".into());
    }
    options.retain(|o| !o.is_empty());
    Ok(format!(
        "{} {} datenlord {} 0 0",
        fstab_field(&meta),
        fstab_field(&mountpoint.display().to_string()),
        fstab_field(&options.join(","))
    ))
}

/// Adds (or replaces) the fstab line of this mount's mountpoint.
pub fn update_fstab(args: &MountArgs) -> Result<()> {
    let path = fstab_path();
    let line = fstab_line(args)?;
    let mountpoint = line.split(' ').nth(1).unwrap_or_default().to_string();
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mut lines: Vec<&str> = old
        .lines()
        .filter(|l| l.split_whitespace().nth(1) != Some(mountpoint.as_str()) || l.starts_with('#'))
        .collect();
    lines.push(&line);
    let mut text = lines.join("\n");
    text.push('\n');
    let temp = path.with_extension("datenlord-new");
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, &path).with_context(|| format!("replacing {}", path.display()))?;
    println!("datenlord: {}: {line}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn mount8_arguments_become_a_datenlord_mount() {
        let request = parse(&words(
            "sqlite:///var/lib/dl/meta.db /mnt/dl -n -o rw,_netdev,allow_other,attr_timeout=5,subdir=/pv/a,writeback_cache,nofail",
        ))
        .unwrap();
        assert_eq!(request.meta, "sqlite:///var/lib/dl/meta.db");
        assert_eq!(request.mountpoint, "/mnt/dl");
        assert_eq!(
            mount_command(&request).unwrap().join(" "),
            "mount /mnt/dl --meta sqlite:///var/lib/dl/meta.db -d --attr-timeout 5 \
             --writeback-cache -o allow_other,subdir=/pv/a"
        );
        let fake = parse(&words("etcd://h:2379/v /m -fv")).unwrap();
        assert!(fake.fake && fake.verbose);
    }

    #[test]
    fn bad_helper_arguments_are_refused() {
        assert!(parse(&words("only-one")).is_err());
        assert!(parse(&words("a b -o")).is_err());
        assert!(parse(&words("a b -N ns")).is_err());
        assert!(parse(&words("a b -q")).is_err());
        let request = parse(&words("a b -o attr_timeout")).unwrap();
        assert!(mount_command(&request).is_err());
    }

    #[test]
    fn fstab_fields_escape_blanks() {
        assert_eq!(fstab_field("/mnt/my disk"), "/mnt/my\\040disk");
    }
}
