//! Hit ratio of a hot set while a scan runs beside it, per eviction policy: the figure issue 5
//! asks for. A cache of 1 000 blocks, a hot set of 500 read at random, and a sequential scan of
//! 10 000 distinct blocks (ten times the cache), each read in four requests, two scanned blocks
//! per hot read (`cache::scan_resistance`). Prints one line per policy.
//! `cargo bench -p datenlord-store --bench scan_resistance`

use datenlord_store::cache::{Policy, scan_resistance};

fn main() {
    println!("cache 1000 blocks, hot set 500 (random reads), scan of 10000 blocks (4 reads each)");
    println!(
        "{:<8} {:>14} {:>16}",
        "policy", "hot hit ratio", "scan hit ratio"
    );
    for policy in [Policy::Auto, Policy::Lru, Policy::Mru, Policy::S3Fifo] {
        let (hot, scan) = scan_resistance(policy, 1000, 500, 10_000);
        println!(
            "{:<8} {:>13.1}% {:>15.1}%",
            policy.to_string(),
            hot * 100.0,
            scan * 100.0
        );
    }
}
