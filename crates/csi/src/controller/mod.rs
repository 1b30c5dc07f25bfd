//! The Controller service: volumes (directories with quotas) and snapshots (metadata-only
//! clones) made, listed, grown, changed and removed, each call idempotent as the CSI spec
//! asks — a repeated call answers what the first made, a different one under the same name
//! is ALREADY_EXISTS.

use std::collections::BTreeMap;
use std::sync::Arc;

use datenlord_meta::{Caller, FileKind, Meta, NewInode, QuotaLimits, SnapshotInfo};
use tonic::{Request, Response, Status};

mod answers;
mod paging;
mod requests;

use answers::{condition, to_snapshot, to_volume};
use paging::page;
use requests::{capacity, check_capabilities, fits, unsupported};

use crate::params;
use crate::pb::controller_service_capability::{self, rpc};
use crate::pb::volume_content_source::Type as ContentType;
use crate::pb::{self, controller_server};
use crate::status::{meta_status, required};
use crate::volumes::{
    self, Backing, Source, VolumeRecord, Volumes, check_id, find, make_csi_dir, record,
    source_path, volume_of_source,
};

/// Answers Controller calls for one driver process.
#[derive(Debug)]
pub(crate) struct ControllerService {
    pub(crate) volumes: Arc<Volumes>,
}

/// Who builds a clone: this process, so that a clone it leaves unfinished is found dead.
fn builder() -> (String, String) {
    (datenlord_vfs::this_host(), datenlord_vfs::host_identity())
}

impl ControllerService {
    /// Volume `id`'s directory and record in `meta`; NOT_FOUND when there is no such volume
    /// (or its CreateVolume has not finished).
    async fn existing(&self, meta: &Meta, id: &str) -> Result<(u64, VolumeRecord), Status> {
        let missing = || Status::not_found(format!("no volume {id}"));
        if check_id(id, "volume_id").is_err() {
            return Err(missing());
        }
        let ino = find(meta, id).await?.ok_or_else(missing)?;
        let record = record(meta, id, ino).await?.ok_or_else(missing)?;
        Ok((ino, record))
    }

    /// Makes the directory of a new volume `id` (empty, or a clone of its source) with its
    /// quota; EEXIST (as a status) when the name is taken meanwhile.
    async fn make(
        &self,
        meta: &Meta,
        dir: u64,
        wanted: &VolumeRecord,
        limits: QuotaLimits,
    ) -> Result<u64, Status> {
        let id = &wanted.id;
        let (host, host_id) = builder();
        let made = match &wanted.source {
            None => {
                // Pods run as any user: the volume's root is theirs to write, as a fresh
                // filesystem's would be made by its mkfs for them.
                let new = NewInode {
                    kind: FileKind::Dir,
                    perm: 0o777,
                    umask: 0,
                    rdev: 0,
                    target: None,
                };
                match meta.create(Caller::ROOT, dir, id.as_bytes(), new).await {
                    Ok((ino, _)) => meta.set_quota(ino, limits, &|_| {}).await.map(|_| ino),
                    Err(err) => Err(err),
                }
            }
            Some(Source::Snapshot(snapshot)) => {
                check_id(snapshot, "snapshot_id")
                    .map_err(|_| Status::not_found(format!("no snapshot {snapshot}")))?;
                if let Err(err) = meta.snapshot_info(snapshot.as_bytes()).await {
                    return Err(match err.errno() {
                        libc::ENOENT => Status::not_found(format!("no snapshot {snapshot}")),
                        _ => meta_status(&format!("reading snapshot {snapshot}"), &err),
                    });
                }
                meta.restore_snapshot(
                    snapshot.as_bytes(),
                    (dir, id.as_bytes()),
                    Some(limits),
                    (&host, &host_id),
                    &|_| {},
                )
                .await
                .map(|cloned| cloned.ino)
            }
            Some(Source::Volume(source)) => {
                let (src, _) = self
                    .existing(meta, source)
                    .await
                    .map_err(|_| Status::not_found(format!("no volume {source} to clone")))?;
                meta.clone_tree_with_quota(
                    src,
                    dir,
                    id.as_bytes(),
                    Some(limits),
                    (&host, &host_id),
                    &|_| {},
                )
                .await
                .map(|cloned| cloned.ino)
            }
        };
        made.map_err(|err| match err.errno() {
            libc::EDQUOT if wanted.source.is_some() => Status::out_of_range(format!(
                "volume {id}: its source holds more than the {} bytes asked for",
                wanted.capacity
            )),
            _ => meta_status(&format!("making volume {id}"), &err),
        })
    }

    /// The snapshot `id` in `meta` (a snapshot of a CSI volume), if there is one.
    async fn snapshot(&self, meta: &Meta, id: &str) -> Result<Option<SnapshotInfo>, Status> {
        if check_id(id, "snapshot_id").is_err() {
            return Ok(None);
        }
        match meta.snapshot_info(id.as_bytes()).await {
            Ok((_, info)) => Ok(volume_of_source(&info.source).is_some().then_some(info)),
            Err(err) if err.errno() == libc::ENOENT => Ok(None),
            Err(err) if err.errno() == libc::EAGAIN => Err(Status::aborted(format!(
                "snapshot {id} is being taken; ask again"
            ))),
            Err(err) => Err(meta_status(&format!("reading snapshot {id}"), &err)),
        }
    }

    /// Every volume of every DatenLord volume the driver has opened, by id.
    async fn all_volumes(&self) -> Result<BTreeMap<String, (Backing, u64)>, Status> {
        let mut out = BTreeMap::new();
        for backing in self.volumes.all().await {
            let Some(dir) = volumes::csi_dir(&backing.meta).await? else {
                continue;
            };
            let entries = backing
                .meta
                .readdir(dir)
                .await
                .map_err(|err| meta_status("listing volumes", &err))?;
            for (name, dirent) in entries {
                if dirent.kind != FileKind::Dir {
                    continue;
                }
                if let Ok(id) = String::from_utf8(name) {
                    out.entry(id)
                        .or_insert_with(|| (backing.clone(), dirent.ino));
                }
            }
        }
        Ok(out)
    }

    /// Whether volume `ino` is as its record says: its quota in place, within its capacity.
    async fn abnormality(&self, meta: &Meta, ino: u64, record: &VolumeRecord) -> Option<String> {
        match meta.quota(ino).await {
            Ok(Some(quota)) => {
                let used = u64::try_from(quota.used_space).unwrap_or(0);
                (record.capacity != 0 && used > record.capacity).then(|| {
                    format!(
                        "{used} bytes used, above the capacity of {} bytes",
                        record.capacity
                    )
                })
            }
            Ok(None) => Some("the volume's directory has lost its quota".into()),
            Err(err) => Some(format!("cannot read the volume's quota: {err}")),
        }
    }

    async fn volume_entry(
        &self,
        backing: &Backing,
        id: &str,
        ino: u64,
    ) -> Result<Option<(pb::Volume, pb::VolumeCondition)>, Status> {
        let Some(record) = record(&backing.meta, id, ino).await? else {
            return Ok(None);
        };
        let abnormal = self.abnormality(&backing.meta, ino, &record).await;
        Ok(Some((to_volume(&record), condition(abnormal))))
    }
}

fn rpc_capability(kind: rpc::Type) -> pb::ControllerServiceCapability {
    pb::ControllerServiceCapability {
        r#type: Some(controller_service_capability::Type::Rpc(
            controller_service_capability::Rpc {
                r#type: kind as i32,
            },
        )),
    }
}

#[tonic::async_trait]
impl controller_server::Controller for ControllerService {
    async fn create_volume(
        &self,
        request: Request<pb::CreateVolumeRequest>,
    ) -> Result<Response<pb::CreateVolumeResponse>, Status> {
        let req = request.into_inner();
        check_id(&req.name, "name")?;
        check_capabilities(&req.volume_capabilities)?;
        let capacity = capacity(req.capacity_range.as_ref())?;
        let mut parameters = params::checked(&req.parameters)?;
        parameters.extend(params::checked(&req.mutable_parameters)?);
        let source = match req.volume_content_source.and_then(|s| s.r#type) {
            Some(ContentType::Snapshot(s)) => Some(Source::Snapshot(s.snapshot_id)),
            Some(ContentType::Volume(v)) => Some(Source::Volume(v.volume_id)),
            None => None,
        };
        let limits = QuotaLimits {
            capacity,
            inodes: params::inode_limit(&parameters),
        };
        // What csi-provisioner --extra-create-metadata adds.
        let claim = match (
            req.parameters.get("csi.storage.k8s.io/pvc/namespace"),
            req.parameters.get("csi.storage.k8s.io/pvc/name"),
        ) {
            (Some(namespace), Some(name)) => Some(format!("{namespace}/{name}")),
            _ => None,
        };
        let wanted = VolumeRecord {
            id: req.name.clone(),
            capacity,
            source,
            parameters,
            claim,
        };
        let backing = self.volumes.resolve(&req.secrets).await?;
        let meta = &backing.meta;
        let dir = make_csi_dir(meta).await?;
        let mut made_now = false;
        let ino = match volumes::find_in(meta, dir, &wanted.id).await? {
            Some(ino) => ino,
            None => match self.make(meta, dir, &wanted, limits).await {
                Ok(ino) => {
                    made_now = true;
                    ino
                }
                // Made meanwhile by a call like this one: answered below as a repeat.
                Err(status) if status.code() == tonic::Code::AlreadyExists => {
                    volumes::find_in(meta, dir, &wanted.id)
                        .await?
                        .ok_or(status)?
                }
                Err(status) => return Err(status),
            },
        };
        let existing = match made_now {
            true => None,
            false => record(meta, &wanted.id, ino).await?,
        };
        let answer = match existing {
            Some(existing) => {
                if !fits(existing.capacity, req.capacity_range.as_ref())
                    || existing.source != wanted.source
                    || existing.parameters != wanted.parameters
                {
                    return Err(Status::already_exists(format!(
                        "volume {} exists with another capacity, source or parameters",
                        wanted.id
                    )));
                }
                existing
            }
            None => {
                // Made now, or by a call that stopped before its record: finished here.
                if !made_now {
                    meta.set_quota(ino, limits, &|_| {})
                        .await
                        .map_err(|err| meta_status(&format!("volume {}", wanted.id), &err))?;
                }
                volumes::put_record(meta, ino, &wanted).await?;
                tracing::info!(
                    volume = %wanted.id,
                    capacity,
                    backing = %backing.label,
                    "created a volume"
                );
                wanted
            }
        };
        Ok(Response::new(pb::CreateVolumeResponse {
            volume: Some(to_volume(&answer)),
        }))
    }

    async fn delete_volume(
        &self,
        request: Request<pb::DeleteVolumeRequest>,
    ) -> Result<Response<pb::DeleteVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        // An id that cannot name a volume names none: deleting it is done already.
        if check_id(&req.volume_id, "volume_id").is_err() {
            return Ok(Response::new(pb::DeleteVolumeResponse {}));
        }
        let backing = self.volumes.resolve(&req.secrets).await?;
        let Some(dir) = volumes::csi_dir(&backing.meta).await? else {
            return Ok(Response::new(pb::DeleteVolumeResponse {}));
        };
        match backing.meta.trash_tree(dir, req.volume_id.as_bytes()).await {
            Ok(trashed) => tracing::info!(
                volume = %req.volume_id,
                trashed,
                backing = %backing.label,
                "deleted a volume"
            ),
            Err(err) if matches!(err.errno(), libc::ENOENT | libc::ENOTDIR) => {}
            Err(err) => {
                return Err(meta_status(
                    &format!("deleting volume {}", req.volume_id),
                    &err,
                ));
            }
        }
        Ok(Response::new(pb::DeleteVolumeResponse {}))
    }

    async fn controller_publish_volume(
        &self,
        _: Request<pb::ControllerPublishVolumeRequest>,
    ) -> Result<Response<pb::ControllerPublishVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "DatenLord volumes need no attaching: nodes mount them directly",
        ))
    }

    async fn controller_unpublish_volume(
        &self,
        _: Request<pb::ControllerUnpublishVolumeRequest>,
    ) -> Result<Response<pb::ControllerUnpublishVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "DatenLord volumes need no attaching: nodes mount them directly",
        ))
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<pb::ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<pb::ValidateVolumeCapabilitiesResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        if req.volume_capabilities.is_empty() {
            return Err(Status::invalid_argument("volume_capabilities is required"));
        }
        let backing = self.volumes.resolve(&req.secrets).await?;
        self.existing(&backing.meta, &req.volume_id).await?;
        let checked =
            params::checked(&req.parameters).and_then(|_| params::checked(&req.mutable_parameters));
        let why = match checked {
            Err(status) => Some(status.message().to_string()),
            Ok(_) => req.volume_capabilities.iter().find_map(unsupported),
        };
        let answer = match why {
            Some(message) => pb::ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message,
            },
            None => pb::ValidateVolumeCapabilitiesResponse {
                confirmed: Some(pb::validate_volume_capabilities_response::Confirmed {
                    volume_context: req.volume_context,
                    volume_capabilities: req.volume_capabilities,
                    parameters: req.parameters,
                    mutable_parameters: req.mutable_parameters,
                }),
                message: String::new(),
            },
        };
        Ok(Response::new(answer))
    }

    async fn list_volumes(
        &self,
        request: Request<pb::ListVolumesRequest>,
    ) -> Result<Response<pb::ListVolumesResponse>, Status> {
        let req = request.into_inner();
        let all = self.all_volumes().await?;
        let (ids, next_token) = page(all, req.max_entries, &req.starting_token)?;
        let mut entries = Vec::with_capacity(ids.len());
        for (id, (backing, ino)) in ids {
            // One whose CreateVolume has not finished is not a volume yet.
            if let Some((volume, condition)) = self.volume_entry(&backing, &id, ino).await? {
                entries.push(pb::list_volumes_response::Entry {
                    volume: Some(volume),
                    status: Some(pb::list_volumes_response::VolumeStatus {
                        published_node_ids: Vec::new(),
                        volume_condition: Some(condition),
                    }),
                });
            }
        }
        Ok(Response::new(pb::ListVolumesResponse {
            entries,
            next_token,
        }))
    }

    async fn get_capacity(
        &self,
        request: Request<pb::GetCapacityRequest>,
    ) -> Result<Response<pb::GetCapacityResponse>, Status> {
        let req = request.into_inner();
        if let Some(why) = req.volume_capabilities.iter().find_map(unsupported) {
            return Err(Status::invalid_argument(why));
        }
        // Room is what the quota over the volumes (on /csi, else on /) leaves; an object
        // store has no other bound worth reporting.
        let mut available = i64::MAX;
        if let Some(backing) = self.volumes.default_backing() {
            let meta = &backing.meta;
            let dir = volumes::csi_dir(meta).await?;
            for ino in dir.into_iter().chain([datenlord_meta::ROOT_INO]) {
                let quota = meta
                    .quota(ino)
                    .await
                    .map_err(|err| meta_status("reading the quota over the volumes", &err))?;
                if let Some(quota) = quota.filter(|q| q.capacity != 0) {
                    let used = u64::try_from(quota.used_space).unwrap_or(0);
                    let room = quota.capacity.saturating_sub(used);
                    available = i64::try_from(room).unwrap_or(i64::MAX);
                    break;
                }
            }
        }
        Ok(Response::new(pb::GetCapacityResponse {
            available_capacity: available,
            maximum_volume_size: None,
            minimum_volume_size: None,
        }))
    }

    async fn controller_get_capabilities(
        &self,
        _: Request<pb::ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<pb::ControllerGetCapabilitiesResponse>, Status> {
        let capabilities = [
            rpc::Type::CreateDeleteVolume,
            rpc::Type::ListVolumes,
            rpc::Type::GetCapacity,
            rpc::Type::CreateDeleteSnapshot,
            rpc::Type::ListSnapshots,
            rpc::Type::GetSnapshot,
            rpc::Type::CloneVolume,
            rpc::Type::ExpandVolume,
            rpc::Type::GetVolume,
            rpc::Type::VolumeCondition,
            rpc::Type::SingleNodeMultiWriter,
            rpc::Type::ModifyVolume,
        ]
        .into_iter()
        .map(rpc_capability)
        .collect();
        Ok(Response::new(pb::ControllerGetCapabilitiesResponse {
            capabilities,
        }))
    }

    async fn create_snapshot(
        &self,
        request: Request<pb::CreateSnapshotRequest>,
    ) -> Result<Response<pb::CreateSnapshotResponse>, Status> {
        let req = request.into_inner();
        required(&req.source_volume_id, "source_volume_id")?;
        check_id(&req.name, "name")?;
        if let Some(key) = req
            .parameters
            .keys()
            .find(|k| !k.starts_with("csi.storage.k8s.io/"))
        {
            return Err(Status::invalid_argument(format!(
                "unknown snapshot parameter {key:?}: DatenLord snapshots take none"
            )));
        }
        let backing = self.volumes.resolve(&req.secrets).await?;
        let meta = &backing.meta;
        let source = source_path(&req.source_volume_id);
        let answer = |info: &SnapshotInfo| -> Result<Response<pb::CreateSnapshotResponse>, Status> {
            if info.source != source {
                return Err(Status::already_exists(format!(
                    "snapshot {} exists, of another volume",
                    req.name
                )));
            }
            Ok(Response::new(pb::CreateSnapshotResponse {
                snapshot: Some(to_snapshot(&req.name, info)),
            }))
        };
        if let Some(info) = self.snapshot(meta, &req.name).await? {
            return answer(&info);
        }
        let (src, _) = self.existing(meta, &req.source_volume_id).await?;
        let (host, host_id) = builder();
        let taken = meta
            .create_snapshot(
                src,
                &source,
                req.name.as_bytes(),
                (&host, &host_id),
                &|_| {},
            )
            .await;
        match taken {
            Ok(cloned) => tracing::info!(
                snapshot = %req.name,
                volume = %req.source_volume_id,
                inodes = cloned.inodes,
                "took a snapshot"
            ),
            Err(err) if err.errno() == libc::EEXIST => {}
            Err(err) => {
                return Err(meta_status(&format!("taking snapshot {}", req.name), &err));
            }
        }
        match self.snapshot(meta, &req.name).await? {
            Some(info) => answer(&info),
            None => Err(Status::already_exists(format!(
                "the name {} is taken by a snapshot of no CSI volume",
                req.name
            ))),
        }
    }

    async fn delete_snapshot(
        &self,
        request: Request<pb::DeleteSnapshotRequest>,
    ) -> Result<Response<pb::DeleteSnapshotResponse>, Status> {
        let req = request.into_inner();
        required(&req.snapshot_id, "snapshot_id")?;
        let backing = self.volumes.resolve(&req.secrets).await?;
        if self
            .snapshot(&backing.meta, &req.snapshot_id)
            .await?
            .is_some()
        {
            match backing
                .meta
                .delete_snapshot(req.snapshot_id.as_bytes())
                .await
            {
                Ok(()) => tracing::info!(snapshot = %req.snapshot_id, "deleted a snapshot"),
                Err(err) if err.errno() == libc::ENOENT => {}
                Err(err) => {
                    return Err(meta_status(
                        &format!("deleting snapshot {}", req.snapshot_id),
                        &err,
                    ));
                }
            }
        }
        Ok(Response::new(pb::DeleteSnapshotResponse {}))
    }

    async fn list_snapshots(
        &self,
        request: Request<pb::ListSnapshotsRequest>,
    ) -> Result<Response<pb::ListSnapshotsResponse>, Status> {
        let req = request.into_inner();
        let backing = self.volumes.resolve(&req.secrets).await?;
        let mut found = BTreeMap::new();
        if req.snapshot_id.is_empty() {
            let all = backing
                .meta
                .snapshots()
                .await
                .map_err(|err| meta_status("listing snapshots", &err))?;
            for (name, _, info) in all {
                if let Ok(id) = String::from_utf8(name) {
                    found.insert(id, info);
                }
            }
        } else if let Some(info) = self.snapshot(&backing.meta, &req.snapshot_id).await? {
            found.insert(req.snapshot_id.clone(), info);
        }
        found.retain(|_, info| match volume_of_source(&info.source) {
            Some(volume) => req.source_volume_id.is_empty() || volume == req.source_volume_id,
            None => false,
        });
        let (snapshots, next_token) = page(found, req.max_entries, &req.starting_token)?;
        let entries = snapshots
            .iter()
            .map(|(id, info)| pb::list_snapshots_response::Entry {
                snapshot: Some(to_snapshot(id, info)),
            })
            .collect();
        Ok(Response::new(pb::ListSnapshotsResponse {
            entries,
            next_token,
        }))
    }

    async fn get_snapshot(
        &self,
        request: Request<pb::GetSnapshotRequest>,
    ) -> Result<Response<pb::GetSnapshotResponse>, Status> {
        let req = request.into_inner();
        required(&req.snapshot_id, "snapshot_id")?;
        let backing = self.volumes.resolve(&req.secrets).await?;
        let info = self
            .snapshot(&backing.meta, &req.snapshot_id)
            .await?
            .ok_or_else(|| Status::not_found(format!("no snapshot {}", req.snapshot_id)))?;
        Ok(Response::new(pb::GetSnapshotResponse {
            snapshot: Some(to_snapshot(&req.snapshot_id, &info)),
        }))
    }

    async fn controller_expand_volume(
        &self,
        request: Request<pb::ControllerExpandVolumeRequest>,
    ) -> Result<Response<pb::ControllerExpandVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let Some(range) = req.capacity_range.as_ref() else {
            return Err(Status::invalid_argument("capacity_range is required"));
        };
        let wanted = capacity(Some(range))?;
        if wanted == 0 {
            return Err(Status::invalid_argument(
                "capacity_range: required_bytes or limit_bytes must be set",
            ));
        }
        if let Some(why) = req.volume_capability.as_ref().and_then(unsupported) {
            return Err(Status::invalid_argument(why));
        }
        let backing = self.volumes.resolve(&req.secrets).await?;
        let meta = &backing.meta;
        let (ino, mut record) = self.existing(meta, &req.volume_id).await?;
        let limit = u64::try_from(range.limit_bytes).unwrap_or(0);
        if limit != 0 && record.capacity > limit {
            return Err(Status::out_of_range(format!(
                "volume {} has {} bytes already, above limit_bytes {limit}: volumes do not shrink",
                req.volume_id, record.capacity
            )));
        }
        // A volume without a limit has room for anything already; one with a larger one too.
        if record.capacity != 0 && record.capacity < wanted {
            let limits = QuotaLimits {
                capacity: wanted,
                inodes: params::inode_limit(&record.parameters),
            };
            meta.set_quota(ino, limits, &|_| {})
                .await
                .map_err(|err| meta_status(&format!("expanding volume {}", req.volume_id), &err))?;
            record.capacity = wanted;
            volumes::put_record(meta, ino, &record).await?;
            tracing::info!(volume = %req.volume_id, capacity = wanted, "expanded a volume");
        }
        Ok(Response::new(pb::ControllerExpandVolumeResponse {
            capacity_bytes: i64::try_from(record.capacity).unwrap_or(i64::MAX),
            // The quota is the size every mount reports: nothing to do on the nodes.
            node_expansion_required: false,
        }))
    }

    async fn controller_get_volume(
        &self,
        request: Request<pb::ControllerGetVolumeRequest>,
    ) -> Result<Response<pb::ControllerGetVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let missing = || Status::not_found(format!("no volume {}", req.volume_id));
        if check_id(&req.volume_id, "volume_id").is_err() {
            return Err(missing());
        }
        for backing in self.volumes.all().await {
            let Some(ino) = find(&backing.meta, &req.volume_id).await? else {
                continue;
            };
            if let Some((volume, condition)) =
                self.volume_entry(&backing, &req.volume_id, ino).await?
            {
                return Ok(Response::new(pb::ControllerGetVolumeResponse {
                    volume: Some(volume),
                    status: Some(pb::controller_get_volume_response::VolumeStatus {
                        published_node_ids: Vec::new(),
                        volume_condition: Some(condition),
                    }),
                }));
            }
        }
        Err(missing())
    }

    async fn controller_modify_volume(
        &self,
        request: Request<pb::ControllerModifyVolumeRequest>,
    ) -> Result<Response<pb::ControllerModifyVolumeResponse>, Status> {
        let req = request.into_inner();
        required(&req.volume_id, "volume_id")?;
        let changes = params::checked(&req.mutable_parameters)?;
        let backing = self.volumes.resolve(&req.secrets).await?;
        let meta = &backing.meta;
        let (ino, mut record) = self.existing(meta, &req.volume_id).await?;
        let inodes_before = params::inode_limit(&record.parameters);
        record.parameters.extend(changes);
        let inodes = params::inode_limit(&record.parameters);
        if inodes != inodes_before {
            let limits = QuotaLimits {
                capacity: record.capacity,
                inodes,
            };
            meta.set_quota(ino, limits, &|_| {})
                .await
                .map_err(|err| meta_status(&format!("modifying volume {}", req.volume_id), &err))?;
        }
        volumes::put_record(meta, ino, &record).await?;
        tracing::info!(volume = %req.volume_id, "modified a volume");
        Ok(Response::new(pb::ControllerModifyVolumeResponse {}))
    }
}
