//! The checksums a PUT or a part sends, as headers or announced as trailers.

use s3s::dto::*;

use crate::object::ALGORITHMS;

/// Which checksum algorithms a PUT asks for: headers sent, `x-amz-trailer` announced, or
/// `x-amz-sdk-checksum-algorithm` named.
pub(super) fn algorithms(headers: &hyper::HeaderMap, sent: &Checksum) -> [bool; 5] {
    let named = |header: &str| {
        headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let trailer = named("x-amz-trailer");
    let sdk = named("x-amz-sdk-checksum-algorithm");
    let present = [
        sent.checksum_crc32.is_some(),
        sent.checksum_crc32c.is_some(),
        sent.checksum_sha1.is_some(),
        sent.checksum_sha256.is_some(),
        sent.checksum_crc64nvme.is_some(),
    ];
    let mut out = [false; 5];
    for (i, name) in ALGORITHMS.iter().enumerate() {
        let header = format!("x-amz-checksum-{name}");
        out[i] = present[i] || trailer.split(',').any(|t| t.trim() == header) || sdk == *name;
    }
    out
}

/// The checksums of a PUT or a part, as headers sent them, and the algorithms to compute.
pub(super) fn sent_checksums(
    headers: &hyper::HeaderMap,
    crc32: Option<String>,
    crc32c: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    crc64nvme: Option<String>,
) -> (Checksum, [bool; 5]) {
    let sent = Checksum {
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_crc64nvme: crc64nvme,
        ..Checksum::default()
    };
    let algorithms = algorithms(headers, &sent);
    (sent, algorithms)
}
