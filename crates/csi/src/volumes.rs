//! The volume model: a CSI volume is the directory `/csi/<name>` of a DatenLord volume, with a
//! quota of its own (its capacity) and a record of what it was made as; its id is its name.
//! A snapshot is a metadata-only snapshot of that directory, its id its name. Which DatenLord
//! volume a call is about comes from the call's secrets (`metaurl`) or is the driver's own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datenlord_meta::{Caller, FileKind, Meta, MetaUrl, NewInode, ROOT_INO};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tonic::Status;

use crate::status::meta_status;

/// The directory of a DatenLord volume that holds its CSI volumes.
pub const CSI_DIR: &str = "csi";

/// The secret that names the DatenLord volume (a META_URL, credentials and all).
pub const METAURL_SECRET: &str = "metaurl";

/// The extended attribute that records what a CSI volume was made as.
const RECORD_XATTR: &[u8] = b"trusted.datenlord.csi";

/// What a CSI volume was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A snapshot, by id.
    Snapshot(String),
    /// Another volume, by id.
    Volume(String),
}

/// What CreateVolume made, kept on the volume's directory: the answer to a repeated call, and
/// what the nodes mount it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// The volume's id: a record under another name was copied from a content source by a
    /// CreateVolume that stopped before writing its own.
    pub id: String,
    /// The bytes asked for (0: no limit).
    pub capacity: u64,
    /// Its content source, if any.
    pub source: Option<Source>,
    /// The parameters it was made with, and changed to since.
    pub parameters: BTreeMap<String, String>,
    /// The claim it was made for (`namespace/name`, when the provisioner says), by which the
    /// scheduler extender finds a pod's volumes.
    #[serde(default)]
    pub claim: Option<String>,
}

/// One DatenLord volume's metadata, as a call resolved it.
#[derive(Debug, Clone)]
pub struct Backing {
    /// The metadata.
    pub meta: Arc<Meta>,
    /// How logs and messages name it (no credentials).
    pub label: String,
}

/// The DatenLord volumes the driver serves: its own, and those secrets named, opened once.
#[derive(Debug)]
pub struct Volumes {
    default: Option<Backing>,
    opened: Mutex<HashMap<String, Backing>>,
}

impl Volumes {
    /// The driver's own volume (for calls whose secrets name none), if it has one.
    pub fn new(default: Option<Arc<Meta>>) -> Self {
        Self {
            default: default.map(|meta| Backing {
                meta,
                label: "the driver's volume".into(),
            }),
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The DatenLord volume `secrets` name, else the driver's own.
    pub async fn resolve(&self, secrets: &HashMap<String, String>) -> Result<Backing, Status> {
        let Some(text) = secrets.get(METAURL_SECRET) else {
            return self.default.clone().ok_or_else(|| {
                Status::invalid_argument(format!(
                    "no volume: the driver was started without --meta and the call's \
                     secrets have no {METAURL_SECRET:?}"
                ))
            });
        };
        let mut opened = self.opened.lock().await;
        if let Some(backing) = opened.get(text) {
            return Ok(backing.clone());
        }
        // The URL's own text may hold a password: messages name it by its display only.
        let url: MetaUrl = text.parse().map_err(|_| {
            Status::invalid_argument(format!(
                "the {METAURL_SECRET:?} secret is not a META URL (expected {})",
                datenlord_meta::SCHEMES
            ))
        })?;
        let label = url.to_string();
        let engine = url.open(false).await.map_err(|err| {
            let reason = match err {
                datenlord_meta::engine::KvError::Open { reason, .. } => reason,
                other => other.to_string(),
            };
            Status::unavailable(format!("opening {label}: {reason}"))
        })?;
        let meta = Meta::open(engine)
            .await
            .map_err(|err| meta_status(&format!("opening {label}"), &err))?;
        tracing::info!(volume = %label, "opened a volume named by a call's secrets");
        let backing = Backing {
            meta: Arc::new(meta),
            label,
        };
        opened.insert(text.clone(), backing.clone());
        Ok(backing)
    }

    /// Every volume opened so far, the driver's own first: where ListVolumes and
    /// ControllerGetVolume look, as their calls carry no secrets.
    pub async fn all(&self) -> Vec<Backing> {
        let mut out: Vec<Backing> = self.default.iter().cloned().collect();
        let opened = self.opened.lock().await;
        let mut others: Vec<&Backing> = opened.values().collect();
        others.sort_by(|a, b| a.label.cmp(&b.label));
        out.extend(others.into_iter().cloned());
        out
    }

    /// The driver's own volume, if any.
    pub fn default_backing(&self) -> Option<&Backing> {
        self.default.as_ref()
    }
}

/// INVALID_ARGUMENT unless `id` can name a directory.
pub fn check_id(id: &str, field: &str) -> Result<(), Status> {
    crate::status::required(id, field)?;
    if id.len() > 255 || id == "." || id == ".." || id.contains(['/', '\0']) {
        return Err(Status::invalid_argument(format!(
            "{field} {id:?} cannot name a directory (no '/', at most 255 bytes)"
        )));
    }
    Ok(())
}

/// The directory of the CSI volumes of `meta`, if made yet.
pub async fn csi_dir(meta: &Meta) -> Result<Option<u64>, Status> {
    match meta.lookup(ROOT_INO, CSI_DIR.as_bytes()).await {
        Ok((ino, attr)) if attr.kind == FileKind::Dir => Ok(Some(ino)),
        Ok(_) => Err(Status::failed_precondition(format!(
            "/{CSI_DIR} of the volume is not a directory"
        ))),
        Err(err) if err.errno() == libc::ENOENT => Ok(None),
        Err(err) => Err(meta_status(&format!("looking up /{CSI_DIR}"), &err)),
    }
}

/// The directory of the CSI volumes of `meta`, made on first use.
pub async fn make_csi_dir(meta: &Meta) -> Result<u64, Status> {
    if let Some(ino) = csi_dir(meta).await? {
        return Ok(ino);
    }
    let new = NewInode {
        kind: FileKind::Dir,
        perm: 0o755,
        umask: 0,
        rdev: 0,
        target: None,
    };
    match meta
        .create(Caller::ROOT, ROOT_INO, CSI_DIR.as_bytes(), new)
        .await
    {
        Ok((ino, _)) => Ok(ino),
        // Made meanwhile by another call.
        Err(err) if err.errno() == libc::EEXIST => csi_dir(meta)
            .await?
            .ok_or_else(|| Status::internal(format!("/{CSI_DIR} came and went"))),
        Err(err) => Err(meta_status(&format!("making /{CSI_DIR}"), &err)),
    }
}

/// CSI volume `id`'s directory in `meta`, if there is one.
pub async fn find(meta: &Meta, id: &str) -> Result<Option<u64>, Status> {
    match csi_dir(meta).await? {
        Some(dir) => find_in(meta, dir, id).await,
        None => Ok(None),
    }
}

/// CSI volume `id`'s directory in `dir` (the volumes' directory), if there is one.
pub async fn find_in(meta: &Meta, dir: u64, id: &str) -> Result<Option<u64>, Status> {
    match meta.lookup(dir, id.as_bytes()).await {
        Ok((ino, attr)) if attr.kind == FileKind::Dir => Ok(Some(ino)),
        Ok(_) => Ok(None),
        Err(err) if err.errno() == libc::ENOENT => Ok(None),
        Err(err) => Err(meta_status(&format!("looking up volume {id}"), &err)),
    }
}

/// The record of volume `id` at `ino`; `None` while its CreateVolume has not finished.
pub async fn record(meta: &Meta, id: &str, ino: u64) -> Result<Option<VolumeRecord>, Status> {
    match meta.getxattr(ino, RECORD_XATTR).await {
        Ok(bytes) => serde_json::from_slice::<VolumeRecord>(&bytes)
            .map(|record| Some(record).filter(|r| r.id == id))
            .map_err(|err| Status::internal(format!("record of volume {id}: {err}"))),
        Err(err) if matches!(err.errno(), libc::ENODATA | libc::ENOENT) => Ok(None),
        Err(err) => Err(meta_status("reading a volume record", &err)),
    }
}

/// Writes the record of the volume at `ino`.
pub async fn put_record(meta: &Meta, ino: u64, record: &VolumeRecord) -> Result<(), Status> {
    let bytes = serde_json::to_vec(record).map_err(|err| Status::internal(err.to_string()))?;
    meta.setxattr(ino, RECORD_XATTR, &bytes, 0, false)
        .await
        .map_err(|err| meta_status("writing a volume record", &err))
}

/// The path snapshots of volume `id` record as their source.
pub fn source_path(id: &str) -> String {
    format!("/{CSI_DIR}/{id}")
}

/// The volume a snapshot's recorded source names, if it is a CSI volume.
pub fn volume_of_source(source: &str) -> Option<&str> {
    source
        .strip_prefix('/')?
        .strip_prefix(CSI_DIR)?
        .strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains('/'))
}
