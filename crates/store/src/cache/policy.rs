//! Eviction policies: which cached block goes when a tier is full.
//!
//! A tier keeps its entries' bytes; the [`Evictor`] keeps their order. Every insertion and hit
//! says how the block was reached ([`Access`]): the default policy ([`Policy::Auto`]) keeps
//! blocks reached by random access in recency order and puts blocks of sequential scans in a
//! FIFO of their own, capped at a fifth of the tier, so a scan many times the cache's size
//! flushes only itself. LRU and MRU ignore the hint; S3-FIFO counts only random-access hits
//! as reuse, because a scan reads each block in many requests.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// How a tier chooses what to evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Recency for random access; scans in a bounded FIFO of their own.
    #[default]
    Auto,
    /// Least recently used goes first.
    Lru,
    /// Most recently used goes first: keeps a stable part of a cyclic scan larger than the cache.
    Mru,
    /// S3-FIFO (Yang et al., SOSP '23): a small probation FIFO, a main FIFO with reinsertion of
    /// re-used blocks, and a ghost list of recently evicted keys.
    S3Fifo,
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "lru" => Ok(Self::Lru),
            "mru" => Ok(Self::Mru),
            "s3fifo" | "s3-fifo" => Ok(Self::S3Fifo),
            _ => Err(format!(
                "unknown cache policy {text:?} (auto, lru, mru or s3fifo)"
            )),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Lru => "lru",
            Self::Mru => "mru",
            Self::S3Fifo => "s3fifo",
        })
    }
}

/// How a block was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A reader jumping around a file, or a file too short to tell.
    Random,
    /// A reader streaming through a file (or read-ahead on its behalf).
    Sequential,
}

/// The share of a tier that scans ([`Policy::Auto`]) or probation (S3-FIFO) may fill.
const PROBATION_SHARE: u64 = 5;
/// S3-FIFO's main queue reinserts a block at most this many times without a new hit.
const MAX_FREQ: u8 = 3;

const NIL: usize = usize::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Main,
    Probation,
}

#[derive(Debug)]
struct Node<K> {
    key: K,
    weight: u64,
    queue: Queue,
    freq: u8,
    prev: usize,
    next: usize,
}

/// Two intrusive doubly linked lists over one slab: head is the newest end.
#[derive(Debug)]
struct Lists<K> {
    nodes: Vec<Node<K>>,
    free: Vec<usize>,
    heads: [usize; 2],
    tails: [usize; 2],
    weights: [u64; 2],
}

impl<K: Copy> Lists<K> {
    fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: Vec::new(),
            heads: [NIL; 2],
            tails: [NIL; 2],
            weights: [0; 2],
        }
    }

    fn slot(queue: Queue) -> usize {
        match queue {
            Queue::Main => 0,
            Queue::Probation => 1,
        }
    }

    fn push_head(&mut self, key: K, weight: u64, queue: Queue, freq: u8) -> usize {
        let q = Self::slot(queue);
        let node = Node {
            key,
            weight,
            queue,
            freq,
            prev: NIL,
            next: self.heads[q],
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        match self.heads[q] {
            NIL => self.tails[q] = id,
            old => self.nodes[old].prev = id,
        }
        self.heads[q] = id;
        self.weights[q] += weight;
        id
    }

    /// Takes `id` out of its list; its slot is free for the next push.
    fn unlink(&mut self, id: usize) -> (K, u64, u8) {
        let Node {
            key,
            weight,
            queue,
            freq,
            prev,
            next,
        } = self.nodes[id];
        let q = Self::slot(queue);
        match prev {
            NIL => self.heads[q] = next,
            p => self.nodes[p].next = next,
        }
        match next {
            NIL => self.tails[q] = prev,
            n => self.nodes[n].prev = prev,
        }
        self.weights[q] -= weight;
        self.free.push(id);
        (key, weight, freq)
    }

    fn head(&self, queue: Queue) -> Option<usize> {
        Some(self.heads[Self::slot(queue)]).filter(|&id| id != NIL)
    }

    fn tail(&self, queue: Queue) -> Option<usize> {
        Some(self.tails[Self::slot(queue)]).filter(|&id| id != NIL)
    }

    fn weight(&self, queue: Queue) -> u64 {
        self.weights[Self::slot(queue)]
    }
}

/// The eviction order of one tier, weighted by bytes.
#[derive(Debug)]
pub struct Evictor<K> {
    policy: Policy,
    capacity: u64,
    index: HashMap<K, usize>,
    lists: Lists<K>,
    /// S3-FIFO: keys evicted from probation, oldest first, remembered up to the main queue's
    /// entry count.
    ghosts: VecDeque<K>,
    ghost_set: HashSet<K>,
}

impl<K: Copy + Eq + Hash> Evictor<K> {
    /// An empty order for a tier of `capacity` bytes.
    pub fn new(policy: Policy, capacity: u64) -> Self {
        Self {
            policy,
            capacity,
            index: HashMap::new(),
            lists: Lists::new(),
            ghosts: VecDeque::new(),
            ghost_set: HashSet::new(),
        }
    }

    /// Bytes the tier may hold.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes of the entries held.
    pub fn used(&self) -> u64 {
        self.lists.weight(Queue::Main) + self.lists.weight(Queue::Probation)
    }

    /// Entries held (ghosts not counted).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `key` is held (a ghost is not).
    pub fn contains(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    /// Records a new entry and returns the keys evicted to make room for it; an entry larger
    /// than the whole tier is not kept (it is returned itself). A key already present is
    /// counted as a hit.
    pub fn insert(&mut self, key: K, weight: u64, access: Access) -> Vec<K> {
        if self.index.contains_key(&key) {
            self.hit(&key, access);
            return Vec::new();
        }
        if weight > self.capacity {
            return vec![key];
        }
        let mut evicted = Vec::new();
        while self.used() + weight > self.capacity {
            match self.evict_one() {
                Some(victim) => evicted.push(victim),
                None => break,
            }
        }
        let queue = match self.policy {
            Policy::Lru | Policy::Mru => Queue::Main,
            Policy::Auto => match access {
                Access::Random => Queue::Main,
                Access::Sequential => Queue::Probation,
            },
            Policy::S3Fifo => {
                if self.ghost_set.remove(&key) {
                    Queue::Main
                } else {
                    Queue::Probation
                }
            }
        };
        let id = self.lists.push_head(key, weight, queue, 0);
        self.index.insert(key, id);
        evicted
    }

    /// Records a use of `key`.
    pub fn hit(&mut self, key: &K, access: Access) {
        let Some(&id) = self.index.get(key) else {
            return;
        };
        match self.policy {
            Policy::Lru | Policy::Mru => self.move_to_head(id, Queue::Main),
            Policy::Auto => {
                let node = &self.lists.nodes[id];
                // A scan reads each block in many requests: only a random access proves a
                // scanned block is wanted again.
                if node.queue == Queue::Main || access == Access::Random {
                    self.move_to_head(id, Queue::Main);
                }
            }
            // The requests of one scan through a block are one use, not reuse.
            Policy::S3Fifo if access == Access::Random => {
                let node = &mut self.lists.nodes[id];
                node.freq = (node.freq + 1).min(MAX_FREQ);
            }
            Policy::S3Fifo => {}
        }
    }

    /// Forgets `key`; true if it was held.
    pub fn remove(&mut self, key: &K) -> bool {
        match self.index.remove(key) {
            Some(id) => {
                self.lists.unlink(id);
                true
            }
            None => false,
        }
    }

    /// Evicts entries until the tier holds at most `target` bytes.
    pub fn shrink_to(&mut self, target: u64) -> Vec<K> {
        let mut evicted = Vec::new();
        while self.used() > target {
            match self.evict_one() {
                Some(victim) => evicted.push(victim),
                None => break,
            }
        }
        evicted
    }

    fn move_to_head(&mut self, id: usize, queue: Queue) {
        let (key, weight, freq) = self.lists.unlink(id);
        let new = self.lists.push_head(key, weight, queue, freq);
        self.index.insert(key, new);
    }

    fn probation_full(&self) -> bool {
        self.lists.weight(Queue::Probation) > self.capacity / PROBATION_SHARE
            || self.lists.head(Queue::Main).is_none()
    }

    fn evict_one(&mut self) -> Option<K> {
        let victim = match self.policy {
            Policy::Lru => self.lists.tail(Queue::Main)?,
            Policy::Mru => self.lists.head(Queue::Main)?,
            Policy::Auto => match self.probation_full() {
                true => self.lists.tail(Queue::Probation)?,
                false => self.lists.tail(Queue::Main)?,
            },
            Policy::S3Fifo => return self.evict_s3fifo(),
        };
        let (key, ..) = self.lists.unlink(victim);
        self.index.remove(&key);
        Some(key)
    }

    fn evict_s3fifo(&mut self) -> Option<K> {
        loop {
            if self.probation_full() {
                let id = self.lists.tail(Queue::Probation)?;
                let (key, weight, freq) = self.lists.unlink(id);
                if freq > 0 {
                    let new = self.lists.push_head(key, weight, Queue::Main, 0);
                    self.index.insert(key, new);
                    continue;
                }
                self.index.remove(&key);
                self.remember(key);
                return Some(key);
            }
            let id = self.lists.tail(Queue::Main)?;
            let (key, weight, freq) = self.lists.unlink(id);
            if freq > 0 {
                let new = self.lists.push_head(key, weight, Queue::Main, freq - 1);
                self.index.insert(key, new);
                continue;
            }
            self.index.remove(&key);
            return Some(key);
        }
    }

    fn remember(&mut self, key: K) {
        if self.ghost_set.insert(key) {
            self.ghosts.push_back(key);
        }
        let limit = self.index.len().max(16);
        while self.ghosts.len() > limit {
            if let Some(old) = self.ghosts.pop_front() {
                self.ghost_set.remove(&old);
            }
        }
    }
}

/// The hit ratios of a hot set and of a scan beside it, in a tier of `capacity` one-byte
/// blocks: `hot` blocks read at random (after a warm-up of three reads each), then `scan`
/// distinct blocks read in turn, four requests each, with one hot read for every two scanned
/// blocks. What `benches/scan_resistance.rs` prints and the tests hold the policies to.
pub fn scan_resistance(policy: Policy, capacity: u64, hot: u64, scan: u64) -> (f64, f64) {
    let mut tier = Evictor::new(policy, capacity);
    let mut touch = |key: u64, how: Access| -> bool {
        if tier.contains(&key) {
            tier.hit(&key, how);
            return true;
        }
        tier.insert(key, 1, how);
        false
    };
    // xorshift64: the same "random" hot reads on every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next_hot = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % hot.max(1)
    };
    for _ in 0..3 * hot {
        touch(next_hot(), Access::Random);
    }
    let (mut hot_hits, mut hot_reads, mut scan_hits, mut scan_reads) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..scan {
        for _ in 0..4 {
            scan_hits += u64::from(touch(u64::MAX - i, Access::Sequential));
            scan_reads += 1;
        }
        if i % 2 == 0 {
            hot_hits += u64::from(touch(next_hot(), Access::Random));
            hot_reads += 1;
        }
    }
    (
        hot_hits as f64 / hot_reads.max(1) as f64,
        scan_hits as f64 / scan_reads.max(1) as f64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_ten_times_the_cache_spares_the_hot_set() {
        for policy in [Policy::Auto, Policy::S3Fifo] {
            let ratio = scan_resistance(policy, 1000, 500, 10_000).0;
            assert!(ratio > 0.9, "{policy}: hot hit ratio {ratio}");
        }
        // LRU is the baseline that the others must beat: a scan flushes it.
        let lru = scan_resistance(Policy::Lru, 1000, 500, 10_000).0;
        assert!(lru < 0.9, "lru: {lru}");
    }

    #[test]
    fn lru_evicts_the_least_recent_and_mru_the_most_recent() {
        let mut lru = Evictor::new(Policy::Lru, 3);
        let mut mru = Evictor::new(Policy::Mru, 3);
        for tier in [&mut lru, &mut mru] {
            for key in 1..=3 {
                assert!(tier.insert(key, 1, Access::Random).is_empty());
            }
            tier.hit(&1, Access::Random);
        }
        assert_eq!(lru.insert(4, 1, Access::Random), vec![2]);
        assert_eq!(mru.insert(4, 1, Access::Random), vec![1]);
    }

    #[test]
    fn mru_keeps_part_of_a_cyclic_scan_larger_than_the_cache() {
        let mut tier = Evictor::new(Policy::Mru, 100);
        let mut hits = 0;
        for _ in 0..5 {
            for key in 0..150u64 {
                if tier.contains(&key) {
                    tier.hit(&key, Access::Sequential);
                    hits += 1;
                } else {
                    tier.insert(key, 1, Access::Sequential);
                }
            }
        }
        assert!(hits > 250, "{hits}");
    }

    #[test]
    fn weights_are_bytes_and_oversized_entries_are_refused() {
        let mut tier = Evictor::new(Policy::Auto, 10);
        assert!(tier.insert(1, 4, Access::Random).is_empty());
        assert!(tier.insert(2, 4, Access::Random).is_empty());
        assert_eq!(tier.insert(3, 4, Access::Random), vec![1]);
        assert_eq!(tier.used(), 8);
        assert_eq!(tier.insert(9, 11, Access::Random), vec![9]);
        assert!(!tier.contains(&9));
        assert!(tier.remove(&2));
        assert_eq!(tier.used(), 4);
        assert_eq!(tier.shrink_to(0), vec![3]);
        assert!(tier.is_empty());
    }

    #[test]
    fn s3fifo_promotes_reused_probation_entries_and_remembers_ghosts() {
        let mut tier = Evictor::new(Policy::S3Fifo, 10);
        for key in 0..10 {
            tier.insert(key, 1, Access::Random);
        }
        tier.hit(&0, Access::Random);
        // Key 0 was used again: it moves to main instead of being evicted.
        let evicted = tier.insert(10, 1, Access::Random);
        assert_eq!(evicted, vec![1]);
        assert!(tier.contains(&0));
        // A ghost coming back goes straight to main.
        tier.insert(1, 1, Access::Random);
        let id = tier.index[&1];
        assert_eq!(tier.lists.nodes[id].queue, Queue::Main);
    }

    #[test]
    fn policies_parse_and_print() {
        for policy in [Policy::Auto, Policy::Lru, Policy::Mru, Policy::S3Fifo] {
            assert_eq!(policy.to_string().parse::<Policy>().unwrap(), policy);
        }
        assert!("fifo".parse::<Policy>().is_err());
    }
}
