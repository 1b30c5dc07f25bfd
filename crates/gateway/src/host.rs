//! Virtual-hosted-style requests: with `--domain s3.example.com`, a request to
//! `photos.s3.example.com` is for bucket `photos`; any other host (the domain itself, an
//! address, another name) is read path-style (`/bucket/key`).

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The base domains of virtual-hosted buckets.
#[derive(Debug, Clone, Default)]
pub struct Domains {
    bases: Vec<String>,
}

/// A domain that cannot be a base.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a domain name for virtual-hosted buckets (e.g. s3.example.com)")]
pub struct DomainError(String);

impl Domains {
    /// The base domains `names` (lower case, without a port).
    pub fn new(names: &[String]) -> Result<Self, DomainError> {
        let mut bases = Vec::new();
        for name in names {
            let base = name.trim_end_matches('.').to_ascii_lowercase();
            let valid = !base.is_empty()
                && base.len() <= 253
                && base.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            if !valid {
                return Err(DomainError(name.clone()));
            }
            bases.push(base);
        }
        Ok(Self { bases })
    }

    /// Whether there are any.
    pub fn is_empty(&self) -> bool {
        self.bases.is_empty()
    }

    /// The bucket a `Host` header names, if it is a virtual host of one of the domains.
    pub fn bucket<'h>(&self, host: &'h str) -> Option<&'h str> {
        let host = strip_port(host);
        self.bases.iter().find_map(|base| {
            let bucket = host
                .len()
                .checked_sub(base.len() + 1)
                .filter(|&at| host.is_char_boundary(at))
                .map(|at| (&host[..at], &host[at..]))
                .filter(|(_, rest)| rest.starts_with('.') && rest[1..].eq_ignore_ascii_case(base))?
                .0;
            (!bucket.is_empty()).then_some(bucket)
        })
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // An IPv6 address, [::1]:9000.
        return host
            .split_once(']')
            .map_or(host, |(addr, _)| &host[..=addr.len()]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

impl S3Host for Domains {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket(host) {
            Some(bucket) => VirtualHost::new(strip_port(host)).with_bucket(bucket),
            None => VirtualHost::new(strip_port(host)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_of_a_base_are_buckets() {
        let d = Domains::new(&["s3.example.com".into(), "localhost".into()]).unwrap();
        assert_eq!(d.bucket("photos.s3.example.com"), Some("photos"));
        assert_eq!(d.bucket("photos.s3.example.com:9000"), Some("photos"));
        assert_eq!(d.bucket("a.b.s3.example.com"), Some("a.b"));
        assert_eq!(d.bucket("PHOTOS.S3.Example.com"), Some("PHOTOS"));
        assert_eq!(d.bucket("bkt.localhost:9000"), Some("bkt"));
        assert_eq!(d.bucket("s3.example.com"), None);
        assert_eq!(d.bucket("127.0.0.1:9000"), None);
        assert_eq!(d.bucket("[::1]:9000"), None);
        assert_eq!(d.bucket("evil-s3.example.com"), None);
        assert!(Domains::new(&["bad domain".into()]).is_err());
        assert!(Domains::new(&["-x.com".into()]).is_err());
    }
}
