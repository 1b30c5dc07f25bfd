//! A bounds-checked cursor over the bytes of one request.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use zerocopy::FromBytes;

use super::DecodeError;

/// Hands out typed values and byte strings from the front of a request body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Copies a wire struct out of the front; copying makes the buffer's alignment irrelevant.
    pub(crate) fn fetch<T: FromBytes>(&mut self, what: &'static str) -> Result<T, DecodeError> {
        let (value, rest) =
            T::read_from_prefix(self.bytes).map_err(|_| DecodeError::Truncated {
                what,
                need: size_of::<T>(),
                have: self.bytes.len(),
            })?;
        self.bytes = rest;
        Ok(value)
    }

    pub(crate) fn bytes(
        &mut self,
        len: usize,
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        if len > self.bytes.len() {
            return Err(DecodeError::Truncated {
                what,
                need: len,
                have: self.bytes.len(),
            });
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    /// A NUL-terminated string of at most `max` bytes (the NUL not counted).
    pub(crate) fn cstr(
        &mut self,
        what: &'static str,
        max: usize,
    ) -> Result<&'a OsStr, DecodeError> {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or(DecodeError::Unterminated { what })?;
        if end == 0 {
            return Err(DecodeError::Empty { what });
        }
        if end > max {
            return Err(DecodeError::TooLong {
                what,
                len: end,
                max,
            });
        }
        let name = OsStr::from_bytes(&self.bytes[..end]);
        self.bytes = &self.bytes[end + 1..];
        Ok(name)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_must_be_terminated_non_empty_and_short() {
        assert_eq!(Reader::new(b"abc\0def\0").cstr("name", 255).unwrap(), "abc");
        assert!(matches!(
            Reader::new(b"abc").cstr("name", 255),
            Err(DecodeError::Unterminated { .. })
        ));
        assert!(matches!(
            Reader::new(b"\0").cstr("name", 255),
            Err(DecodeError::Empty { .. })
        ));
        assert!(matches!(
            Reader::new(b"abcd\0").cstr("name", 3),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(matches!(
            r.fetch::<u64>("x"),
            Err(DecodeError::Truncated {
                need: 8,
                have: 3,
                ..
            })
        ));
        assert!(r.bytes(4, "x").is_err());
        assert_eq!(r.bytes(3, "x").unwrap(), &[1, 2, 3]);
        assert!(r.rest().is_empty());
    }
}
