//! Replies from a Redis server (the Redis metadata engine's input from the network) must
//! decode to a reply, to "need more bytes", or to an error — never a panic; a whole reply
//! cut by its last byte asks for more; the change stream's key lists decode or are refused.

#![no_main]

use datenlord_meta::engine::redis::resp::decode;
use datenlord_meta::engine::redis::{decode_keys, encode_keys};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, used))) = decode(data) {
        assert!(used > 0 && used <= data.len());
        assert_eq!(decode(&data[..used - 1]), Ok(None));
    }
    if let Some(keys) = decode_keys(data) {
        assert_eq!(encode_keys(keys.iter().map(Vec::as_slice)), data);
    }
});
