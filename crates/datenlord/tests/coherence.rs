//! The coherence guarantee, checked against a model: three mounts of one volume on etcd (each
//! a `datenlord mount` process with kernel caches of a minute and the metadata cache on), six
//! workers (two a mount) doing random creates, writes, renames, unlinks, chmods, links and
//! setxattrs on names of their own, for `COHERENCE_SECS` seconds (60 by default). After every
//! step a worker checks (1) its own names on its own mount: exactly the model's latest state
//! (read-your-writes), and (2) a name of another worker's, seen from its mount: a state the
//! model had at some instant from `LAG` before the look began to when it ended (what another
//! mount commits is seen within the watch's delay; ARCHITECTURE.md, "The guarantee"). Each
//! property — existence and mode, content, the xattr — is checked on its own, as each is a
//! syscall of its own. Zero violations.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::servers::Etcd;
use common::{Home, Mounted, Options, Ttl, xattr};

/// How far behind another mount's view may be.
const LAG: Duration = Duration::from_secs(1);
const NAMES_PER_WORKER: usize = 4;
const WORKERS: usize = 6;
const MOUNTS: usize = 3;
/// How a read torn by a concurrent cut is told from the violations.
const CUT_RACE: &str = "cut race:";

/// What one name shows: absent, or a file's mode, content and `user.v` xattr.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    exists: Option<(u32, Vec<u8>, Option<Vec<u8>>)>,
}

/// One state of a name and when it became current: no earlier than `from`, no later than
/// `by` (`None` while the step that makes it is under way).
#[derive(Debug, Clone)]
struct Entry {
    shown: Shown,
    from: Duration,
    by: Option<Duration>,
}

/// Every state each name has had, in order.
type History = Arc<Mutex<HashMap<String, Vec<Entry>>>>;

/// A file of the model (several names may share one, after a link).
#[derive(Debug, Clone)]
struct Inode {
    mode: u32,
    content: Vec<u8>,
    xattr: Option<Vec<u8>>,
}

/// One worker's own names, as the model says they are.
#[derive(Clone)]
struct Model {
    /// Which inode each name is (index into `inodes`).
    at: Vec<Option<usize>>,
    inodes: Vec<Inode>,
}

impl Model {
    fn shown(&self, name: usize) -> Shown {
        Shown {
            exists: self.at[name].map(|i| {
                let inode = &self.inodes[i];
                (inode.mode, inode.content.clone(), inode.xattr.clone())
            }),
        }
    }

    fn all_shown(&self) -> Vec<Shown> {
        (0..self.at.len()).map(|i| self.shown(i)).collect()
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Whether `seen` of property `part`, looked at from `start` to `end`, was the state of a
/// name at some instant from `start - lag` to `end`.
fn possible<T: PartialEq>(
    entries: &[Entry],
    part: impl Fn(&Shown) -> T,
    seen: &T,
    start: Duration,
    end: Duration,
    lag: Duration,
) -> bool {
    let since = start.saturating_sub(lag);
    entries.iter().enumerate().any(|(k, entry)| {
        let still = match entries.get(k + 1) {
            None => true,
            Some(next) => next.by.is_none_or(|by| by >= since),
        };
        part(&entry.shown) == *seen && entry.from <= end && still
    })
}

/// One look at `path`: each property with the time it was read in.
struct Look {
    exists: (Option<u32>, Duration, Duration),
    content: (Option<Vec<u8>>, Duration, Duration),
    xattr: (Option<Option<Vec<u8>>>, Duration, Duration),
}

fn look(path: &Path, t0: Instant) -> Look {
    let a = t0.elapsed();
    let mode = std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let b = t0.elapsed();
    let content = std::fs::read(path).ok();
    let c = t0.elapsed();
    let value = match xattr::get(path, "user.v", 256) {
        Ok(value) => Some(Some(value)),
        Err(err) if err.raw_os_error() == Some(libc::ENODATA) => Some(None),
        Err(_) => None,
    };
    let d = t0.elapsed();
    Look {
        exists: (mode, a, b),
        content: (content, b, c),
        xattr: (value, c, d),
    }
}

/// The violations in `look` of the name whose states are `entries`, given `lag`.
fn check(name: &str, entries: &[Entry], seen: &Look, lag: Duration) -> Vec<String> {
    let mut wrong = Vec::new();
    let (mode, s, e) = &seen.exists;
    if !possible(
        entries,
        |x| x.exists.as_ref().map(|f| f.0),
        mode,
        *s,
        *e,
        lag,
    ) {
        wrong.push(format!(
            "{name}: mode {mode:?} at {s:?}..{e:?}; states {entries:?}"
        ));
    }
    let (content, s, e) = &seen.content;
    // A read racing another mount's cut of the file (O_TRUNC, then the new bytes) can come
    // back as zeros as long as the file was: the kernel took the old length at open, the
    // cut's notice lands while the read is on its way, and FUSE zero-fills a short read it
    // may not shrink the file for (fuse_short_read with a stale attribute version). Known,
    // counted, not yet cured (ARCHITECTURE.md, "The guarantee").
    let zeros_as_long = |x: &Shown| x.exists.as_ref().map(|f| vec![0u8; f.1.len()]);
    let all_zeros = content
        .as_ref()
        .is_some_and(|c| !c.is_empty() && c.iter().all(|&b| b == 0));
    if all_zeros && possible(entries, zeros_as_long, content, *s, *e, lag.max(LAG)) {
        wrong.push(format!("{CUT_RACE} {name}"));
    } else if !possible(
        entries,
        |x| x.exists.as_ref().map(|f| f.1.clone()),
        content,
        *s,
        *e,
        lag,
    ) {
        let near: Vec<_> = entries
            .iter()
            .filter(|x| x.from + LAG * 2 >= *s && x.from <= *e + LAG)
            .collect();
        wrong.push(format!(
            "{name}: content {content:?} at {s:?}..{e:?}; states about then {near:?}"
        ));
    }
    // An xattr read of a name that went meanwhile fails; only what was read is checked.
    if let (Some(value), s, e) = &seen.xattr
        && !possible(
            entries,
            |x| x.exists.as_ref().map(|f| f.2.clone()),
            &Some(value.clone()),
            *s,
            *e,
            lag,
        )
    {
        wrong.push(format!("{name}: xattr {value:?} at {s:?}..{e:?}"));
    }
    wrong
}

/// Runs worker `w` on `mount` until `deadline`: its steps, its checks; the violations.
fn worker(
    w: usize,
    mount: &Path,
    history: History,
    t0: Instant,
    deadline: Instant,
) -> (usize, Vec<String>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((w as u64 + 1) * 0x1000_0001));
    let names: Vec<String> = (0..NAMES_PER_WORKER)
        .map(|i| format!("w{w}-n{i}"))
        .collect();
    let mut model = Model {
        at: vec![None; NAMES_PER_WORKER],
        inodes: Vec::new(),
    };
    let mut violations = Vec::new();
    let mut steps = 0;
    let mut version = 0u32;
    while Instant::now() < deadline {
        version += 1;
        let a = rng.below(NAMES_PER_WORKER);
        let b = (a + 1 + rng.below(NAMES_PER_WORKER - 1)) % NAMES_PER_WORKER;
        let (pa, pb) = (mount.join(&names[a]), mount.join(&names[b]));
        // The step's effect on the model, worked out before it runs, as the states others
        // may see one after the other (a write of a whole file truncates it first).
        let mut stages: Vec<Model> = Vec::new();
        let mut next = model.clone();
        let op = rng.below(7);
        let content = format!("w{w} v{version}").into_bytes();
        let run: Box<dyn FnOnce()> = match (op, model.at[a], model.at[b]) {
            (0 | 1, None, _) | (1, Some(_), _) => {
                let i = match next.at[a] {
                    Some(i) => i,
                    None => {
                        next.inodes.push(Inode {
                            mode: 0o644,
                            content: Vec::new(),
                            xattr: None,
                        });
                        next.at[a] = Some(next.inodes.len() - 1);
                        next.inodes.len() - 1
                    }
                };
                next.inodes[i].content = Vec::new();
                stages.push(next.clone());
                next.inodes[i].content = content.clone();
                Box::new(move || {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o644)
                        .open(&pa)
                        .unwrap();
                    file.write_all(&content).unwrap();
                })
            }
            // Renaming a name onto another link of its file changes nothing (POSIX).
            (0, Some(i), at_b) if at_b != Some(i) => {
                next.at[b] = next.at[a].take();
                Box::new(move || std::fs::rename(&pa, &pb).unwrap())
            }
            (2, Some(_), _) => {
                next.at[a] = None;
                Box::new(move || std::fs::remove_file(&pa).unwrap())
            }
            (3, Some(i), _) => {
                let mode = [0o600, 0o640, 0o644, 0o755][rng.below(4)];
                next.inodes[i].mode = mode;
                Box::new(move || {
                    std::fs::set_permissions(&pa, std::fs::Permissions::from_mode(mode)).unwrap()
                })
            }
            (4, Some(i), None) => {
                next.at[b] = Some(i);
                Box::new(move || std::fs::hard_link(&pa, &pb).unwrap())
            }
            (5, Some(i), _) => {
                let value = format!("x{version}").into_bytes();
                next.inodes[i].xattr = Some(value.clone());
                Box::new(move || xattr::set(&pa, "user.v", &value, 0).unwrap())
            }
            _ => continue,
        };
        steps += 1;
        stages.push(next.clone());
        // Every state a name passes through, pending until the step returns, so that a look
        // overlapping the step may see any of them.
        let from = t0.elapsed();
        let mut touched = Vec::new();
        {
            let mut history = history.lock().unwrap();
            let mut previous = model.all_shown();
            for stage in &stages {
                let shown = stage.all_shown();
                for i in 0..NAMES_PER_WORKER {
                    if shown[i] != previous[i] {
                        history.entry(names[i].clone()).or_default().push(Entry {
                            shown: shown[i].clone(),
                            from,
                            by: None,
                        });
                        touched.push(i);
                    }
                }
                previous = shown;
            }
        }
        run();
        let by = t0.elapsed();
        {
            let mut history = history.lock().unwrap();
            for &i in &touched {
                for entry in history.get_mut(&names[i]).into_iter().flatten() {
                    entry.by.get_or_insert(by);
                }
            }
        }
        model = next;
        // (1) Its own names on its own mount: exactly the latest.
        for name in &names {
            let seen = look(&mount.join(name), t0);
            let entries = entries_of(&history.lock().unwrap(), name);
            violations.extend(check(name, &entries, &seen, Duration::ZERO));
        }
        // (2) Another worker's name, seen from this mount.
        let other = (w + 1 + rng.below(WORKERS - 1)) % WORKERS;
        let name = format!("w{other}-n{}", rng.below(NAMES_PER_WORKER));
        let seen = look(&mount.join(&name), t0);
        let entries = entries_of(&history.lock().unwrap(), &name);
        violations.extend(check(&name, &entries, &seen, LAG));
    }
    (steps, violations)
}

/// The states of `name`, from its first (absent, always).
fn entries_of(history: &HashMap<String, Vec<Entry>>, name: &str) -> Vec<Entry> {
    let mut entries = vec![Entry {
        shown: Shown { exists: None },
        from: Duration::ZERO,
        by: Some(Duration::ZERO),
    }];
    entries.extend(history.get(name).cloned().unwrap_or_default());
    entries
}

#[test]
fn six_workers_on_three_mounts_see_the_model_within_the_watch_delay() {
    let secs: u64 = std::env::var("COHERENCE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let etcd = Etcd::start(1);
    let blocks = tempfile::tempdir().unwrap();
    let meta = etcd.url("coherence");
    let homes: Vec<Home> = (0..MOUNTS)
        .map(|_| {
            let mut home = Home::new();
            home.env.push(("DATENLORD_META".into(), meta.clone()));
            home
        })
        .collect();
    let storage = format!("file://{}", blocks.path().display());
    homes[0].run_ok(&["format", "--storage", &storage, "shared"]);
    let options = || Options {
        ttl: Ttl {
            entry: Duration::from_secs(60),
            attr: Duration::from_secs(60),
        },
        ..Options::default()
    };
    let mounts: Vec<Mounted> = homes
        .into_iter()
        .map(|home| Mounted::in_home(home, options(), &[]))
        .collect();
    let history: History = Arc::default();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let outcomes: Vec<(usize, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let mount = mounts[w % MOUNTS].path().to_path_buf();
                let history = history.clone();
                scope.spawn(move || worker(w, &mount, history, t0, deadline))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let steps: usize = outcomes.iter().map(|(s, _)| s).sum();
    let (cut_races, violations): (Vec<&String>, Vec<&String>) = outcomes
        .iter()
        .flat_map(|(_, v)| v)
        .partition(|v| v.starts_with(CUT_RACE));
    eprintln!(
        "{steps} steps by {WORKERS} workers on {MOUNTS} mounts in {secs} s; {} reads torn by \
         a concurrent cut",
        cut_races.len()
    );
    assert!(
        steps > WORKERS * 10,
        "too few steps to tell anything: {steps}"
    );
    assert!(
        violations.is_empty(),
        "{} violations, the first: {:?}",
        violations.len(),
        violations.iter().take(5).collect::<Vec<_>>()
    );
}
