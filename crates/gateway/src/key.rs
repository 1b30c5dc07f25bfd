//! Object keys as paths. A key `a/b/c` is the file `c` in the directories `a/b` of its bucket;
//! a key ending in `/` names a directory (a zero-byte "folder" object). A key that no path can
//! hold is refused here, before the namespace sees it, with the S3 error for it.

use s3s::{S3Error, S3ErrorCode};

/// S3's limit on a key's length, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The longest name a directory entry can have (NAME_MAX).
pub const MAX_SEGMENT_LEN: usize = 255;

/// A key mapped onto the namespace: the names from the bucket down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath<'a> {
    /// The names of the path, in order; never empty.
    pub segments: Vec<&'a [u8]>,
    /// The key ends with `/`: it names a directory.
    pub directory: bool,
}

impl<'a> KeyPath<'a> {
    /// The key again, as text (a key is UTF-8).
    pub fn text(&self) -> String {
        let mut key = String::from_utf8_lossy(&self.segments.join(&b'/')).into_owned();
        if self.directory {
            key.push('/');
        }
        key
    }

    /// The last name (the file or directory itself).
    pub fn name(&self) -> &'a [u8] {
        self.segments[self.segments.len() - 1]
    }

    /// The names of the directories above it.
    pub fn parents(&self) -> &[&'a [u8]] {
        &self.segments[..self.segments.len() - 1]
    }
}

/// Why a key cannot be a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Empty keys name nothing.
    #[error("the object key is empty")]
    Empty,
    /// Longer than S3 allows.
    #[error("the object key is {0} bytes; S3 allows at most 1024")]
    TooLong(usize),
    /// One name of the path is longer than a directory entry can be.
    #[error("a name in the object key is {0} bytes; a path segment holds at most 255")]
    SegmentTooLong(usize),
    /// `a//b`, `/a`, or `a//`: a path has no empty names.
    #[error("the object key has an empty path segment (a leading '/' or '//')")]
    EmptySegment,
    /// `.` and `..` are not names a file can have.
    #[error("the object key has a '.' or '..' path segment")]
    DotSegment,
    /// A NUL byte cannot be in a name.
    #[error("the object key contains a NUL byte")]
    Nul,
}

impl From<KeyError> for S3Error {
    fn from(err: KeyError) -> Self {
        let code = match err {
            KeyError::TooLong(_) | KeyError::SegmentTooLong(_) => S3ErrorCode::KeyTooLongError,
            _ => S3ErrorCode::InvalidArgument,
        };
        S3Error::with_message(code, err.to_string())
    }
}

/// Maps `key` onto a path.
pub fn parse(key: &str) -> Result<KeyPath<'_>, KeyError> {
    let bytes = key.as_bytes();
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    if bytes.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong(bytes.len()));
    }
    let (body, directory) = match bytes.strip_suffix(b"/") {
        Some(body) => (body, true),
        None => (bytes, false),
    };
    let mut segments = Vec::new();
    for segment in body.split(|&b| b == b'/') {
        check_segment(segment)?;
        segments.push(segment);
    }
    Ok(KeyPath {
        segments,
        directory,
    })
}

fn check_segment(segment: &[u8]) -> Result<(), KeyError> {
    match segment {
        b"" => Err(KeyError::EmptySegment),
        b"." | b".." => Err(KeyError::DotSegment),
        s if s.len() > MAX_SEGMENT_LEN => Err(KeyError::SegmentTooLong(s.len())),
        s if s.contains(&0) => Err(KeyError::Nul),
        _ => Ok(()),
    }
}

/// Whether `name` is a bucket: a top-level directory whose name S3's rules allow (3-63
/// lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit, not
/// an IP address, no `..`). Other top-level directories are not listed as buckets.
pub fn is_bucket_name(name: &[u8]) -> bool {
    let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.';
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.iter().all(ok_char)
        && edge(name.first())
        && edge(name.last())
        && !name
            .windows(2)
            .any(|w| w == b".." || w == b".-" || w == b"-.")
        && !looks_like_ip(name)
}

fn looks_like_ip(name: &[u8]) -> bool {
    let parts: Vec<&[u8]> = name.split(|&b| b == b'.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_paths() {
        let path = parse("a/b/c.txt").unwrap();
        assert_eq!(path.segments, [&b"a"[..], b"b", b"c.txt"]);
        assert!(!path.directory);
        assert_eq!(path.name(), b"c.txt");
        assert_eq!(path.parents(), [&b"a"[..], b"b"]);
        let dir = parse("photos/2026/").unwrap();
        assert_eq!(dir.segments, [&b"photos"[..], b"2026"]);
        assert!(dir.directory);
        assert_eq!(parse("x").unwrap().segments, [&b"x"[..]]);
        assert!(parse("white space/ü €").is_ok());
    }

    #[test]
    fn keys_no_path_can_hold_are_refused() {
        assert_eq!(parse(""), Err(KeyError::Empty));
        assert_eq!(parse("/"), Err(KeyError::EmptySegment));
        assert_eq!(parse("/a"), Err(KeyError::EmptySegment));
        assert_eq!(parse("a//b"), Err(KeyError::EmptySegment));
        assert_eq!(parse("a//"), Err(KeyError::EmptySegment));
        assert_eq!(parse("a/./b"), Err(KeyError::DotSegment));
        assert_eq!(parse(".."), Err(KeyError::DotSegment));
        assert_eq!(parse("a/../"), Err(KeyError::DotSegment));
        assert_eq!(parse("a\0b"), Err(KeyError::Nul));
        let long = "x".repeat(256);
        assert_eq!(parse(&long), Err(KeyError::SegmentTooLong(256)));
        assert!(parse(&"x".repeat(255)).is_ok());
        let huge = "ab/".repeat(400);
        assert_eq!(parse(&huge), Err(KeyError::TooLong(1200)));
        let code = |k: &str| S3Error::from(parse(k).unwrap_err()).code().clone();
        assert_eq!(code(&long), S3ErrorCode::KeyTooLongError);
        assert_eq!(code("a//b"), S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "my-bucket", "logs.2026", "a1b", &"a".repeat(63)] {
            assert!(is_bucket_name(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "ab",
            "Upper",
            "-start",
            "end-",
            "a..b",
            "a.-b",
            "under_score",
            "192.168.1.1",
            ".datenlord",
            &"a".repeat(64),
        ] {
            assert!(!is_bucket_name(bad.as_bytes()), "{bad}");
        }
    }
}
