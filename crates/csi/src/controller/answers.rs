//! What Controller calls answer with: volumes, snapshots and volume conditions as the CSI
//! messages name them.

use std::collections::HashMap;

use datenlord_meta::SnapshotInfo;

use crate::pb;
use crate::pb::volume_content_source::{SnapshotSource, Type as ContentType, VolumeSource};
use crate::volumes::{Source, VolumeRecord, source_path, volume_of_source};

fn content_source(source: Option<&Source>) -> Option<pb::VolumeContentSource> {
    let kind = match source? {
        Source::Snapshot(id) => ContentType::Snapshot(SnapshotSource {
            snapshot_id: id.clone(),
        }),
        Source::Volume(id) => ContentType::Volume(VolumeSource {
            volume_id: id.clone(),
        }),
    };
    Some(pb::VolumeContentSource { r#type: Some(kind) })
}

pub(super) fn to_volume(record: &VolumeRecord) -> pb::Volume {
    let mut context: HashMap<String, String> = record
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    context.insert("path".into(), source_path(&record.id));
    pb::Volume {
        capacity_bytes: i64::try_from(record.capacity).unwrap_or(i64::MAX),
        volume_id: record.id.clone(),
        volume_context: context,
        content_source: content_source(record.source.as_ref()),
        accessible_topology: Vec::new(),
    }
}

pub(super) fn to_snapshot(id: &str, info: &SnapshotInfo) -> pb::Snapshot {
    pb::Snapshot {
        size_bytes: i64::try_from(info.bytes).unwrap_or(i64::MAX),
        snapshot_id: id.to_string(),
        source_volume_id: volume_of_source(&info.source)
            .unwrap_or_default()
            .to_string(),
        creation_time: Some(prost_types::Timestamp {
            seconds: info.created,
            nanos: 0,
        }),
        ready_to_use: true,
        group_snapshot_id: String::new(),
    }
}

/// A paging token: the id of the last entry of the page before, hex-encoded so that a token
pub(super) fn condition(abnormal: Option<String>) -> pb::VolumeCondition {
    pb::VolumeCondition {
        abnormal: abnormal.is_some(),
        message: abnormal.unwrap_or_else(|| "the volume's directory and quota are in place".into()),
    }
}
