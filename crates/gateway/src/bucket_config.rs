//! What S3 knows of a bucket and its directory does not — its owner, ACL, CORS rules and policy — kept in one
//! extended attribute of the bucket's directory. Every request reads it, so a gateway keeps
//! what it read for a moment ([`FRESH_FOR`]): a change made through this gateway applies at
//! once, one made through another gateway of the volume within that moment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datenlord_meta::{FileKind, ROOT_INO};
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::cors::CorsRule;
use crate::key::is_bucket_name;
use crate::namespace::{Namespace, internal};
use crate::policy::Policy;
use crate::versions::Versioning;

/// The extended attribute of a bucket's directory holding its [`BucketConfig`].
pub const XATTR: &[u8] = b"trusted.datenlord.s3.bucket";

/// How long a gateway trusts a configuration it read.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// A bucket's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketConfig {
    /// Owner and grants; `None` for a directory made through a mount (or before buckets had
    /// owners): every user the credentials let use it owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// CORS rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors: Vec<CorsRule>,
    /// Versioning, once turned on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,
    /// The bucket policy, as it was put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl BucketConfig {
    fn decode(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether `who` owns the bucket.
    pub fn owned_by(&self, who: Option<&str>) -> bool {
        match &self.acl {
            Some(acl) => who == Some(acl.owner.as_str()),
            None => who.is_some(),
        }
    }
}

/// A bucket: its directory and its configuration.
#[derive(Debug, Clone)]
pub struct BucketState {
    /// The directory's inode.
    pub ino: u64,
    /// The configuration.
    pub config: Arc<BucketConfig>,
    /// Its policy, parsed.
    pub policy: Option<Arc<Policy>>,
}

/// The configurations a gateway read lately, by bucket name.
#[derive(Debug, Default)]
pub struct ConfigCache {
    read: Mutex<HashMap<String, (Instant, BucketState)>>,
}

impl ConfigCache {
    fn get(&self, name: &str) -> Option<BucketState> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.get(name)
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, state)| state.clone())
    }

    fn put(&self, name: &str, state: BucketState) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        if read.len() > 10_000 {
            read.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        }
        read.insert(name.to_string(), (Instant::now(), state));
    }

    /// Forgets bucket `name` (it was changed or removed).
    pub fn forget(&self, name: &str) {
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.remove(name);
    }
}

impl Namespace {
    /// Bucket `name` and its configuration; `None` when there is no such bucket.
    pub async fn bucket_state(&self, name: &str) -> S3Result<Option<BucketState>> {
        if let Some(state) = self.configs.get(name) {
            return Ok(Some(state));
        }
        if !is_bucket_name(name.as_bytes()) {
            return Ok(None);
        }
        let ino = match self.vfs.lookup(ROOT_INO, name.as_bytes()).await {
            Ok((ino, attr)) if attr.kind == FileKind::Dir => ino,
            Ok(_) => return Ok(None),
            Err(err) if err.errno() == libc::ENOENT => return Ok(None),
            Err(err) => return Err(internal(err)),
        };
        let config = match self.vfs.getxattr(ino, XATTR).await {
            Ok(bytes) => BucketConfig::decode(&bytes),
            Err(err) if err.errno() == libc::ENODATA => BucketConfig::default(),
            Err(err) => return Err(internal(err)),
        };
        let policy = match config.policy.as_deref().map(Policy::load) {
            None => None,
            Some(Ok(policy)) => Some(Arc::new(policy)),
            Some(Err(err)) => {
                tracing::warn!(bucket = name, %err, "the bucket's stored policy is damaged: it denies all but managing the policy");
                Some(Arc::new(Policy::deny_all()))
            }
        };
        let state = BucketState {
            ino,
            config: Arc::new(config),
            policy,
        };
        self.configs.put(name, state.clone());
        Ok(Some(state))
    }

    /// Bucket `name`'s configuration: NoSuchBucket without the bucket.
    pub async fn bucket_config(&self, name: &str) -> S3Result<BucketState> {
        self.bucket_state(name)
            .await?
            .ok_or_else(|| s3_error!(NoSuchBucket))
    }

    /// Stores bucket `name`'s configuration.
    pub async fn set_bucket_config(&self, name: &str, config: &BucketConfig) -> S3Result<()> {
        let ino = self.bucket(name).await?;
        self.configs.forget(name);
        self.vfs
            .setxattr(ino, XATTR, &config.encode(), 0, false)
            .await
            .map_err(internal)?;
        self.configs.forget(name);
        Ok(())
    }
}
