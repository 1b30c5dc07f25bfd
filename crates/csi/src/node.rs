//! The Node service. Staging a volume starts one `datenlord mount --subdir /csi/<id>` daemon
//! at the staging path — one per CSI volume per node, so each volume gets its own mount
//! options and cache sizes (its parameters), its quota as the mount's size, and a crash of
//! one daemon touches one volume. Publishing bind-mounts the staged mount into the pod.
//! The daemons run in their own process groups, outside the driver: the node plugin can stop,
//! restart or be upgraded while pods keep their mounts, and finds them again in mountinfo.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use crate::mounts::{self, DATENLORD_FSTYPE, MountState};
use crate::params;
use crate::pb::node_service_capability::{self, rpc};
use crate::pb::volume_capability::AccessType;
use crate::pb::volume_capability::access_mode::Mode;
use crate::pb::{self, node_server};
use crate::server::DriverConfig;
use crate::status::required;
use crate::volumes::{self, METAURL_SECRET, Volumes, check_id, source_path};

/// How long a mount daemon may take to come up (it opens the engine and the store).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a mount may take to answer a look at it (a hung daemon does not answer).
const LOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers Node calls for one driver process.
#[derive(Debug)]
pub(crate) struct NodeService {
    pub(crate) config: Arc<DriverConfig>,
    pub(crate) volumes: Arc<Volumes>,
}

/// Runs a blocking look at the mounts off the async threads, bounded in time.
async fn blocking<T: Send + 'static>(
    what: String,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Status> {
    let task = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(LOOK_TIMEOUT, task).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(err))) => Err(Status::internal(format!("{what}: {err}"))),
        Ok(Err(err)) => Err(Status::internal(format!("{what}: {err}"))),
        Err(_) => Err(Status::unavailable(format!(
            "{what}: no answer in {} s (a hung mount?)",
            LOOK_TIMEOUT.as_secs()
        ))),
    }
}

async fn state_of(path: &Path) -> Result<MountState, Status> {
    let owned = path.to_path_buf();
    blocking(format!("looking at {}", path.display()), move || {
        mounts::state(&owned)
    })
    .await
}

async fn unmount(path: &Path) -> Result<(), Status> {
    let owned = path.to_path_buf();
    blocking(format!("unmounting {}", path.display()), move || {
        mounts::unmount(&owned)
    })
    .await
}

/// `path` as mountinfo names it: absolute, its directory with symbolic links resolved (a CO
/// may hand a path through a link; mountinfo shows where mounts really are). The last
/// component is kept as given, since it may be a mount whose daemon is gone.
fn absolute(path: &str, field: &str) -> Result<PathBuf, Status> {
    required(path, field)?;
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(Status::invalid_argument(format!(
            "{field} {} must be absolute",
            path.display()
        )));
    }
    let resolved = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir).ok().map(|dir| dir.join(name)),
        _ => None,
    };
    Ok(resolved.unwrap_or(path))
}

/// What a capability asks of a mount.
struct MountRequest {
    /// Its mount options.
    flags: Vec<String>,
    /// A reader-only access mode.
    reader_only: bool,
    /// SINGLE_NODE_SINGLE_WRITER: published at one target path at a time.
    one_target: bool,
}

/// What a capability asks of a mount, INVALID_ARGUMENT unless it is a mount capability.
fn mount_request(capability: Option<&pb::VolumeCapability>) -> Result<MountRequest, Status> {
    let capability =
        capability.ok_or_else(|| Status::invalid_argument("volume_capability is required"))?;
    let flags = match &capability.access_type {
        Some(AccessType::Mount(mount)) => mount.mount_flags.clone(),
        Some(AccessType::Block(_)) => {
            return Err(Status::invalid_argument(
                "block volumes are not served: DatenLord volumes are filesystems",
            ));
        }
        None => {
            return Err(Status::invalid_argument(
                "volume_capability needs an access type",
            ));
        }
    };
    let mode = capability.access_mode.as_ref().map(|m| m.mode);
    let reader_only = [
        Mode::SingleNodeReaderOnly as i32,
        Mode::MultiNodeReaderOnly as i32,
    ];
    Ok(MountRequest {
        flags,
        reader_only: mode.is_some_and(|m| reader_only.contains(&m)),
        one_target: mode == Some(Mode::SingleNodeSingleWriter as i32),
    })
}

impl NodeService {
    /// Starts the mount daemon of volume `id` at `staging` and waits until it serves.
    async fn stage(
        &self,
        id: &str,
        staging: &Path,
        secrets: &HashMap<String, String>,
        (flags, read_only): (Vec<String>, bool),
        replace_dead: bool,
    ) -> Result<(), Status> {
        let Some(binary) = &self.config.binary else {
            return Err(Status::failed_precondition(
                "this driver was built without a mount program",
            ));
        };
        let backing = self.volumes.resolve(secrets).await?;
        let ino = volumes::find(&backing.meta, id)
            .await?
            .ok_or_else(|| Status::not_found(format!("no volume {id}")))?;
        let record = volumes::record(&backing.meta, id, ino)
            .await?
            .ok_or_else(|| Status::not_found(format!("no volume {id} (not finished)")))?;
        // A dead mount's directory cannot be looked at, but it is there.
        if !replace_dead {
            tokio::fs::create_dir_all(staging)
                .await
                .map_err(|err| Status::internal(format!("making {}: {err}", staging.display())))?;
        }

        let mut args: Vec<String> = vec![
            "mount".into(),
            "-d".into(),
            staging.display().to_string(),
            "--subdir".into(),
            source_path(id),
        ];
        if replace_dead {
            args.push("--clean-stale".into());
        }
        if let Some(root) = &self.config.cache_root {
            args.push("--cache-dir".into());
            args.push(root.join("csi").join(id).display().to_string());
        }
        for key in params::MOUNT_OPTIONS {
            match (*key, record.parameters.get(*key)) {
                ("writeback-cache", Some(value)) if value == "true" => {
                    args.push("--writeback-cache".into());
                }
                ("writeback-cache", _) | (_, None) => {}
                (key, Some(value)) => {
                    args.push(format!("--{key}"));
                    args.push(value.clone());
                }
            }
        }
        let mut options = flags;
        if read_only {
            options.push("ro".into());
        }
        if !options.is_empty() {
            args.push("-o".into());
            args.push(options.join(","));
        }
        let mut command = tokio::process::Command::new(binary);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: signals meant for the driver (a terminal's, a stop) spare it.
            .process_group(0)
            .kill_on_drop(false);
        // The scheduler extender finds where each volume's data is warm by this name.
        command.env(datenlord_meta::NODE_NAME_ENV, &self.config.node_id);
        // The URL travels in the environment: arguments are visible to every user (ps).
        if let Some(url) = secrets
            .get(METAURL_SECRET)
            .or(self.config.meta_url.as_ref())
        {
            command.env("DATENLORD_META", url);
        }
        tracing::info!(volume = id, staging = %staging.display(), ?args, "staging a volume");
        let output = tokio::time::timeout(MOUNT_TIMEOUT, command.output())
            .await
            .map_err(|_| {
                Status::deadline_exceeded(format!(
                    "the mount of volume {id} did not come up in {} s",
                    MOUNT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|err| Status::internal(format!("starting {}: {err}", binary.display())))?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(Status::internal(format!(
                "mounting volume {id} at {}: {}",
                staging.display(),
                said.trim()
            )));
        }
        Ok(())
    }

    /// Stages volume `id` unless it is staged at `staging` already; a mount whose daemon
    /// died is replaced.
    async fn ensure_staged(
        &self,
        id: &str,
        staging: &Path,
        secrets: &HashMap<String, String>,
        flags: (Vec<String>, bool),
    ) -> Result<(), Status> {
        match state_of(staging).await? {
            MountState::Live(entry) if entry.fstype == DATENLORD_FSTYPE => Ok(()),
            MountState::Live(entry) => Err(Status::already_exists(format!(
                "{} has another mount ({})",
                staging.display(),
                entry.fstype
            ))),
            MountState::Dead(_) => {
                tracing::warn!(volume = id, staging = %staging.display(), "the mount daemon died; replacing it");
                self.stage(id, staging, secrets, flags, true).await
            }
            MountState::NotMounted => self.stage(id, staging, secrets, flags, false).await,
        }
    }
}

fn rpc_capability(kind: rpc::Type) -> pb::NodeServiceCapability {
    pb::NodeServiceCapability {
        r#type: Some(node_service_capability::Type::Rpc(
            node_service_capability::Rpc {
                r#type: kind as i32,
            },
        )),
    }
}

#[tonic::async_trait]
impl node_server::Node for NodeService {
    async fn node_stage_volume(
        &self,
        request: Request<pb::NodeStageVolumeRequest>,
    ) -> Result<Response<pb::NodeStageVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let staging = absolute(&req.staging_target_path, "staging_target_path")?;
        let asked = mount_request(req.volume_capability.as_ref())?;
        check_id(&req.volume_id, "volume_id")
            .map_err(|_| Status::not_found(format!("no volume {}", req.volume_id)))?;
        self.ensure_staged(
            &req.volume_id,
            &staging,
            &req.secrets,
            (asked.flags, asked.reader_only),
        )
        .await?;
        Ok(Response::new(pb::NodeStageVolumeResponse {}))
    }

    async fn node_unstage_volume(
        &self,
        request: Request<pb::NodeUnstageVolumeRequest>,
    ) -> Result<Response<pb::NodeUnstageVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let staging = absolute(&req.staging_target_path, "staging_target_path")?;
        if state_of(&staging).await? != MountState::NotMounted {
            unmount(&staging).await?;
            tracing::info!(volume = %req.volume_id, staging = %staging.display(), "unstaged a volume");
        }
        Ok(Response::new(pb::NodeUnstageVolumeResponse {}))
    }

    async fn node_publish_volume(
        &self,
        request: Request<pb::NodePublishVolumeRequest>,
    ) -> Result<Response<pb::NodePublishVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let staging = absolute(&req.staging_target_path, "staging_target_path")?;
        let target = absolute(&req.target_path, "target_path")?;
        let MountRequest {
            flags,
            reader_only,
            one_target,
        } = mount_request(req.volume_capability.as_ref())?;
        check_id(&req.volume_id, "volume_id")
            .map_err(|_| Status::not_found(format!("no volume {}", req.volume_id)))?;
        let read_only = req.readonly || reader_only;
        match state_of(&staging).await? {
            MountState::Live(entry) if entry.fstype == DATENLORD_FSTYPE => {}
            MountState::Dead(_) => {
                self.ensure_staged(
                    &req.volume_id,
                    &staging,
                    &req.secrets,
                    (flags.clone(), false),
                )
                .await?;
            }
            _ => {
                return Err(Status::failed_precondition(format!(
                    "volume {} is not staged at {}",
                    req.volume_id,
                    staging.display()
                )));
            }
        }
        match state_of(&target).await? {
            MountState::Live(entry) if entry.fstype == DATENLORD_FSTYPE => {
                if entry.read_only() != read_only {
                    return Err(Status::already_exists(format!(
                        "{} is published already, {}",
                        target.display(),
                        if entry.read_only() {
                            "read-only"
                        } else {
                            "read-write"
                        }
                    )));
                }
                return Ok(Response::new(pb::NodePublishVolumeResponse {}));
            }
            MountState::Live(entry) => {
                return Err(Status::already_exists(format!(
                    "{} has another mount ({})",
                    target.display(),
                    entry.fstype
                )));
            }
            // A bind of a mount whose daemon died: bound again to the live one.
            MountState::Dead(_) => unmount(&target).await?,
            MountState::NotMounted => {}
        }
        if one_target {
            let (from, to) = (staging.clone(), target.clone());
            let others = blocking(
                format!("reading the mounts of {}", staging.display()),
                move || mounts::other_binds(&from, &to),
            )
            .await?;
            if let Some(other) = others.first() {
                return Err(Status::failed_precondition(format!(
                    "volume {} is single-writer and published at {} already",
                    req.volume_id,
                    other.display()
                )));
            }
        }
        tokio::fs::create_dir_all(&target)
            .await
            .map_err(|err| Status::internal(format!("making {}: {err}", target.display())))?;
        let (from, to) = (staging.clone(), target.clone());
        blocking(format!("binding {}", target.display()), move || {
            mounts::bind(&from, &to, read_only, &flags)
        })
        .await?;
        tracing::info!(volume = %req.volume_id, target = %target.display(), read_only, "published a volume");
        Ok(Response::new(pb::NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<pb::NodeUnpublishVolumeRequest>,
    ) -> Result<Response<pb::NodeUnpublishVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let target = absolute(&req.target_path, "target_path")?;
        if state_of(&target).await? != MountState::NotMounted {
            unmount(&target).await?;
            tracing::info!(volume = %req.volume_id, target = %target.display(), "unpublished a volume");
        }
        match tokio::fs::remove_dir(&target).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(Status::internal(format!(
                    "removing {}: {err}",
                    target.display()
                )));
            }
            _ => {}
        }
        Ok(Response::new(pb::NodeUnpublishVolumeResponse {}))
    }

    async fn node_get_volume_stats(
        &self,
        request: Request<pb::NodeGetVolumeStatsRequest>,
    ) -> Result<Response<pb::NodeGetVolumeStatsResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        required(&req.volume_path, "volume_path")?;
        let path = PathBuf::from(&req.volume_path);
        let not_found = || {
            Status::not_found(format!(
                "{} is no mount of volume {}",
                path.display(),
                req.volume_id
            ))
        };
        let state = state_of(&path).await?;
        let abnormal = |message: String| {
            Response::new(pb::NodeGetVolumeStatsResponse {
                usage: Vec::new(),
                volume_condition: Some(pb::VolumeCondition {
                    abnormal: true,
                    message,
                }),
            })
        };
        match state {
            MountState::NotMounted => return Err(not_found()),
            MountState::Live(entry) if entry.fstype != DATENLORD_FSTYPE => return Err(not_found()),
            MountState::Dead(_) => {
                return Ok(abnormal(
                    "the volume's mount daemon is gone: the next stage or publish replaces it"
                        .into(),
                ));
            }
            MountState::Live(_) => {}
        }
        let owned = path.clone();
        let stats = match blocking(format!("statfs {}", path.display()), move || {
            mounts::usage(&owned)
        })
        .await
        {
            Ok(stats) => stats,
            Err(status) => return Ok(abnormal(status.message().to_string())),
        };
        let block = stats.fragment_size();
        let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(block)).unwrap_or(i64::MAX);
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let usage = vec![
            pb::VolumeUsage {
                available: bytes(stats.blocks_available()),
                total: bytes(stats.blocks()),
                used: bytes(stats.blocks().saturating_sub(stats.blocks_free())),
                unit: pb::volume_usage::Unit::Bytes as i32,
            },
            pb::VolumeUsage {
                available: count(stats.files_available()),
                total: count(stats.files()),
                used: count(stats.files().saturating_sub(stats.files_free())),
                unit: pb::volume_usage::Unit::Inodes as i32,
            },
        ];
        Ok(Response::new(pb::NodeGetVolumeStatsResponse {
            usage,
            volume_condition: Some(pb::VolumeCondition {
                abnormal: false,
                message: "the volume's mount answers".into(),
            }),
        }))
    }

    async fn node_expand_volume(
        &self,
        request: Request<pb::NodeExpandVolumeRequest>,
    ) -> Result<Response<pb::NodeExpandVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let path = absolute(&req.volume_path, "volume_path")?;
        if tokio::fs::metadata(&path).await.is_err() {
            return Err(Status::not_found(format!("no {}", path.display())));
        }
        // The quota, raised by the controller, is the size every mount reports already.
        let capacity = req
            .capacity_range
            .map_or(0, |r| r.required_bytes.max(r.limit_bytes));
        Ok(Response::new(pb::NodeExpandVolumeResponse {
            capacity_bytes: capacity,
        }))
    }

    async fn node_get_capabilities(
        &self,
        _: Request<pb::NodeGetCapabilitiesRequest>,
    ) -> Result<Response<pb::NodeGetCapabilitiesResponse>, Status> {
        let capabilities = [
            rpc::Type::StageUnstageVolume,
            rpc::Type::GetVolumeStats,
            rpc::Type::VolumeCondition,
            rpc::Type::SingleNodeMultiWriter,
        ]
        .into_iter()
        .map(rpc_capability)
        .collect();
        Ok(Response::new(pb::NodeGetCapabilitiesResponse {
            capabilities,
        }))
    }

    async fn node_get_info(
        &self,
        _: Request<pb::NodeGetInfoRequest>,
    ) -> Result<Response<pb::NodeGetInfoResponse>, Status> {
        let topology = (!self.config.topology.is_empty()).then(|| pb::Topology {
            segments: self
                .config
                .topology
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
        Ok(Response::new(pb::NodeGetInfoResponse {
            node_id: self.config.node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology: topology,
        }))
    }
}
