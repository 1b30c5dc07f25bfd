//! Stored metadata records (inodes, entries, slices, quotas) and ACL values (which arrive from users through setxattr) must
//! decode to a value or an error, never a panic; what decodes must encode back the same.

#![no_main]

use datenlord_meta::acl::Acl;
use datenlord_meta::model::{Attr, Dirent, Quota, Slice};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(attr) = Attr::decode(data) {
        assert_eq!(Attr::decode(&attr.encode()).ok(), Some(attr));
    }
    if let Ok(quota) = Quota::decode(data) {
        assert_eq!(Quota::decode(&quota.encode()).ok(), Some(quota));
    }
    if let Ok(dirent) = Dirent::decode(data) {
        assert_eq!(Dirent::decode(&dirent.encode()).ok(), Some(dirent));
    }
    if let Ok(slices) = Slice::decode_all(data) {
        let mut again = Vec::new();
        slices.iter().for_each(|s| s.encode_into(&mut again));
        assert_eq!(again, data);
    }
    if let Ok(acl) = Acl::decode(data) {
        let bits = acl.mode_bits();
        assert!(bits <= 0o777);
        let (child, perm) = acl.inherit(0o7777);
        assert!(perm <= 0o7777);
        assert!(Acl::decode(&child.encode()).is_ok());
    }
});
