//! The consistent-hash ring of a cache group: each member holds many points (virtual nodes)
//! on a 64-bit circle, and a block belongs to the first members clockwise from its hash.
//! Adding or removing one of N members moves about 1/N of the blocks.

use crate::cache::BlockKey;

/// Points per member: enough for an even spread (a few percent) over a handful of members.
pub const VIRTUAL_NODES: usize = 128;

/// splitmix64's finaliser: a cheap, well-mixed 64-bit hash of a 64-bit value.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of a member's name, stable across runs and machines.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn key_hash(key: BlockKey) -> u64 {
    mix(mix(key.object) ^ key.index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Members and their points.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    members: Vec<String>,
    /// (point, member index), sorted by point.
    points: Vec<(u64, usize)>,
}

impl Ring {
    /// The ring of `members` (addresses; duplicates count once, order does not matter).
    pub fn new(mut members: Vec<String>) -> Self {
        members.sort();
        members.dedup();
        let mut points: Vec<(u64, usize)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, name)| {
                let base = name_hash(name);
                (0..VIRTUAL_NODES as u64).map(move |v| (mix(base ^ mix(v)), i))
            })
            .collect();
        points.sort_unstable();
        Self { members, points }
    }

    /// The members, sorted.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// Whether there is no member (every block then comes from the object store).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The `replicas` distinct members that own `key`, in the order to ask them.
    pub fn owners(&self, key: BlockKey, replicas: usize) -> Vec<&str> {
        let wanted = replicas.min(self.members.len());
        let mut owners: Vec<usize> = Vec::with_capacity(wanted);
        if wanted == 0 {
            return Vec::new();
        }
        let hash = key_hash(key);
        let start = self.points.partition_point(|(p, _)| *p < hash);
        for step in 0..self.points.len() {
            let (_, member) = self.points[(start + step) % self.points.len()];
            if !owners.contains(&member) {
                owners.push(member);
                if owners.len() == wanted {
                    break;
                }
            }
        }
        owners.iter().map(|&i| self.members[i].as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> impl Iterator<Item = BlockKey> {
        (0..20_000u64).map(|i| BlockKey {
            object: i / 4 + 1000,
            index: i % 4,
        })
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("127.0.0.{}:7070", i + 2)).collect()
    }

    #[test]
    fn blocks_spread_evenly() {
        let ring = Ring::new(names(3));
        let mut counts = std::collections::HashMap::new();
        for key in keys() {
            *counts.entry(ring.owners(key, 1)[0]).or_insert(0) += 1;
        }
        for (member, count) in counts {
            assert!((5_000..8_400).contains(&count), "{member}: {count}");
        }
    }

    #[test]
    fn a_join_or_a_leave_moves_about_one_nth() {
        let three = Ring::new(names(3));
        let four = Ring::new(names(4));
        let joined = &names(4)[3];
        let mut moved = 0;
        for key in keys() {
            let (before, after) = (three.owners(key, 1)[0], four.owners(key, 1)[0]);
            if before != after {
                assert_eq!(after, joined, "a block moved between old members");
                moved += 1;
            }
        }
        // A quarter of 20 000, give or take the spread.
        assert!((3_800..6_300).contains(&moved), "{moved} moved");
    }

    #[test]
    fn replicas_are_distinct_and_the_order_is_stable() {
        let ring = Ring::new(names(3));
        let shuffled = Ring::new(names(3).into_iter().rev().collect());
        for key in keys().take(100) {
            let owners = ring.owners(key, 2);
            assert_eq!(owners.len(), 2);
            assert_ne!(owners[0], owners[1]);
            assert_eq!(owners, shuffled.owners(key, 2));
            assert_eq!(ring.owners(key, 5).len(), 3);
        }
        assert!(
            Ring::new(Vec::new())
                .owners(keys().next().unwrap(), 1)
                .is_empty()
        );
    }
}
