//! What the engines with a server share to report other clients' changes
//! ([`KvEngine::watch`](super::KvEngine::watch)): the list of a commit's keys as it travels
//! between clients, and the subscribers a process's one watch passes them on to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;

use super::Changes;

/// The keys of one commit as they travel: each as a 4-byte big-endian length and its bytes.
pub fn encode_keys<'a>(keys: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&key[..len as usize]);
    }
    out
}

/// The keys [`encode_keys`] wrote; `None` for bytes it cannot have written.
pub fn decode_keys(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let key = rest.get(..len)?;
        keys.push(key.to_vec());
        bytes = &rest[len..];
    }
    Some(keys)
}

/// Who asked for other clients' changes, and whether the watch that feeds them runs.
#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    list: Mutex<Vec<mpsc::Sender<Vec<Vec<u8>>>>>,
    watching: AtomicBool,
}

impl Subscribers {
    /// A new subscriber, and whether the caller must start the watch (none runs).
    pub(crate) fn subscribe(&self) -> (Changes, bool) {
        let (tx, rx) = mpsc::channel(1024);
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        (rx, !self.watching.swap(true, Ordering::AcqRel))
    }

    /// Passes `keys` on to every subscriber; false once none is left (the watch then ends).
    /// A subscriber that is behind is waited for: a change dropped would leave a kernel
    /// cache stale.
    pub(crate) async fn deliver(&self, keys: Vec<Vec<u8>>) -> bool {
        let subscribers: Vec<_> = {
            let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
            list.retain(|tx| !tx.is_closed());
            list.clone()
        };
        if subscribers.is_empty() {
            self.watching.store(false, Ordering::Release);
            return false;
        }
        if !keys.is_empty() {
            for tx in subscribers {
                let _ = tx.send(keys.clone()).await;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_round_trip() {
        let keys: Vec<Vec<u8>> = vec![b"a".to_vec(), Vec::new(), vec![0, 1, 2]];
        let bytes = encode_keys(keys.iter().map(Vec::as_slice));
        assert_eq!(decode_keys(&bytes), Some(keys));
        assert_eq!(decode_keys(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_keys(&[0, 0, 0]), None);
    }
}
