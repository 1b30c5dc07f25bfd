//! A transaction's writes, held until its commit (the engines with a server send them with
//! it): reads and scans see them.

use std::collections::BTreeMap;

use super::{KvError, Pair};

/// Buffered writes: `None` deletes.
#[derive(Debug)]
pub(crate) struct Writes {
    writable: bool,
    map: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Writes {
    /// No writes yet; `writable` false refuses every one (a read-only transaction).
    pub(crate) fn new(writable: bool) -> Self {
        Self {
            writable,
            map: BTreeMap::new(),
        }
    }

    fn writable(&self) -> Result<(), KvError> {
        match self.writable {
            true => Ok(()),
            false => Err(KvError::Engine("write in a read-only transaction".into())),
        }
    }

    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.writable()?;
        self.map.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.writable()?;
        self.map.insert(key.to_vec(), None);
        Ok(())
    }

    /// What the transaction wrote to `key`: `Some(None)` deleted it, `None` left it alone.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.map.get(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.map.keys().map(Vec::as_slice)
    }

    /// Every write, in key order, leaving none.
    pub(crate) fn take(&mut self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        std::mem::take(&mut self.map)
    }

    /// How many writes fall in `[start, end)`: deletes among them may hide that many of
    /// what a server returns for a scan, so it is asked for that many more.
    pub(crate) fn in_range(&self, start: &[u8], end: &[u8]) -> usize {
        self.map.range(start.to_vec()..end.to_vec()).count()
    }

    /// `fetched` (what the server holds in `[start, end)`, in any order) as this transaction
    /// sees it, its writes applied: the first `limit` pairs in key order.
    pub(crate) fn merge(
        &self,
        fetched: impl IntoIterator<Item = Pair>,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Vec<Pair> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = fetched.into_iter().collect();
        for (key, write) in self.map.range(start.to_vec()..end.to_vec()) {
            match write {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        merged.into_iter().take(limit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_see_the_writes_and_read_only_refuses_them() {
        let mut writes = Writes::new(true);
        writes.put(b"b", b"mine").unwrap();
        writes.delete(b"c").unwrap();
        writes.put(b"z", b"outside").unwrap();
        assert_eq!(writes.in_range(b"a", b"d"), 2);
        let fetched = vec![
            (b"c".to_vec(), b"3".to_vec()),
            (b"a".to_vec(), b"1".to_vec()),
        ];
        assert_eq!(
            writes.merge(fetched, b"a", b"d", 10),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"mine".to_vec())
            ]
        );
        assert!(Writes::new(false).put(b"k", b"v").is_err());
    }
}
