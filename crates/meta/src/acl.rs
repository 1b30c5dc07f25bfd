//! POSIX ACLs in the kernel's `system.posix_acl_*` xattr format. With `FUSE_POSIX_ACL` the
//! kernel enforces them, and the filesystem keeps them in step with the mode: inheriting a
//! directory's default ACL on create, deriving the mode from a new access ACL, and updating
//! the ACL on chmod.

use crate::error::{Result, errno};

/// The xattr holding an inode's access ACL (stored only when the mode cannot express it).
pub const ACCESS: &[u8] = b"system.posix_acl_access";
/// The xattr holding a directory's default ACL, which new inodes in it inherit.
pub const DEFAULT: &[u8] = b"system.posix_acl_default";

const VERSION: u32 = 2;

// Entry tags of the xattr format: the owner, a named user, the owning group, a named group,
// the mask of the group class, and everyone else.

/// Entry tag: the owner (`ACL_USER_OBJ`); exactly one per ACL.
pub const USER_OBJ: u16 = 0x01;
/// Entry tag: the user named by the entry's id (`ACL_USER`).
pub const USER: u16 = 0x02;
/// Entry tag: the owning group (`ACL_GROUP_OBJ`); exactly one per ACL.
pub const GROUP_OBJ: u16 = 0x04;
/// Entry tag: the group named by the entry's id (`ACL_GROUP`).
pub const GROUP: u16 = 0x08;
/// Entry tag: the most the group class (named users, groups, the owning group) may get
/// (`ACL_MASK`); required once there are named entries.
pub const MASK: u16 = 0x10;
/// Entry tag: everyone else (`ACL_OTHER`); exactly one per ACL.
pub const OTHER: u16 = 0x20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AclEntry {
    tag: u16,
    perm: u16,
    id: u32,
}

/// A parsed ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    entries: Vec<AclEntry>,
}

impl Acl {
    /// Parses and validates an ACL value (EINVAL when malformed).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let Some((head, rest)) = bytes.split_first_chunk::<4>() else {
            return errno(libc::EINVAL);
        };
        if u32::from_le_bytes(*head) != VERSION || rest.len() % 8 != 0 {
            return errno(libc::EINVAL);
        }
        let entries: Vec<AclEntry> = rest
            .chunks_exact(8)
            .map(|e| AclEntry {
                tag: u16::from_le_bytes([e[0], e[1]]),
                perm: u16::from_le_bytes([e[2], e[3]]),
                id: u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            })
            .collect();
        let count = |tag| entries.iter().filter(|e| e.tag == tag).count();
        let named = count(USER) + count(GROUP);
        let valid = count(USER_OBJ) == 1
            && count(GROUP_OBJ) == 1
            && count(OTHER) == 1
            && count(MASK) <= 1
            && (named == 0 || count(MASK) == 1)
            && entries.iter().all(|e| {
                e.perm & !7 == 0
                    && matches!(e.tag, USER_OBJ | USER | GROUP_OBJ | GROUP | MASK | OTHER)
            });
        if !valid {
            return errno(libc::EINVAL);
        }
        Ok(Self { entries })
    }

    /// The xattr value: version 2, then the entries sorted by tag and id, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = VERSION.to_le_bytes().to_vec();
        let mut sorted = self.entries.clone();
        sorted.sort_by_key(|e| (e.tag, e.id));
        for e in sorted {
            out.extend_from_slice(&e.tag.to_le_bytes());
            out.extend_from_slice(&e.perm.to_le_bytes());
            out.extend_from_slice(&e.id.to_le_bytes());
        }
        out
    }

    fn perm_of(&self, tag: u16) -> Option<u16> {
        self.entries.iter().find(|e| e.tag == tag).map(|e| e.perm)
    }

    fn set_perm(&mut self, tag: u16, perm: u16) {
        for e in self.entries.iter_mut().filter(|e| e.tag == tag) {
            e.perm = perm;
        }
    }

    /// The group class entry: the mask when there is one, else the owning group.
    fn group_class(&self) -> u16 {
        if self.perm_of(MASK).is_some() {
            MASK
        } else {
            GROUP_OBJ
        }
    }

    /// The permission bits (0o777) this ACL shows through the mode.
    pub fn mode_bits(&self) -> u16 {
        let get = |tag| self.perm_of(tag).unwrap_or(0);
        get(USER_OBJ) << 6 | get(self.group_class()) << 3 | get(OTHER)
    }

    /// True when the mode alone says everything (no named entries, no mask).
    pub fn is_minimal(&self) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e.tag, USER_OBJ | GROUP_OBJ | OTHER))
    }

    /// Keeps the ACL in step with a chmod to `perm`.
    pub fn chmod(&mut self, perm: u16) {
        self.set_perm(USER_OBJ, perm >> 6 & 7);
        let class = self.group_class();
        self.set_perm(class, perm >> 3 & 7);
        self.set_perm(OTHER, perm & 7);
    }

    /// The access ACL a new inode of mode `perm` gets from its directory's default ACL, and the
    /// inode's resulting permission bits (the umask does not apply).
    pub fn inherit(&self, perm: u16) -> (Self, u16) {
        let mut acl = self.clone();
        let mask_with = |acl: &mut Self, tag: u16, bits: u16| {
            if let Some(p) = acl.perm_of(tag) {
                acl.set_perm(tag, p & bits);
            }
        };
        mask_with(&mut acl, USER_OBJ, perm >> 6 & 7);
        let class = acl.group_class();
        mask_with(&mut acl, class, perm >> 3 & 7);
        mask_with(&mut acl, OTHER, perm & 7);
        let bits = (perm & 0o7000) | acl.mode_bits();
        (acl, bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        Acl {
            entries: entries
                .iter()
                .map(|&(tag, perm, id)| AclEntry { tag, perm, id })
                .collect(),
        }
        .encode()
    }

    #[test]
    fn mode_follows_mask_and_inheritance_masks_entries() {
        let bytes = acl(&[
            (USER_OBJ, 7, 0),
            (USER, 6, 1000),
            (GROUP_OBJ, 5, 0),
            (MASK, 7, 0),
            (OTHER, 0, 0),
        ]);
        let parsed = Acl::decode(&bytes).unwrap();
        assert_eq!(parsed.mode_bits(), 0o770);
        assert!(!parsed.is_minimal());
        let (child, bits) = parsed.inherit(0o644);
        assert_eq!(bits, 0o640);
        assert_eq!(child.perm_of(MASK), Some(4));
        assert_eq!(
            child.perm_of(USER),
            Some(6),
            "named entries stay; the mask limits them"
        );
    }

    #[test]
    fn malformed_acls_are_einval() {
        assert!(Acl::decode(&[1, 0, 0, 0]).is_err());
        assert!(
            Acl::decode(&acl(&[
                (USER_OBJ, 7, 0),
                (USER, 6, 1),
                (GROUP_OBJ, 5, 0),
                (OTHER, 0, 0)
            ]))
            .is_err()
        );
        assert!(Acl::decode(&acl(&[(USER_OBJ, 7, 0), (GROUP_OBJ, 5, 0), (OTHER, 9, 0)])).is_err());
    }

    #[test]
    fn chmod_updates_the_group_class() {
        let bytes = acl(&[
            (USER_OBJ, 7, 0),
            (GROUP, 7, 5),
            (GROUP_OBJ, 7, 0),
            (MASK, 7, 0),
            (OTHER, 7, 0),
        ]);
        let mut parsed = Acl::decode(&bytes).unwrap();
        parsed.chmod(0o750);
        assert_eq!(parsed.mode_bits(), 0o750);
        assert_eq!(parsed.perm_of(GROUP_OBJ), Some(7));
    }
}
