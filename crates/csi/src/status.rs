//! The gRPC codes the CSI spec asks for, from the errors of the metadata engine.

use datenlord_meta::MetaError;
use datenlord_meta::engine::KvError;
use tonic::Status;

/// `err`, met while doing `what`, as the status a CO acts on: a missing name is NOT_FOUND, a
/// taken one ALREADY_EXISTS, a full quota or store RESOURCE_EXHAUSTED, an engine that does
/// not answer UNAVAILABLE (the CO retries), anything else INTERNAL.
pub(crate) fn meta_status(what: &str, err: &MetaError) -> Status {
    let message = format!("{what}: {err}");
    match err {
        MetaError::Kv(KvError::Unavailable(_) | KvError::Conflict) => Status::unavailable(message),
        MetaError::Kv(KvError::Open { reason, .. }) => {
            Status::unavailable(format!("{what}: cannot open the metadata store: {reason}"))
        }
        MetaError::Refused(_) => Status::failed_precondition(message),
        _ => match err.errno() {
            libc::ENOENT => Status::not_found(message),
            libc::EEXIST => Status::already_exists(message),
            libc::EDQUOT | libc::ENOSPC => Status::resource_exhausted(message),
            libc::EINVAL | libc::ENAMETOOLONG => Status::invalid_argument(message),
            libc::EROFS => Status::failed_precondition(message),
            _ => Status::internal(message),
        },
    }
}

/// INVALID_ARGUMENT unless `value` is set.
pub(crate) fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{field} is required")));
    }
    Ok(value)
}
