//! Frames from the network between cache group members must decode to a frame or an error,
//! never a panic; a GET that decodes must encode back the same.

#![no_main]

use datenlord_store::group::protocol::{Frame, Get, decode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, Frame::Get(get) | Frame::Warm(get))) = decode_frame(data) {
        assert_eq!(Get::decode(&get.encode()), Ok(get));
    }
    if let Ok(get) = Get::decode(data) {
        assert_eq!(Get::decode(&get.encode()), Ok(get));
    }
});
