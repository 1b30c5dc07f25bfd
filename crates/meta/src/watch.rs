//! Changes other mounts make, as the metadata engine reports them, in the terms a mount's
//! kernel caches need: which inode's attributes or data, which directory entry.

use crate::engine::KvEngine;
use crate::keys;
use crate::meta::Meta;

/// One thing another mount changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// Attributes of the inode (mode, owner, times, size, link count, ACLs).
    Attr(u64),
    /// The inode's file data (and its attributes).
    Data(u64),
    /// The name `name` in directory `parent` appeared, went or points elsewhere.
    Entry {
        /// The directory's inode.
        parent: u64,
        /// The name in it.
        name: Vec<u8>,
    },
    /// Locks on the inode were taken or released.
    Lock(u64),
}

impl Change {
    /// What a changed key means to a kernel cache; `None` for bookkeeping keys.
    pub fn of_key(key: &[u8]) -> Option<Change> {
        let (&kind, rest) = key.split_first()?;
        let id = keys::u64_at(key, 1)?;
        match [kind].as_slice() {
            keys::ATTR_PREFIX | keys::XATTR_PREFIX | keys::DIR_TIMES_PREFIX => {
                Some(Change::Attr(id))
            }
            keys::CHUNK_PREFIX => Some(Change::Data(id)),
            keys::LOCK_PREFIX => Some(Change::Lock(id)),
            keys::ENTRY_PREFIX => Some(Change::Entry {
                parent: id,
                name: rest.get(8..)?.to_vec(),
            }),
            _ => None,
        }
    }
}

/// A stream of other mounts' changes.
#[derive(Debug)]
pub struct Watch {
    keys: crate::engine::Changes,
}

impl Watch {
    /// The next batch of changes (duplicates removed); `None` once the watch ended.
    pub async fn next(&mut self) -> Option<Vec<Change>> {
        let keys = self.keys.recv().await?;
        let mut changes: Vec<Change> = keys.iter().filter_map(|k| Change::of_key(k)).collect();
        changes.sort_by_key(|c| match c {
            Change::Data(ino) | Change::Attr(ino) | Change::Lock(ino) => (*ino, Vec::new()),
            Change::Entry { parent, name } => (*parent, name.clone()),
        });
        changes.dedup();
        Some(changes)
    }
}

impl Meta {
    /// Other mounts' changes, when the engine reports them (etcd); the embedded engine does
    /// not, and its mounts rely on the kernel cache timeouts.
    pub fn watch(&self) -> Option<Watch> {
        KvEngine::watch(&self.engine).map(|keys| Watch { keys })
    }

    /// Whether [`Meta::watch`] reports other mounts' changes.
    pub fn reports_changes(&self) -> bool {
        self.engine.reports_changes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_changes() {
        assert_eq!(Change::of_key(&keys::attr(5)), Some(Change::Attr(5)));
        assert_eq!(
            Change::of_key(&keys::xattr(5, b"user.a")),
            Some(Change::Attr(5))
        );
        assert_eq!(Change::of_key(&keys::dir_times(5)), Some(Change::Attr(5)));
        assert_eq!(Change::of_key(&keys::chunk(5, 2)), Some(Change::Data(5)));
        assert_eq!(
            Change::of_key(&keys::entry(1, b"name")),
            Some(Change::Entry {
                parent: 1,
                name: b"name".to_vec()
            })
        );
        assert_eq!(
            Change::of_key(&keys::lock(5, true, 2, 3)),
            Some(Change::Lock(5))
        );
        assert_eq!(Change::of_key(&keys::refs(5)), None);
        assert_eq!(Change::of_key(b"A"), None);
    }
}
