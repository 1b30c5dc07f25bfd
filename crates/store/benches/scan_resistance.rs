//! Hit ratio of a hot set while a scan runs beside it, per eviction policy: the figure issue 5
//! asks for. A cache of 1 000 blocks, a hot set of 500 read at random, and a sequential scan of
//! 10 000 distinct blocks (ten times the cache), each read in four requests, two scanned blocks
//! per hot read. Prints one line per policy. `cargo bench -p datenlord-store --bench scan_resistance`

use std::collections::HashSet;

use datenlord_store::cache::{Access, Evictor, Policy};

fn run(policy: Policy, capacity: u64, hot: u64, scan: u64) -> (f64, f64) {
    let mut tier = Evictor::new(policy, capacity);
    let mut present = HashSet::new();
    let mut touch = |tier: &mut Evictor<u64>, key: u64, how: Access| -> bool {
        if tier.contains(&key) {
            tier.hit(&key, how);
            return true;
        }
        for gone in tier.insert(key, 1, how) {
            present.remove(&gone);
        }
        present.insert(key);
        false
    };
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..3 * hot {
        touch(&mut tier, next() % hot, Access::Random);
    }
    let (mut hot_hits, mut hot_reads, mut scan_hits, mut scan_reads) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..scan {
        for _ in 0..4 {
            scan_hits += u64::from(touch(&mut tier, 1_000_000 + i, Access::Sequential));
            scan_reads += 1;
        }
        if i % 2 == 0 {
            hot_hits += u64::from(touch(&mut tier, next() % hot, Access::Random));
            hot_reads += 1;
        }
    }
    (
        hot_hits as f64 / hot_reads as f64,
        scan_hits as f64 / scan_reads as f64,
    )
}

fn main() {
    println!("cache 1000 blocks, hot set 500 (random reads), scan of 10000 blocks (4 reads each)");
    println!(
        "{:<8} {:>14} {:>16}",
        "policy", "hot hit ratio", "scan hit ratio"
    );
    for policy in [Policy::Auto, Policy::Lru, Policy::Mru, Policy::S3Fifo] {
        let (hot, scan) = run(policy, 1000, 500, 10_000);
        println!(
            "{:<8} {:>13.1}% {:>15.1}%",
            policy.to_string(),
            hot * 100.0,
            scan * 100.0
        );
    }
}
