//! A volume's settings, fixed at format time and stored under the key "V".

use serde::{Deserialize, Serialize};

/// Default block size: objects are cut into blocks of this many bytes.
pub const DEFAULT_BLOCK_SIZE: u32 = 4 << 20;

/// What `datenlord format` decided for a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// The volume's name.
    pub name: String,
    /// Its unique id, chosen at the first format and kept when formatted again.
    pub uuid: String,
    /// Where the blocks live, e.g. `file:///var/lib/datenlord/blocks`.
    pub storage: String,
    /// Objects are cut into blocks of this many bytes; fixed once data exists.
    pub block_size: u32,
    /// Seconds since the epoch.
    pub created: i64,
    /// The metadata format version.
    pub version: u32,
    /// Days a deleted file stays in the trash (0: none; volumes of older releases).
    #[serde(default)]
    pub trash_days: u32,
}

/// The metadata format this release writes.
pub const FORMAT_VERSION: u32 = 1;

impl Volume {
    /// The settings that may not change once data exists, as a readable list of differences.
    pub fn differences(&self, other: &Volume) -> Vec<String> {
        let mut diffs = Vec::new();
        if self.name != other.name {
            diffs.push(format!("name {} (asked {})", self.name, other.name));
        }
        if self.storage != other.storage {
            diffs.push(format!(
                "storage {} (asked {})",
                self.storage, other.storage
            ));
        }
        if self.block_size != other.block_size {
            diffs.push(format!(
                "block size {} (asked {})",
                self.block_size, other.block_size
            ));
        }
        diffs
    }
}
