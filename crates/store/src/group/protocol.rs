//! The wire protocol between a reader and the members of a cache group: frames of a fixed
//! header and a payload, over TCP.
//!
//! ```text
//! header (32 bytes, integers little-endian)
//!   0  magic "DLCN"          4  version (1)       5  kind      6  reserved (0, 2 bytes)
//!   8  request id (u64)      16 payload length (u32, at most MAX_PAYLOAD)
//!   20 CRC-32C of the payload                     24 CRC-32C of bytes 0..24
//!   28 reserved (0, 4 bytes)
//! payload
//!   GET   volume length (u8) | volume uuid | object u64 | index u64 | offset u64 | len u64
//!         (len u64::MAX: the whole block)
//!   DATA  the bytes asked for
//!   ERROR errno (u32) | message (UTF-8)
//!   WARM  as GET (the range is ignored): fetch and keep the whole block, answer an empty DATA
//! ```
//!
//! Every length is checked before it is trusted, every payload against its checksum; a peer
//! speaking another version gets an ERROR naming ours.

use bytes::Bytes;

use crate::cache::{BlockKey, HitRange};

/// The first bytes of every frame.
pub const MAGIC: &[u8; 4] = b"DLCN";
/// The protocol version this node speaks; a peer of another is refused.
pub const VERSION: u8 = 1;
/// Bytes of a frame header.
pub const HEADER_LEN: usize = 32;
/// A block is at most 16 MiB; the rest is room for a GET or an error message.
pub const MAX_PAYLOAD: u32 = (16 << 20) + 4096;
/// The longest volume id a GET carries.
const MAX_VOLUME: usize = 64;
const WHOLE: u64 = u64::MAX;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A reader asks for (part of) a block.
    Get = 1,
    /// The bytes asked for.
    Data = 2,
    /// A refusal: errno and message.
    Error = 3,
    /// A reader asks the owner to fetch and keep a whole block.
    Warm = 4,
}

impl Kind {
    fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Get),
            2 => Some(Self::Data),
            3 => Some(Self::Error),
            4 => Some(Self::Warm),
            _ => None,
        }
    }
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header does not start with [`MAGIC`]: not our protocol (an HTTP request, say).
    #[error("not a DatenLord cache frame")]
    BadMagic,
    /// The peer speaks another version.
    #[error("protocol version {0} (this node speaks {VERSION})")]
    Version(u8),
    /// A kind byte this version does not know.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// The header's own checksum does not match.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// A payload length over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes is over the limit")]
    TooLong(u32),
    /// The payload's length or checksum does not match its header.
    #[error("payload checksum mismatch")]
    PayloadChecksum,
    /// A payload of the named kind that does not decode.
    #[error("malformed {0} payload")]
    Payload(&'static str),
}

fn crc(data: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// A decoded header: what follows and how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the payload is.
    pub kind: Kind,
    /// The request id, which the answer repeats.
    pub id: u64,
    /// Payload bytes that follow.
    pub len: u32,
    /// CRC-32C of the payload.
    pub payload_crc: u32,
}

impl Header {
    /// Checks and decodes a header: magic, version, header checksum, kind and length limit.
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, FrameError> {
        if &bytes[..4] != MAGIC {
            return Err(FrameError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(FrameError::Version(bytes[4]));
        }
        if crc(&bytes[..24]) != u32_at(bytes, 24) {
            return Err(FrameError::HeaderChecksum);
        }
        let kind = Kind::from_u8(bytes[5]).ok_or(FrameError::Kind(bytes[5]))?;
        let len = u32_at(bytes, 16);
        if len > MAX_PAYLOAD {
            return Err(FrameError::TooLong(len));
        }
        Ok(Self {
            kind,
            id: u64_at(bytes, 8),
            len,
            payload_crc: u32_at(bytes, 20),
        })
    }

    /// Checks the payload that followed this header.
    pub fn check(&self, payload: &[u8]) -> Result<(), FrameError> {
        if payload.len() != self.len as usize || crc(payload) != self.payload_crc {
            return Err(FrameError::PayloadChecksum);
        }
        Ok(())
    }
}

/// The header of a frame carrying `payload`.
pub fn header(kind: Kind, id: u64, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5] = kind as u8;
    h[8..16].copy_from_slice(&id.to_le_bytes());
    h[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[20..24].copy_from_slice(&crc(payload).to_le_bytes());
    let sum = crc(&h[..24]);
    h[24..28].copy_from_slice(&sum.to_le_bytes());
    h
}

/// A reader's request for (part of) a block of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    /// The volume's uuid, so that a member of another volume refuses (at most 64 bytes are
    /// sent).
    pub volume: String,
    /// The block.
    pub key: BlockKey,
    /// The part of it wanted.
    pub range: HitRange,
}

impl Get {
    /// The payload of a GET (or WARM) frame.
    pub fn encode(&self) -> Vec<u8> {
        let volume = &self.volume.as_bytes()[..self.volume.len().min(MAX_VOLUME)];
        let mut out = Vec::with_capacity(1 + volume.len() + 32);
        out.push(volume.len() as u8);
        out.extend_from_slice(volume);
        let (offset, len) = match self.range {
            HitRange::Whole => (0, WHOLE),
            HitRange::Part { offset, len } => (offset, len),
        };
        for word in [self.key.object, self.key.index, offset, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// A GET (or WARM) payload, its lengths checked before they are trusted.
    pub fn decode(payload: &[u8]) -> Result<Self, FrameError> {
        let bad = FrameError::Payload("GET");
        let (&volume_len, rest) = payload.split_first().ok_or(bad.clone())?;
        let volume_len = usize::from(volume_len);
        if volume_len > MAX_VOLUME || rest.len() != volume_len + 32 {
            return Err(bad);
        }
        let volume = std::str::from_utf8(&rest[..volume_len]).map_err(|_| bad.clone())?;
        let words = &rest[volume_len..];
        let (offset, len) = (u64_at(words, 16), u64_at(words, 24));
        let range = if len == WHOLE {
            HitRange::Whole
        } else {
            offset.checked_add(len).ok_or(bad)?;
            HitRange::Part { offset, len }
        };
        Ok(Self {
            volume: volume.to_string(),
            key: BlockKey {
                object: u64_at(words, 0),
                index: u64_at(words, 8),
            },
            range,
        })
    }
}

/// An ERROR payload.
pub fn encode_error(errno: i32, message: &str) -> Vec<u8> {
    let mut out = (errno as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&message.as_bytes()[..message.len().min(1024)]);
    out
}

/// The errno and message of an ERROR payload.
pub fn decode_error(payload: &[u8]) -> Result<(i32, String), FrameError> {
    if payload.len() < 4 {
        return Err(FrameError::Payload("ERROR"));
    }
    let errno = u32_at(payload, 0) as i32;
    Ok((errno, String::from_utf8_lossy(&payload[4..]).into_owned()))
}

/// A whole frame decoded from a byte slice (what the fuzzer drives, and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A request for (part of) a block.
    Get(Get),
    /// A request to fetch and keep a whole block.
    Warm(Get),
    /// The bytes asked for.
    Data(Bytes),
    /// A refusal: errno and message.
    Error(i32, String),
}

/// The request id and frame of `bytes`, one whole frame, header and payload checked.
pub fn decode_frame(bytes: &[u8]) -> Result<(u64, Frame), FrameError> {
    let head: &[u8; HEADER_LEN] = bytes
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FrameError::Payload("header"))?;
    let header = Header::decode(head)?;
    let payload = &bytes[HEADER_LEN..];
    header.check(payload)?;
    let frame = match header.kind {
        Kind::Get => Frame::Get(Get::decode(payload)?),
        Kind::Warm => Frame::Warm(Get::decode(payload)?),
        Kind::Data => Frame::Data(Bytes::copy_from_slice(payload)),
        Kind::Error => {
            let (errno, message) = decode_error(payload)?;
            Frame::Error(errno, message)
        }
    };
    Ok((header.id, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: Kind, id: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = header(kind, id, payload).to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn frames_round_trip() {
        let get = Get {
            volume: "3f2a-uuid".into(),
            key: BlockKey {
                object: 77,
                index: 3,
            },
            range: HitRange::Part {
                offset: 4096,
                len: 100,
            },
        };
        let bytes = frame(Kind::Get, 9, &get.encode());
        assert_eq!(decode_frame(&bytes), Ok((9, Frame::Get(get.clone()))));
        let whole = Get {
            range: HitRange::Whole,
            ..get
        };
        assert_eq!(Get::decode(&whole.encode()), Ok(whole));
        let data = frame(Kind::Data, 10, b"block bytes");
        assert_eq!(
            decode_frame(&data),
            Ok((10, Frame::Data(Bytes::from_static(b"block bytes"))))
        );
        let err = frame(Kind::Error, 11, &encode_error(5, "no such block"));
        assert_eq!(
            decode_frame(&err),
            Ok((11, Frame::Error(5, "no such block".into())))
        );
    }

    #[test]
    fn damage_is_detected_everywhere() {
        let good = frame(Kind::Data, 1, b"payload");
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            if (28..32).contains(&at) {
                continue; // reserved, outside the header checksum
            }
            assert!(decode_frame(&bad).is_err(), "flip at {at} went unnoticed");
        }
        assert_eq!(
            decode_frame(&good[..31]),
            Err(FrameError::Payload("header"))
        );
        let mut other_version = good.clone();
        other_version[4] = 2;
        assert_eq!(decode_frame(&other_version), Err(FrameError::Version(2)));
        let mut long = header(Kind::Data, 1, b"").to_vec();
        long[16..20].copy_from_slice(&(MAX_PAYLOAD + 1).to_le_bytes());
        let sum = crc(&long[..24]);
        long[24..28].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            decode_frame(&long),
            Err(FrameError::TooLong(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(Get::decode(&[]).is_err());
        assert!(Get::decode(&[200; 40]).is_err());
        let mut overflow = Get {
            volume: "v".into(),
            key: BlockKey {
                object: 1,
                index: 0,
            },
            range: HitRange::Part {
                offset: u64::MAX - 1,
                len: 5,
            },
        }
        .encode();
        assert!(Get::decode(&overflow).is_err());
        overflow.push(0);
        assert!(Get::decode(&overflow).is_err());
        assert!(decode_error(&[1, 2]).is_err());
    }
}
