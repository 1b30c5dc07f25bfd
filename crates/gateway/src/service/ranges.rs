//! Byte ranges and positions of requests: copy-source ranges, parts of multipart objects,
//! Content-Range, the cursor after a v1 marker.

use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::list::Cursor;
use crate::object::Object;

/// Parses `x-amz-copy-source-range: bytes=FIRST-LAST` against a source of `size` bytes.
pub(super) fn copy_source_range(text: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first              and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = text
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.parse().map_err(|_| bad())?;
    let last: u64 = last.parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(first..last + 1)
}

/// The bytes of part `number` of an object (a single-part object is its one part).
pub(super) fn part_range(
    object: &Object,
    number: Option<i32>,
    size: u64,
) -> S3Result<std::ops::Range<u64>> {
    let Some(number) = number else {
        return Ok(0..size);
    };
    let parts = &object.record.parts;
    let count = parts.len().max(1);
    if number < 1 || number as usize > count {
        let mut err = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        err.set_status_code(hyper::StatusCode::RANGE_NOT_SATISFIABLE);
        return Err(err);
    }
    if parts.is_empty() {
        return Ok(0..size);
    }
    let start: u64 = parts[..number as usize - 1].iter().sum();
    Ok(start..start + parts[number as usize - 1])
}

/// Where a v1 listing (or a version listing) resumes after its marker.
pub(super) fn marker_cursor(marker: Option<&str>, prefix: &str, delimiter: Option<&str>) -> Cursor {
    match marker {
        Some(marker) => Cursor::after_marker(
            marker.as_bytes(),
            prefix.as_bytes(),
            delimiter.map(str::as_bytes),
        ),
        None => Cursor::default(),
    }
}

pub(super) fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{}", range.start, range.end - 1, size)
}
