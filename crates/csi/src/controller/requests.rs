//! What a Controller call asks for, checked: the capacity of a range, whether an existing
//! volume fits it, and the capabilities DatenLord volumes can be served with.

use tonic::Status;

use crate::pb;

/// The capacity a range asks for (0: no limit): the required bytes, else the limit.
pub(super) fn capacity(range: Option<&pb::CapacityRange>) -> Result<u64, Status> {
    let Some(range) = range else {
        return Ok(0);
    };
    let (Ok(required), Ok(limit)) = (
        u64::try_from(range.required_bytes),
        u64::try_from(range.limit_bytes),
    ) else {
        return Err(Status::invalid_argument(
            "capacity_range: bytes cannot be negative",
        ));
    };
    if limit != 0 && required > limit {
        return Err(Status::out_of_range(format!(
            "capacity_range: required_bytes {required} is above limit_bytes {limit}"
        )));
    }
    Ok(if required != 0 { required } else { limit })
}

/// Whether a volume of `existing` bytes (0: no limit) answers `range`.
pub(super) fn fits(existing: u64, range: Option<&pb::CapacityRange>) -> bool {
    let (required, limit) = range.map_or((0, 0), |r| {
        (
            u64::try_from(r.required_bytes).unwrap_or(0),
            u64::try_from(r.limit_bytes).unwrap_or(0),
        )
    });
    if required == 0 && limit == 0 {
        return true;
    }
    existing != 0 && existing >= required && (limit == 0 || existing <= limit)
}

/// Why a capability cannot be served, if it cannot: DatenLord volumes are filesystems, in any
/// access mode (every node mounts the same namespace).
pub(super) fn unsupported(capability: &pb::VolumeCapability) -> Option<String> {
    use pb::volume_capability::AccessType;
    match &capability.access_type {
        Some(AccessType::Mount(mount)) => {
            if !matches!(
                mount.fs_type.as_str(),
                "" | "datenlord" | "fuse" | "fuse.datenlord"
            ) {
                return Some(format!(
                    "fs_type {:?}: DatenLord volumes are DatenLord filesystems (leave it empty)",
                    mount.fs_type
                ));
            }
        }
        Some(AccessType::Block(_)) => {
            return Some("block volumes are not served: DatenLord volumes are filesystems".into());
        }
        None => return Some("a capability needs an access type (mount)".into()),
    }
    match capability.access_mode.as_ref().map(|m| m.mode) {
        Some(mode) if mode != pb::volume_capability::access_mode::Mode::Unknown as i32 => None,
        _ => Some("a capability needs an access mode".into()),
    }
}

/// INVALID_ARGUMENT unless `capabilities` are given and every one can be served.
pub(super) fn check_capabilities(capabilities: &[pb::VolumeCapability]) -> Result<(), Status> {
    if capabilities.is_empty() {
        return Err(Status::invalid_argument("volume_capabilities is required"));
    }
    match capabilities.iter().find_map(unsupported) {
        Some(why) => Err(Status::invalid_argument(why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(required: i64, limit: i64) -> pb::CapacityRange {
        pb::CapacityRange {
            required_bytes: required,
            limit_bytes: limit,
        }
    }

    #[test]
    fn capacity_is_the_required_bytes_else_the_limit() {
        assert_eq!(capacity(None).unwrap(), 0);
        assert_eq!(capacity(Some(&range(10, 0))).unwrap(), 10);
        assert_eq!(capacity(Some(&range(0, 20))).unwrap(), 20);
        assert_eq!(capacity(Some(&range(10, 20))).unwrap(), 10);
        assert_eq!(
            capacity(Some(&range(30, 20))).unwrap_err().code(),
            tonic::Code::OutOfRange
        );
        assert_eq!(
            capacity(Some(&range(-1, 0))).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn an_existing_volume_fits_a_range_it_lies_in() {
        assert!(fits(10, None));
        assert!(fits(10, Some(&range(10, 10))));
        assert!(fits(20, Some(&range(10, 0))));
        assert!(!fits(10, Some(&range(20, 20))));
        assert!(!fits(20, Some(&range(10, 15))));
        assert!(!fits(0, Some(&range(10, 0))));
    }
}
