//! The inode numbers a mount shows the kernel. FUSE calls a mount's root 1; a mount of a
//! subdirectory (`--subdir`) has its root elsewhere in the volume, so that directory and the
//! volume's root trade numbers. Since the volume's root lies outside the mounted tree, no
//! lookup ever leads to it, and `..` of the mount's root is the root itself.

use datenlord_meta::ROOT_INO;

/// Maps between the volume's inode numbers and the kernel's (the same map both ways).
#[derive(Debug, Clone, Copy)]
pub struct KernelInodes {
    root: u64,
}

impl KernelInodes {
    /// The mount's root is the volume's inode `root`.
    pub fn new(root: u64) -> Self {
        Self { root }
    }

    /// The volume's inode for a kernel's one, or the kernel's for a volume's.
    pub fn map(&self, ino: u64) -> u64 {
        if ino == ROOT_INO {
            self.root
        } else if ino == self.root {
            ROOT_INO
        } else {
            ino
        }
    }

    /// The volume's inode the mount's root is.
    pub fn root(&self) -> u64 {
        self.root
    }
}

impl Default for KernelInodes {
    fn default() -> Self {
        Self::new(ROOT_INO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_and_the_subdirectory_trade_numbers() {
        let map = KernelInodes::new(42);
        assert_eq!(map.map(ROOT_INO), 42);
        assert_eq!(map.map(42), ROOT_INO);
        assert_eq!(map.map(7), 7);
        assert_eq!(map.map(map.map(9)), 9);
        let whole = KernelInodes::default();
        assert_eq!(whole.map(ROOT_INO), ROOT_INO);
    }
}
