//! Who may use the gateway: access keys with their secrets and the buckets each may use, from a
//! credentials file or the environment. Requests are signed (SigV4 or SigV2, checked by `s3s`);
//! an unknown key is InvalidAccessKeyId, a bucket outside the key's list AccessDenied
//! ([`crate::access`]).
//!
//! The file has one user per line: `ACCESS_KEY SECRET_KEY [BUCKET ...]`; no buckets, or `*`,
//! means every bucket. `#` starts a comment. Like an SSH key, the file must not be readable by
//! group or others.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

/// The environment variables of a single user allowed every bucket.
pub const ACCESS_KEY_ENV: &str = "DATENLORD_S3_ACCESS_KEY";
/// See [`ACCESS_KEY_ENV`].
pub const SECRET_KEY_ENV: &str = "DATENLORD_S3_SECRET_KEY";

/// One user.
#[derive(Clone)]
struct User {
    secret: SecretKey,
    /// `None`: every bucket.
    buckets: Option<BTreeSet<String>>,
}

/// The users of a gateway.
#[derive(Clone, Default)]
pub struct Credentials {
    users: Arc<HashMap<String, User>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("Credentials")
            .field("users", &self.users.len())
            .finish()
    }
}

/// A credentials file or environment that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file cannot be read.
    #[error("cannot read the credentials file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is readable by others.
    #[error(
        "the credentials file {path} is readable by group or others (mode {mode:o}); \
         make it private with `chmod 600 {path}`"
    )]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A line is not `ACCESS_KEY SECRET_KEY [BUCKET ...]`.
    #[error("{path}:{line}: {why}")]
    Syntax {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Nothing configured.
    #[error(
        "no credentials: give --credentials FILE or set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} \
         (the gateway never serves anonymous requests)"
    )]
    None,
    /// Only one of the two variables is set.
    #[error("set both {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or neither")]
    HalfEnv,
}

impl Credentials {
    /// Reads a credentials file.
    pub fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        use std::os::unix::fs::PermissionsExt;
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| CredentialsError::Read {
            path: shown.clone(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialsError::Exposed { path: shown, mode });
        }
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses the text of a credentials file (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self, CredentialsError> {
        let mut users = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let syntax = |why: &str| CredentialsError::Syntax {
                path: origin.to_string(),
                line: i + 1,
                why: why.to_string(),
            };
            let mut words = line.split_whitespace();
            let (Some(access), Some(secret)) = (words.next(), words.next()) else {
                return Err(syntax("expected ACCESS_KEY SECRET_KEY [BUCKET ...]"));
            };
            if access.len() < 3 || access.len() > 128 || !access.bytes().all(is_key_char) {
                return Err(syntax(
                    "an access key is 3-128 letters, digits and the characters + = , . @ - _",
                ));
            }
            if secret.len() < 8 {
                return Err(syntax("a secret key has at least 8 characters"));
            }
            let listed: Vec<&str> = words.collect();
            let buckets = if listed.is_empty() || listed == ["*"] {
                None
            } else {
                if listed.contains(&"*") {
                    return Err(syntax("'*' stands alone: every bucket"));
                }
                Some(listed.iter().map(|b| b.to_string()).collect())
            };
            let user = User {
                secret: SecretKey::from(secret),
                buckets,
            };
            if users.insert(access.to_string(), user).is_some() {
                return Err(syntax("this access key is given twice"));
            }
        }
        if users.is_empty() {
            return Err(CredentialsError::None);
        }
        Ok(Self {
            users: Arc::new(users),
        })
    }

    /// The user of [`ACCESS_KEY_ENV`] and [`SECRET_KEY_ENV`], if both are set.
    pub fn from_env() -> Result<Option<Self>, CredentialsError> {
        let access = std::env::var(ACCESS_KEY_ENV).ok().filter(|s| !s.is_empty());
        let secret = std::env::var(SECRET_KEY_ENV).ok().filter(|s| !s.is_empty());
        match (access, secret) {
            (Some(access), Some(secret)) => {
                Self::parse(&format!("{access} {secret}"), "the environment").map(Some)
            }
            (None, None) => Ok(None),
            _ => Err(CredentialsError::HalfEnv),
        }
    }

    /// Whether `access_key` may use `bucket`.
    pub fn may_use(&self, access_key: &str, bucket: &str) -> bool {
        self.users.get(access_key).is_some_and(|user| {
            user.buckets
                .as_ref()
                .is_none_or(|buckets| buckets.contains(bucket))
        })
    }

    /// Whether `access_key` is a user.
    pub fn has_user(&self, access_key: &str) -> bool {
        self.users.contains_key(access_key)
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b)
}

#[async_trait::async_trait]
impl S3Auth for Credentials {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.users.get(access_key) {
            Some(user) => Ok(user.secret.clone()),
            None => {
                tracing::info!(access_key, "a request signed with an unknown access key");
                Err(s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_give_users_and_their_buckets() {
        let text =
            "# users\nadmin s3cr3t-admin\nana ana-secret-1 photos logs # two\nbob bo-secret-1 *\n";
        let creds = Credentials::parse(text, "f").unwrap();
        assert_eq!(creds.len(), 3);
        assert!(creds.may_use("admin", "anything"));
        assert!(creds.may_use("ana", "photos"));
        assert!(!creds.may_use("ana", "secret"));
        assert!(creds.may_use("bob", "x"));
        assert!(!creds.may_use("nobody", "photos"));
        assert!(!format!("{creds:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_files_say_where() {
        let err = |text: &str| Credentials::parse(text, "f").unwrap_err().to_string();
        assert!(err("lonely\n").starts_with("f:1: expected"));
        assert!(err("key ok-secret\nkk3 short\n").starts_with("f:2: a secret"));
        assert!(err("a/b secret-123\n").contains("access key is"));
        assert!(err("key1 secret-123\nkey1 secret-456\n").contains("twice"));
        assert!(err("key1 secret-123 * photos\n").contains("stands alone"));
        assert!(err("# nothing\n").starts_with("no credentials"));
    }

    #[test]
    fn exposed_files_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(&path, "key1 secret-123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credentials::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Credentials::from_file(&path).unwrap().len(), 1);
    }
}
