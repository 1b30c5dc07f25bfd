//! What the server engines decode from the network must decode or be refused, never panic:
//! replies from a Redis server (a whole reply cut by its last byte asks for more), the key
//! lists of change streams, PostgreSQL's change notices.

#![no_main]

use datenlord_meta::engine::redis::resp::decode;
use datenlord_meta::engine::changes::{decode_keys, encode_keys};
use datenlord_meta::engine::postgres::decode_notice;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, used))) = decode(data) {
        assert!(used > 0 && used <= data.len());
        assert_eq!(decode(&data[..used - 1]), Ok(None));
    }
    if let Some(keys) = decode_keys(data) {
        assert_eq!(encode_keys(keys.iter().map(Vec::as_slice)), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_notice(text);
    }
});
