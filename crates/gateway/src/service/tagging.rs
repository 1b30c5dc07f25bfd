//! Object tagging and GetObjectAttributes.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::{Gateway, check_tags, ok, tag_set};
use crate::object::{key_path, timestamp};

impl Gateway {
    pub(super) async fn serve_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        let pairs = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let mut record = object.record;
        record.tags = check_tags(pairs)?;
        self.ns.set_record(object.ino, &record).await?;
        ok(PutObjectTaggingOutput { version_id })
    }

    pub(super) async fn serve_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        ok(GetObjectTaggingOutput {
            tag_set: tag_set(&object.record),
            version_id,
        })
    }

    pub(super) async fn serve_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        if !object.record.tags.is_empty() {
            let mut record = object.record;
            record.tags.clear();
            self.ns.set_record(object.ino, &record).await?;
        }
        let mut response = S3Response::new(DeleteObjectTaggingOutput { version_id });
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    pub(super) async fn serve_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        // One header, comma-separated, may arrive as one element.
        let wants = |name: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|a| a.as_str().split(','))
                .any(|a| a.trim() == name)
        };
        let etag = if wants(ObjectAttributes::ETAG) {
            Some(ETag::Strong(self.ns.etag(&object).await?))
        } else {
            None
        };
        let size = if key.directory { 0 } else { object.attr.size };
        let parts = (wants(ObjectAttributes::OBJECT_PARTS) && !object.record.parts.is_empty())
            .then(|| GetObjectAttributesParts {
                total_parts_count: Some(object.record.parts.len() as i32),
                ..GetObjectAttributesParts::default()
            });
        ok(GetObjectAttributesOutput {
            e_tag: etag,
            last_modified: Some(timestamp(object.attr.mtime)),
            object_size: wants(ObjectAttributes::OBJECT_SIZE).then_some(size as i64),
            storage_class: wants(ObjectAttributes::STORAGE_CLASS)
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_parts: parts,
            version_id,
            ..GetObjectAttributesOutput::default()
        })
    }
}
