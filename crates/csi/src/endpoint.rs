//! Where the driver listens: CSI's `unix:///path/csi.sock` (the form the Kubernetes sidecars
//! pass), `unix:/path`, or a bare absolute path.

use std::path::{Path, PathBuf};

use crate::CsiError;

/// A unix socket the driver serves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    path: PathBuf,
}

impl Endpoint {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::str::FromStr for Endpoint {
    type Err = CsiError;

    fn from_str(text: &str) -> Result<Self, CsiError> {
        let bad = |reason: &str| CsiError::Endpoint {
            endpoint: text.to_string(),
            reason: reason.to_string(),
        };
        let path = if let Some(rest) = text.strip_prefix("unix://") {
            rest
        } else if let Some(rest) = text.strip_prefix("unix:") {
            rest
        } else if text.contains("://") {
            return Err(bad(
                "only unix sockets are served (unix:///csi/csi.sock, as the Kubernetes sidecars use)",
            ));
        } else {
            text
        };
        if !path.starts_with('/') {
            return Err(bad("the socket's path must be absolute"));
        }
        if path.len() > 107 {
            return Err(bad("a unix socket's path holds at most 107 bytes"));
        }
        Ok(Endpoint {
            path: PathBuf::from(path),
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unix://{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_in_every_form_the_sidecars_use() {
        for text in [
            "unix:///csi/csi.sock",
            "unix:/csi/csi.sock",
            "/csi/csi.sock",
        ] {
            let endpoint: Endpoint = text.parse().unwrap();
            assert_eq!(endpoint.path(), Path::new("/csi/csi.sock"), "{text}");
            assert_eq!(endpoint.to_string(), "unix:///csi/csi.sock");
        }
        for bad in ["tcp://127.0.0.1:10000", "unix://csi.sock", "csi.sock", ""] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        let long = format!("/{}", "x".repeat(107));
        assert!(long.parse::<Endpoint>().is_err());
    }
}
