//! Listing a bucket in S3's order. S3 lists keys in byte order, which is not the order of a
//! directory walk: the key `a/b` (in directory `a`) sorts after `a-c` because `/` is 0x2f and
//! `-` 0x2d. Ordering each directory's entries by their name, with `/` appended for a
//! directory, makes a depth-first walk yield keys in exactly S3's order; a cursor (the last key
//! or common prefix returned) prunes every subtree that lies wholly before it, and the prefix
//! every subtree that lies beside it, so a page costs the directories on its path, not the
//! bucket.

use std::future::Future;
use std::pin::Pin;

/// One entry of a directory, as the walk needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// The entry's name.
    pub name: Vec<u8>,
    /// Its inode.
    pub ino: u64,
    /// It is a directory (its keys are `name/...`).
    pub dir: bool,
}

/// The namespace a listing walks.
pub trait Tree: Sync {
    /// An error reading the namespace.
    type Error: Send;

    /// The entries of directory `ino`, in any order.
    fn children(&self, ino: u64) -> impl Future<Output = Result<Vec<Child>, Self::Error>> + Send;

    /// Whether directory `ino` is an object itself (its key `.../name/`), given whether it
    /// has entries.
    fn dir_is_object(
        &self,
        ino: u64,
        empty: bool,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// Where a listing resumes: strictly after `key` and, when `past_prefix`, after every key that
/// starts with it (the common prefix last returned).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The last key or common prefix returned.
    pub key: Vec<u8>,
    /// `key` was a common prefix: everything under it was returned with it.
    pub past_prefix: bool,
}

impl Cursor {
    fn admits(&self, key: &[u8]) -> bool {
        key > self.key.as_slice() && !(self.past_prefix && key.starts_with(&self.key))
    }

    /// Every key starting with `start` lies at or before the cursor.
    fn excludes_all(&self, start: &[u8]) -> bool {
        (self.past_prefix && start.starts_with(&self.key))
            || (self.key.as_slice() > start && !self.key.starts_with(start))
    }

    /// The opaque continuation token of ListObjectsV2: one flag byte and the key, hex.
    pub fn to_token(&self) -> String {
        let mut token = String::with_capacity(2 + 2 * self.key.len());
        token.push(if self.past_prefix { 'p' } else { 'k' });
        for b in &self.key {
            token.push_str(&format!("{b:02x}"));
        }
        token
    }

    /// Parses a token of [`Cursor::to_token`]; `None` for anything else.
    pub fn from_token(token: &str) -> Option<Self> {
        let (flag, hex) = token.split_at_checked(1)?;
        let past_prefix = match flag {
            "p" => true,
            "k" => false,
            _ => return None,
        };
        if hex.len() % 2 != 0 || hex.len() > 2 * crate::key::MAX_KEY_LEN {
            return None;
        }
        let key = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Self { key, past_prefix })
    }

    /// The cursor of a v1 marker or a v2 start-after key: after `marker`, and after everything
    /// under it when, with a delimiter, the marker is itself a common prefix (the NextMarker of
    /// a page that ended on one).
    pub fn after_marker(marker: &[u8], prefix: &[u8], delimiter: Option<&[u8]>) -> Self {
        let past_prefix = match (marker.strip_prefix(prefix), delimiter) {
            (Some(rest), Some(d)) if !d.is_empty() => {
                find(rest, d).is_some_and(|at| at + d.len() == rest.len())
            }
            _ => false,
        };
        Self {
            key: marker.to_vec(),
            past_prefix,
        }
    }
}

/// What to list.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// Only keys starting with this.
    pub prefix: &'a [u8],
    /// Keys with this after the prefix are rolled up into one common prefix.
    pub delimiter: Option<&'a [u8]>,
    /// Resume after this.
    pub after: Cursor,
    /// At most this many keys and common prefixes together.
    pub max: usize,
}

/// A key found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key, relative to the bucket.
    pub key: Vec<u8>,
    /// The inode holding it.
    pub ino: u64,
    /// It is a directory object (`.../name/`).
    pub dir: bool,
}

/// One page of a listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Keys, in S3's order.
    pub keys: Vec<Listed>,
    /// Common prefixes, in S3's order.
    pub prefixes: Vec<Vec<u8>>,
    /// More follow: resume after this.
    pub next: Option<Cursor>,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

struct Walk<'q, T> {
    tree: &'q T,
    query: &'q Query<'q>,
    cursor: Cursor,
    page: Page,
}

/// Lists the bucket whose directory is `root`.
pub async fn list<T: Tree>(tree: &T, root: u64, query: &Query<'_>) -> Result<Page, T::Error> {
    if query.max == 0 {
        return Ok(Page::default());
    }
    let mut walk = Walk {
        tree,
        query,
        cursor: query.after.clone(),
        page: Page::default(),
    };
    walk.dir(root, Vec::new()).await?;
    Ok(walk.page)
}

impl<T: Tree> Walk<'_, T> {
    /// Walks the directory `ino` whose keys start with `base` (`""` for the bucket).
    fn dir(
        &mut self,
        ino: u64,
        base: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Flow, T::Error>> + Send + '_>> {
        Box::pin(async move {
            let mut children = self.tree.children(ino).await?;
            if !base.is_empty()
                && base.starts_with(self.query.prefix)
                && self.cursor.admits(&base)
                && self.tree.dir_is_object(ino, children.is_empty()).await?
                && self.offer(&base, ino, true) == Flow::Stop
            {
                return Ok(Flow::Stop);
            }
            let mut keyed: Vec<(Vec<u8>, Child)> = children
                .drain(..)
                .map(|child| {
                    let mut key = base.clone();
                    key.extend_from_slice(&child.name);
                    if child.dir {
                        key.push(b'/');
                    }
                    (key, child)
                })
                .collect();
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (key, child) in keyed {
                let prefix = self.query.prefix;
                if key.as_slice() > prefix && !key.starts_with(prefix) {
                    // Every later key lies past the prefix too.
                    return Ok(Flow::Stop);
                }
                if child.dir {
                    let relevant = key.starts_with(prefix) || prefix.starts_with(&key);
                    if !relevant || self.cursor.excludes_all(&key) {
                        continue;
                    }
                    if self.dir(child.ino, key).await? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                } else if self.cursor.admits(&key)
                    && key.starts_with(prefix)
                    && self.offer(&key, child.ino, false) == Flow::Stop
                {
                    return Ok(Flow::Stop);
                }
            }
            Ok(Flow::Go)
        })
    }

    /// A key in the prefix, after the cursor: a key of the page or its common prefix.
    fn offer(&mut self, key: &[u8], ino: u64, dir: bool) -> Flow {
        let query = self.query;
        let rolled = query.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            let rest = &key[query.prefix.len()..];
            find(rest, d).map(|at| key[..query.prefix.len() + at + d.len()].to_vec())
        });
        if self.page.keys.len() + self.page.prefixes.len() == query.max {
            self.page.next = Some(self.cursor.clone());
            return Flow::Stop;
        }
        match rolled {
            Some(common) => {
                self.cursor = Cursor {
                    key: common.clone(),
                    past_prefix: true,
                };
                self.page.prefixes.push(common);
            }
            None => {
                self.cursor = Cursor {
                    key: key.to_vec(),
                    past_prefix: false,
                };
                self.page.keys.push(Listed {
                    key: key.to_vec(),
                    ino,
                    dir,
                });
            }
        }
        Flow::Go
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// S3's listing semantics over a sorted list of every key: the model [`list`] is checked
/// against (tests and the fuzz target).
pub fn model(keys: &[Vec<u8>], query: &Query<'_>) -> Page {
    let mut page = Page::default();
    if query.max == 0 {
        return page;
    }
    let mut cursor = query.after.clone();
    let mut sorted = keys.to_vec();
    sorted.sort();
    for key in sorted {
        if !cursor.admits(&key) || !key.starts_with(query.prefix) {
            continue;
        }
        if page.keys.len() + page.prefixes.len() == query.max {
            page.next = Some(cursor);
            return page;
        }
        let rolled = query.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            let rest = &key[query.prefix.len()..];
            find(rest, d).map(|at| key[..query.prefix.len() + at + d.len()].to_vec())
        });
        match rolled {
            Some(common) => {
                cursor = Cursor {
                    key: common.clone(),
                    past_prefix: true,
                };
                page.prefixes.push(common);
            }
            None => {
                cursor = Cursor {
                    key: key.clone(),
                    past_prefix: false,
                };
                page.keys.push(Listed {
                    key,
                    ino: 0,
                    dir: false,
                });
            }
        }
    }
    page
}

/// An in-memory tree for tests and the fuzz target: paths of files and directories.
#[derive(Debug, Default)]
pub struct MemTree {
    /// Per inode (index): its children; inode 0 is the root.
    pub dirs: Vec<Vec<Child>>,
    /// Directories that are objects whatever their entries (made with `name/`).
    pub marked: Vec<bool>,
}

impl MemTree {
    /// A tree with only the root.
    pub fn new() -> Self {
        Self {
            dirs: vec![Vec::new()],
            marked: vec![false],
        }
    }

    /// Adds `name` under directory `parent` unless it is there; returns its inode.
    /// A file's inode is `u64::MAX` (files have no entries).
    pub fn add(&mut self, parent: u64, name: &[u8], dir: bool) -> Option<u64> {
        let entries = &self.dirs[parent as usize];
        if let Some(found) = entries.iter().find(|c| c.name == name) {
            return (found.dir == dir && dir).then_some(found.ino);
        }
        let ino = if dir {
            self.dirs.push(Vec::new());
            self.marked.push(false);
            self.dirs.len() as u64 - 1
        } else {
            u64::MAX
        };
        self.dirs[parent as usize].push(Child {
            name: name.to_vec(),
            ino,
            dir,
        });
        Some(ino)
    }

    /// Every key of the tree (directories that are objects as `name/`).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.collect(0, Vec::new(), &mut out);
        out
    }

    fn collect(&self, ino: u64, base: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let entries = &self.dirs[ino as usize];
        if !base.is_empty() && (self.marked[ino as usize] || entries.is_empty()) {
            out.push(base.clone());
        }
        for child in entries {
            let mut key = base.clone();
            key.extend_from_slice(&child.name);
            if child.dir {
                key.push(b'/');
                self.collect(child.ino, key, out);
            } else {
                out.push(key);
            }
        }
    }
}

impl Tree for MemTree {
    type Error = std::convert::Infallible;

    async fn children(&self, ino: u64) -> Result<Vec<Child>, Self::Error> {
        Ok(self.dirs[ino as usize].clone())
    }

    async fn dir_is_object(&self, ino: u64, empty: bool) -> Result<bool, Self::Error> {
        Ok(self.marked[ino as usize] || empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tree_of(paths: &[&str]) -> MemTree {
        let mut tree = MemTree::new();
        for path in paths {
            let (body, dir) = match path.strip_suffix('/') {
                Some(body) => (body, true),
                None => (*path, false),
            };
            let parts: Vec<&str> = body.split('/').collect();
            let mut at = 0;
            for (i, part) in parts.iter().enumerate() {
                let last = i + 1 == parts.len();
                at = tree.add(at, part.as_bytes(), !last || dir).unwrap();
            }
            if dir {
                tree.marked[at as usize] = true;
            }
        }
        tree
    }

    fn run(tree: &MemTree, query: &Query<'_>) -> Page {
        futures::executor::block_on(list(tree, 0, query)).unwrap()
    }

    fn keys(page: &Page) -> Vec<String> {
        page.keys
            .iter()
            .map(|l| String::from_utf8(l.key.clone()).unwrap())
            .collect()
    }

    fn query<'a>(prefix: &'a str, delimiter: Option<&'a str>, max: usize) -> Query<'a> {
        Query {
            prefix: prefix.as_bytes(),
            delimiter: delimiter.map(str::as_bytes),
            after: Cursor::default(),
            max,
        }
    }

    #[test]
    fn keys_come_in_byte_order_not_walk_order() {
        let tree = tree_of(&["a/b", "a-c", "a.d", "a0", "b/"]);
        let page = run(&tree, &query("", None, 100));
        assert_eq!(keys(&page), ["a-c", "a.d", "a/b", "a0", "b/"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn delimiters_roll_up_and_pages_resume() {
        let tree = tree_of(&[
            "x/1",
            "x/2",
            "y/1",
            "z",
            "photos/2026/jan.jpg",
            "photos/a.jpg",
        ]);
        let page = run(&tree, &query("", Some("/"), 100));
        assert_eq!(keys(&page), ["z"]);
        assert_eq!(
            page.prefixes,
            [b"photos/".to_vec(), b"x/".to_vec(), b"y/".to_vec()]
        );
        let page = run(&tree, &query("photos/", Some("/"), 100));
        assert_eq!(keys(&page), ["photos/a.jpg"]);
        assert_eq!(page.prefixes, [b"photos/2026/".to_vec()]);
        let first = run(&tree, &query("", Some("/"), 2));
        assert_eq!(first.prefixes.len(), 2);
        let next = first.next.clone().unwrap();
        assert_eq!(Cursor::from_token(&next.to_token()), Some(next.clone()));
        let mut again = query("", Some("/"), 2);
        again.after = next;
        let second = run(&tree, &again);
        assert_eq!(second.prefixes, [b"y/".to_vec()]);
        assert_eq!(keys(&second), ["z"]);
        assert_eq!(second.next, None);
    }

    #[test]
    fn markers_that_are_common_prefixes_skip_their_subtree() {
        let cursor = Cursor::after_marker(b"p/a/", b"p/", Some(b"/"));
        assert!(cursor.past_prefix);
        assert!(!Cursor::after_marker(b"p/a", b"p/", Some(b"/")).past_prefix);
        assert!(!Cursor::after_marker(b"p/a/", b"p/", None).past_prefix);
        assert_eq!(Cursor::from_token("zz"), None);
        assert_eq!(Cursor::from_token("k0"), None);
        assert_eq!(Cursor::from_token(""), None);
    }

    fn arb_paths() -> impl Strategy<Value = Vec<String>> {
        let segment = prop::sample::select(vec!["a", "a-", "a.", "a0", "b", "ab", "-", "a/"]);
        prop::collection::vec(prop::collection::vec(segment, 1..4), 0..24).prop_map(|paths| {
            paths
                .into_iter()
                .map(|segs| segs.concat())
                .filter(|p| !p.starts_with('/') && !p.contains("//"))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn pages_match_s3s_semantics(
            paths in arb_paths(),
            prefix in prop::sample::select(vec!["", "a", "a/", "a-", "a/a", "b"]),
            delimiter in prop::sample::select(vec![None, Some("/"), Some("-"), Some("a/")]),
            max in 1usize..5,
        ) {
            let mut tree = MemTree::new();
            for path in &paths {
                let (body, dir) = match path.strip_suffix('/') {
                    Some(body) => (body, true),
                    None => (path.as_str(), false),
                };
                let parts: Vec<&str> = body.split('/').collect();
                let mut at = Some(0);
                for (i, part) in parts.iter().enumerate() {
                    let last = i + 1 == parts.len();
                    at = at.and_then(|a| tree.add(a, part.as_bytes(), !last || dir));
                }
                if let (Some(at), true) = (at, dir) {
                    tree.marked[at as usize] = true;
                }
            }
            let all = tree.keys();
            let mut q = query(prefix, delimiter, max);
            loop {
                let got = run(&tree, &q);
                let want = model(&all, &q);
                prop_assert_eq!(&got.prefixes, &want.prefixes);
                let got_keys: Vec<_> = got.keys.iter().map(|l| l.key.clone()).collect();
                let want_keys: Vec<_> = want.keys.iter().map(|l| l.key.clone()).collect();
                prop_assert_eq!(got_keys, want_keys);
                prop_assert_eq!(&got.next, &want.next);
                match got.next {
                    Some(next) => q.after = next,
                    None => break,
                }
            }
        }
    }
}
