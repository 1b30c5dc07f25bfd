//! The metadata cache of an etcd engine: keys this process read or etcd's watch reported,
//! each with the revision it last changed at, kept current by the watch.
//!
//! The cache is *complete from `floor` to `revision`*: every change etcd made under the
//! prefix in `(floor, revision]` has updated its key's entry (the watch applies every event,
//! cached key or not). So an entry `(value, changed)` is the key's value at every revision
//! from `changed` to `revision`, and a key without an entry did not change in
//! `(floor, revision]`. A transaction whose snapshot `X` lies in `[floor, revision]` may read
//! an entry with `changed <= X`; what it reads from etcd at `X` may be added (a value, or
//! absence valid since `floor`) as long as nothing changed the key meanwhile.
//!
//! Memory is bounded by two generations: when the recent one fills half the budget, the
//! older one is dropped and the recent one takes its place. Dropping forgets what the
//! dropped keys went through, so `floor` moves up to `revision`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// What the cache says of a key at a snapshot: its value and modification revision, or
/// `None` when absent (the shape of a read from etcd).
pub(super) type Found = Option<(Vec<u8>, i64)>;

/// Bytes an entry costs beyond its key and value (map slot, allocation headers).
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug)]
pub(super) struct Cache {
    state: Mutex<State>,
    /// Woken whenever `revision` moves or the cache goes live.
    advanced: Notify,
    budget: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Whether the watch feeding the cache is up to date; a cache that is not live answers
    /// nothing and takes nothing in.
    live: bool,
    /// Every change up to here has been applied.
    revision: i64,
    /// Complete from here: a key without an entry did not change in `(floor, revision]`.
    floor: i64,
    recent: HashMap<Vec<u8>, Entry>,
    older: HashMap<Vec<u8>, Entry>,
    recent_bytes: usize,
    /// Key ranges no client had written by the revision given (keys named after ids this
    /// process had just taken): a key in one without an entry is absent since then.
    unused: Vec<(Vec<u8>, Vec<u8>, i64)>,
}

/// Ranges of unused keys kept (each batch of ids gives a few; older ones are long in use).
const UNUSED_RANGES: usize = 256;

#[derive(Debug, Clone)]
struct Entry {
    /// `None`: absent.
    value: Option<Vec<u8>>,
    /// The revision the key took this value at (for an absence read rather than reported,
    /// the cache's floor then).
    changed: i64,
}

impl Entry {
    fn bytes(key: &[u8], value: Option<&Vec<u8>>) -> usize {
        key.len() + value.map_or(0, Vec::len) + ENTRY_OVERHEAD
    }
}

/// One change the watch reported: the key's new value (`None`: deleted) at `revision`.
pub(super) struct Event {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub revision: i64,
}

impl Cache {
    pub(super) fn new(budget: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            advanced: Notify::new(),
            budget,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot at or after `needed`, waiting up to `patience` for the watch to get there;
    /// `None` when the cache is not live or the watch did not catch up in time.
    pub(super) async fn snapshot_from(&self, needed: i64, patience: Duration) -> Option<i64> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            {
                let state = self.state();
                if !state.live {
                    return None;
                }
                if state.revision >= needed {
                    return Some(state.revision);
                }
            }
            tokio::time::timeout_at(deadline, advanced).await.ok()?;
        }
    }

    /// The key as of snapshot `at`, when the cache knows it.
    pub(super) fn get(&self, key: &[u8], at: i64) -> Option<Found> {
        let mut state = self.state();
        if !state.live || at < state.floor || at > state.revision {
            return None;
        }
        let entry = match state.recent.get(key) {
            Some(entry) => entry.clone(),
            None => match state.older.remove(key) {
                Some(entry) => {
                    state.insert_recent(key.to_vec(), entry.clone(), self.budget);
                    entry
                }
                // No change since the range was known unused (the watch would have made an
                // entry): still absent.
                None => {
                    let floor = state.floor;
                    state
                        .unused
                        .iter()
                        .any(|(start, end, since)| {
                            *since >= floor
                                && *since <= at
                                && start.as_slice() <= key
                                && key < end.as_slice()
                        })
                        .then_some(())?;
                    return Some(None);
                }
            },
        };
        if entry.changed > at {
            return None;
        }
        Some(entry.value.map(|value| (value, entry.changed)))
    }

    /// Knows the keys in `ranges` (with prefix) to be absent from now on, but for what the
    /// watch reports: no client writes them before this process hands out their ids.
    pub(super) fn unused(&self, ranges: Vec<(Vec<u8>, Vec<u8>)>) {
        let mut state = self.state();
        if !state.live {
            return;
        }
        let since = state.revision;
        state
            .unused
            .extend(ranges.into_iter().map(|(start, end)| (start, end, since)));
        let excess = state.unused.len().saturating_sub(UNUSED_RANGES);
        state.unused.drain(..excess);
    }

    /// Takes in what a read at snapshot `at` found for `key` (etcd's answer, with the key's
    /// modification revision), unless the cache knows better.
    pub(super) fn read(&self, key: &[u8], found: &Found, at: i64) {
        let mut state = self.state();
        if !state.live || at < state.floor {
            return;
        }
        if let Some(entry) = state.entry_mut(key) {
            // An entry is the key's latest value as far as the watch got; a read at a later
            // snapshot may know of a change the watch has yet to report.
            if let Some((value, changed)) = found
                && *changed > entry.changed
            {
                *entry = Entry {
                    value: Some(value.clone()),
                    changed: *changed,
                };
            }
            return;
        }
        let entry = match found {
            Some((value, changed)) => Entry {
                value: Some(value.clone()),
                changed: *changed,
            },
            // Absent at `at`, and no change since `floor`: absent all along — but only if the
            // watch has reached `at` (a deletion after it may be on its way).
            None if at <= state.revision => Entry {
                value: None,
                changed: state.floor,
            },
            None => return,
        };
        state.insert_recent(key.to_vec(), entry, self.budget);
    }

    /// Applies changes the watch reported, through `revision` (at least the last event's);
    /// a paused cache takes them in too, so that it is complete when it resumes.
    pub(super) fn apply(&self, events: Vec<Event>, revision: i64) {
        let mut state = self.state();
        for event in events {
            match state.entry_mut(&event.key) {
                Some(entry) if entry.changed >= event.revision => {}
                Some(entry) => {
                    *entry = Entry {
                        value: event.value,
                        changed: event.revision,
                    };
                }
                None => {
                    let entry = Entry {
                        value: event.value,
                        changed: event.revision,
                    };
                    state.insert_recent(event.key, entry, self.budget);
                }
            }
        }
        state.revision = state.revision.max(revision);
        drop(state);
        self.advanced.notify_waiters();
    }

    /// Starts over, empty, complete from `revision` on (a watch that reports every change
    /// after it has started).
    pub(super) fn restart(&self, revision: i64) {
        let mut state = self.state();
        *state = State {
            live: true,
            revision,
            floor: revision,
            ..State::default()
        };
        drop(state);
        self.advanced.notify_waiters();
    }

    /// Stops answering until [`Cache::resume`]: the watch fell behind or was cut, so what
    /// the cache holds may be stale (it stays complete; the watch resumes where it was).
    pub(super) fn pause(&self) {
        self.state().live = false;
        self.advanced.notify_waiters();
    }

    /// Answers again once the resumed watch has caught up with `revision`.
    pub(super) fn resume(&self, revision: i64) {
        let mut state = self.state();
        state.revision = state.revision.max(revision);
        state.live = true;
        drop(state);
        self.advanced.notify_waiters();
    }

    /// Whether the cache answers.
    pub(super) fn is_live(&self) -> bool {
        self.state().live
    }

    /// The revision the watch got to (answering or not).
    pub(super) fn revision(&self) -> i64 {
        self.state().revision
    }
}

impl State {
    fn entry_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        match self.recent.get_mut(key) {
            Some(entry) => Some(entry),
            None => self.older.get_mut(key),
        }
    }

    /// Adds an entry for a key in neither generation.
    fn insert_recent(&mut self, key: Vec<u8>, entry: Entry, budget: usize) {
        let bytes = Entry::bytes(&key, entry.value.as_ref());
        if self.recent_bytes + bytes > budget / 2 && !self.recent.is_empty() {
            self.older = std::mem::take(&mut self.recent);
            self.recent_bytes = 0;
            self.floor = self.revision;
            self.unused.clear();
        }
        self.recent_bytes += bytes;
        self.recent.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &[u8], value: Option<&[u8]>, revision: i64) -> Event {
        Event {
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            revision,
        }
    }

    fn live_at(revision: i64) -> Cache {
        let cache = Cache::new(1 << 20);
        cache.restart(revision);
        cache
    }

    #[test]
    fn answers_nothing_until_live() {
        let cache = Cache::new(1 << 20);
        cache.read(b"k", &Some((b"v".to_vec(), 1)), 1);
        assert_eq!(cache.get(b"k", 1), None);
        assert!(!cache.is_live());
    }

    #[test]
    fn reads_and_events_give_values_from_the_revision_they_changed_at() {
        let cache = live_at(10);
        cache.read(b"a", &Some((b"1".to_vec(), 7)), 10);
        assert_eq!(cache.get(b"a", 10), Some(Some((b"1".to_vec(), 7))));
        cache.apply(vec![event(b"a", Some(b"2"), 12)], 12);
        assert_eq!(cache.get(b"a", 12), Some(Some((b"2".to_vec(), 12))));
        // A snapshot before the change cannot use the entry.
        assert_eq!(cache.get(b"a", 11), None);
        cache.apply(vec![event(b"a", None, 13)], 13);
        assert_eq!(cache.get(b"a", 13), Some(None));
    }

    #[test]
    fn an_absence_read_counts_from_the_floor() {
        let cache = live_at(10);
        cache.apply(vec![event(b"other", Some(b"x"), 11)], 11);
        cache.read(b"gone", &None, 11);
        assert_eq!(cache.get(b"gone", 10), Some(None));
        assert_eq!(cache.get(b"gone", 11), Some(None));
    }

    #[test]
    fn an_absence_read_past_the_watch_is_not_taken() {
        let cache = live_at(10);
        cache.read(b"k", &None, 15);
        assert_eq!(cache.get(b"k", 10), None);
    }

    #[test]
    fn a_read_does_not_undo_a_newer_event() {
        let cache = live_at(10);
        cache.apply(vec![event(b"k", Some(b"new"), 12)], 12);
        cache.read(b"k", &Some((b"old".to_vec(), 5)), 10);
        assert_eq!(cache.get(b"k", 12), Some(Some((b"new".to_vec(), 12))));
        cache.read(b"k", &None, 10);
        assert_eq!(cache.get(b"k", 12), Some(Some((b"new".to_vec(), 12))));
    }

    #[test]
    fn a_late_event_does_not_undo_a_newer_read() {
        let cache = live_at(10);
        // A fresh read saw revision 14 before the watch reported 12 and 14.
        cache.read(b"k", &Some((b"v14".to_vec(), 14)), 14);
        cache.apply(vec![event(b"k", Some(b"v12"), 12)], 12);
        assert_eq!(cache.get(b"k", 12), None);
        cache.apply(vec![event(b"k", Some(b"v14"), 14)], 14);
        assert_eq!(cache.get(b"k", 14), Some(Some((b"v14".to_vec(), 14))));
    }

    #[test]
    fn snapshots_outside_the_complete_span_are_refused() {
        let cache = live_at(10);
        cache.read(b"k", &Some((b"v".to_vec(), 3)), 10);
        assert_eq!(cache.get(b"k", 9), None);
        assert_eq!(cache.get(b"k", 11), None);
        cache.read(b"j", &Some((b"v".to_vec(), 3)), 9);
        cache.apply(Vec::new(), 11);
        assert_eq!(cache.get(b"j", 11), None);
    }

    #[test]
    fn filling_the_budget_drops_the_older_generation_and_raises_the_floor() {
        let cache = Cache::new(4 * (ENTRY_OVERHEAD + 2));
        cache.restart(1);
        cache.read(b"a", &Some((b"1".to_vec(), 1)), 1);
        cache.read(b"b", &Some((b"1".to_vec(), 1)), 1);
        cache.apply(Vec::new(), 5);
        // The recent generation is full: "c" pushes "a" and "b" to the older one.
        cache.read(b"c", &Some((b"1".to_vec(), 1)), 5);
        assert_eq!(cache.get(b"a", 5), Some(Some((b"1".to_vec(), 1))));
        // Reads at snapshots before the new floor are no longer taken.
        cache.read(b"d", &None, 4);
        assert_eq!(cache.get(b"d", 5), None);
        cache.read(b"e", &Some((b"1".to_vec(), 1)), 5);
        cache.read(b"f", &Some((b"1".to_vec(), 1)), 5);
        cache.read(b"g", &Some((b"1".to_vec(), 1)), 5);
        assert_eq!(cache.get(b"b", 5), None, "dropped with its generation");
    }

    #[test]
    fn keys_of_unused_ids_are_absent_until_the_watch_says_otherwise() {
        let cache = live_at(10);
        cache.unused(vec![(b"A1".to_vec(), b"A5".to_vec())]);
        assert_eq!(cache.get(b"A3", 10), Some(None));
        assert_eq!(cache.get(b"A5", 10), None, "past the range");
        assert_eq!(
            cache.get(b"A3", 9),
            None,
            "before the range was known unused"
        );
        cache.apply(vec![event(b"A3", Some(b"new"), 11)], 11);
        assert_eq!(cache.get(b"A3", 11), Some(Some((b"new".to_vec(), 11))));
        assert_eq!(cache.get(b"A4", 11), Some(None));
    }

    #[test]
    fn a_paused_cache_answers_nothing_and_resumes_complete() {
        let cache = live_at(10);
        cache.read(b"k", &Some((b"v".to_vec(), 3)), 10);
        cache.pause();
        assert_eq!(cache.get(b"k", 10), None);
        assert!(!cache.is_live());
        cache.resume(12);
        assert_eq!(cache.get(b"k", 12), Some(Some((b"v".to_vec(), 3))));
    }

    #[tokio::test]
    async fn a_snapshot_waits_for_the_watch() {
        let cache = std::sync::Arc::new(live_at(10));
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.snapshot_from(12, Duration::from_secs(5)).await })
        };
        tokio::task::yield_now().await;
        cache.apply(vec![event(b"k", Some(b"v"), 12)], 12);
        assert_eq!(waiter.await.unwrap(), Some(12));
        assert_eq!(
            cache.snapshot_from(13, Duration::from_millis(10)).await,
            None
        );
    }
}
