//! `datenlord quota`: directory quotas of a volume — set, get, list, delete, check.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use datenlord_meta::{Quota, QuotaLimits};

use crate::admin::human;
use crate::cli::{QuotaAction, QuotaArgs};
use crate::home::{self, path_of, resolve};
use crate::progress::Progress;

pub fn run(args: QuotaArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let meta = home::open_meta(args.meta.meta.as_deref()).await?;
        match args.action {
            QuotaAction::Set {
                path,
                capacity,
                inodes,
            } => {
                let ino = resolve(&meta, &path).await?;
                let old = meta.quota(ino).await?;
                let capacity = match capacity {
                    Some(size) => home::parse_size(&size)?,
                    None => old.map_or(0, |q| q.capacity),
                };
                let inodes = inodes.unwrap_or(old.map_or(0, |q| q.inodes));
                let limits = QuotaLimits { capacity, inodes };
                let progress = Progress::start_count(&format!("charging {path} to its quota"));
                let quota = meta
                    .set_quota(ino, limits, &|n| progress.set_items(n))
                    .await
                    .with_context(|| format!("setting the quota of {path}"))?;
                progress.finish();
                show(args.json, &path, &quota);
                Ok(ExitCode::SUCCESS)
            }
            QuotaAction::Get { path } => {
                let ino = resolve(&meta, &path).await?;
                match meta.quota(ino).await? {
                    Some(quota) => {
                        show(args.json, &path, &quota);
                        Ok(ExitCode::SUCCESS)
                    }
                    None => bail!("{path} has no quota"),
                }
            }
            QuotaAction::List => {
                let quotas = meta.quotas().await?;
                if quotas.is_empty() && !args.json {
                    println!("no quotas");
                }
                for (ino, quota) in quotas {
                    show(args.json, &path_of(&meta, ino).await?, &quota);
                }
                Ok(ExitCode::SUCCESS)
            }
            QuotaAction::Delete { path } => {
                let ino = resolve(&meta, &path).await?;
                if meta.quota(ino).await?.is_none() {
                    bail!("{path} has no quota");
                }
                let progress = Progress::start_count(&format!("moving {path} out of its quota"));
                meta.delete_quota(ino, &|n| progress.set_items(n))
                    .await
                    .with_context(|| format!("removing the quota of {path}"))?;
                progress.finish();
                println!("{path}: quota removed");
                Ok(ExitCode::SUCCESS)
            }
            QuotaAction::Check { repair } => {
                let mut clean = true;
                for check in meta.check_quotas(repair).await? {
                    let path = path_of(&meta, check.ino).await?;
                    let (space, inodes) = check.counted;
                    if check.stored == check.counted && check.misplaced == 0 {
                        println!("ok     {path}: {} in {inodes} inodes", human(space as u64));
                        continue;
                    }
                    clean = false;
                    if check.stored != check.counted {
                        let (s, i) = check.stored;
                        let fixed = if check.repaired {
                            "; repaired"
                        } else if repair {
                            "; changed while counted, run again"
                        } else {
                            ""
                        };
                        println!(
                            "wrong  {path}: recorded {s} bytes in {i} inodes, counted {space} bytes in {inodes} inodes{fixed}"
                        );
                    }
                    if check.misplaced > 0 {
                        println!(
                            "wrong  {path}: {} inodes are charged to another quota than the one enclosing them",
                            check.misplaced
                        );
                    }
                }
                Ok(if clean {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        }
    })
}

/// Prints one quota, as a line of text or of JSON.
fn show(json: bool, path: &str, quota: &Quota) {
    if json {
        let value = serde_json::json!({
            "path": path,
            "capacity": quota.capacity,
            "inodes": quota.inodes,
            "used_space": quota.used_space,
            "used_inodes": quota.used_inodes,
            "ready": quota.ready,
        });
        println!("{value}");
    } else {
        println!("{}", describe(path, quota));
    }
}

/// One line about a quota: usage against limits.
fn describe(path: &str, quota: &Quota) -> String {
    let used = |n: i64| u64::try_from(n).unwrap_or(0);
    let space = match quota.capacity {
        0 => format!("{} used (no limit)", human(used(quota.used_space))),
        cap => format!(
            "{} of {} used ({:.0}%)",
            human(used(quota.used_space)),
            human(cap),
            used(quota.used_space) as f64 * 100.0 / cap as f64
        ),
    };
    let inodes = match quota.inodes {
        0 => format!("{} inodes (no limit)", used(quota.used_inodes)),
        limit => format!("{} of {limit} inodes", used(quota.used_inodes)),
    };
    let pending = if quota.ready {
        ""
    } else {
        " — still being counted: run `datenlord quota set` on it again to finish"
    };
    format!("{path}: {space}, {inodes}{pending}")
}
