//! StorageClass parameters and the mutable parameters of a VolumeAttributesClass: what a CSI
//! volume may ask for, checked before anything is made.

use std::collections::{BTreeMap, HashMap};

use tonic::Status;

/// The quota's inode limit (0 or absent: none). Mutable.
pub const INODES: &str = "inodes";

/// Options of the mounts that serve the volume on nodes (`datenlord mount --KEY VALUE`);
/// mutable, and taken up by each node's next stage of the volume.
pub const MOUNT_OPTIONS: &[&str] = &[
    "cache-policy",
    "cache-size",
    "memory-cache-size",
    "readahead",
    "attr-timeout",
    "entry-timeout",
    "writeback-cache",
];

/// Keys the Kubernetes sidecars add of their own (`csi.storage.k8s.io/pv/name`, ...): not ours
/// to check or keep.
const SIDECAR_PREFIX: &str = "csi.storage.k8s.io/";

/// Every key a volume's parameters may hold.
fn known() -> impl Iterator<Item = &'static str> {
    std::iter::once(INODES).chain(MOUNT_OPTIONS.iter().copied())
}

/// The parameters of `given` a volume keeps, each checked; INVALID_ARGUMENT for an unknown key
/// or a value its key cannot take.
pub fn checked(given: &HashMap<String, String>) -> Result<BTreeMap<String, String>, Status> {
    let mut out = BTreeMap::new();
    for (key, value) in given {
        if key.starts_with(SIDECAR_PREFIX) {
            continue;
        }
        if !known().any(|k| k == key) {
            let known: Vec<_> = known().collect();
            return Err(Status::invalid_argument(format!(
                "unknown parameter {key:?} (DatenLord volumes take {})",
                known.join(", ")
            )));
        }
        check_value(key, value)
            .map_err(|why| Status::invalid_argument(format!("parameter {key}={value:?}: {why}")))?;
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

fn check_value(key: &str, value: &str) -> Result<(), &'static str> {
    match key {
        INODES => value
            .parse::<u64>()
            .map(drop)
            .map_err(|_| "expected a whole number of inodes"),
        "attr-timeout" | "entry-timeout" => match value.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(()),
            _ => Err("expected seconds, e.g. 1.5"),
        },
        "cache-policy" => value
            .parse::<datenlord_store::cache::Policy>()
            .map(drop)
            .map_err(|_| "expected auto, lru, mru or s3fifo"),
        "writeback-cache" => match value {
            "true" | "false" => Ok(()),
            _ => Err("expected true or false"),
        },
        _ => datenlord_vfs::parse_size(value)
            .map(drop)
            .map_err(|_| "expected a size, e.g. 512M, 20G or 1T"),
    }
}

/// The inode limit `parameters` set (0: none).
pub fn inode_limit(parameters: &BTreeMap<String, String>) -> u64 {
    parameters
        .get(INODES)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn known_parameters_are_kept_and_sidecar_ones_dropped() {
        let kept = checked(&map(&[
            ("inodes", "1000"),
            ("cache-size", "20G"),
            ("csi.storage.k8s.io/pv/name", "pvc-1"),
        ]))
        .unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(inode_limit(&kept), 1000);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_invalid_arguments() {
        for pairs in [
            [("XXX_FakeKey", "XXX_FakeValue")],
            [("inodes", "-1")],
            [("cache-size", "lots")],
            [("writeback-cache", "yes")],
            [("attr-timeout", "NaN")],
        ] {
            let err = checked(&map(&pairs)).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{pairs:?}");
        }
    }
}
