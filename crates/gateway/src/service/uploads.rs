//! The multipart operations: each maps its input onto the uploads of `crate::multipart`.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::DEFAULT_OWNER;
use super::{
    Gateway, asker, copy_source_range, grant_headers, ok, record_of, sent_checksums,
    tags_of_header, who,
};
use crate::acl::{GrantHeaders, owner_of};
use crate::multipart::Upload;
use crate::object::{PutMeta, etag_header, key_path, timestamp};
use crate::record::Record;

impl Gateway {
    pub(super) async fn serve_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let requester = who(&req).map(str::to_owned);
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        if key.directory {
            return Err(s3_error!(
                InvalidArgument,
                "a key ending in '/' names a directory, which holds no bytes"
            ));
        }
        let mut record = record_of(
            input.content_type,
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires.as_ref(),
            input.metadata,
        )?;
        record.tags = tags_of_header(input.tagging.as_deref())?;
        record.acl = self
            .new_object_acl(
                requester.as_deref(),
                &input.bucket,
                input.acl.as_ref().map(ObjectCannedACL::as_str),
                grant_headers!(input, req.headers),
            )
            .await?;
        let id = self
            .ns
            .create_upload(&input.bucket, &input.key, record, requester)
            .await?;
        ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..CreateMultipartUploadOutput::default()
        })
    }

    pub(super) async fn serve_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers.clone();
        let input = req.input;
        let (checksums, algorithms) = sent_checksums(
            &req.headers,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        );
        crate::multipart::check_part_number(input.part_number)?;
        if input
            .content_length
            .is_some_and(|n| n > crate::multipart::MAX_PART as i64)
        {
            return Err(s3_error!(EntityTooLarge, "a part holds at most 5 GiB"));
        }
        self.ns.bucket(&input.bucket).await?;
        let (dir, _) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let meta = PutMeta {
            record: Record::default(),
            content_md5: input.content_md5,
            checksums,
            trailers,
            algorithms,
            versioning: None,
        };
        let stored = self
            .ns
            .upload_part(dir, input.part_number, input.body, meta)
            .await?;
        ok(UploadPartOutput {
            e_tag: Some(etag_header(&stored.etag)),
            checksum_crc32: stored.checksums.checksum_crc32,
            checksum_crc32c: stored.checksums.checksum_crc32c,
            checksum_sha1: stored.checksums.checksum_sha1,
            checksum_sha256: stored.checksums.checksum_sha256,
            checksum_crc64nvme: stored.checksums.checksum_crc64nvme,
            ..UploadPartOutput::default()
        })
    }

    pub(super) async fn serve_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let asker = asker(&req);
        let input = req.input;
        crate::multipart::check_part_number(input.part_number)?;
        self.ns.bucket(&input.bucket).await?;
        let (dir, _) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let source = self
            .source(
                &asker,
                &input.copy_source,
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
            )
            .await?;
        let size = source.object.attr.size;
        let range = match &input.copy_source_range {
            Some(text) => copy_source_range(text, size)?,
            None => 0..size,
        };
        let (etag, modified) = self
            .ns
            .copy_part(dir, input.part_number, &source.object, range)
            .await?;
        ok(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag_header(&etag)),
                last_modified: Some(modified),
                ..CopyPartResult::default()
            }),
            ..UploadPartCopyOutput::default()
        })
    }

    pub(super) async fn serve_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (dir, upload) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let mut chosen = Vec::new();
        for part in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let (Some(number), Some(etag)) = (part.part_number, part.e_tag) else {
                return Err(s3_error!(
                    MalformedXML,
                    "each part names its PartNumber and ETag"
                ));
            };
            chosen.push((number, etag.value().to_string()));
        }
        let (etag, version_id) = self
            .ns
            .complete(&input.upload_id, dir, &upload, &state, &key, &chosen)
            .await?;
        ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag_header(&etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id,
            ..CompleteMultipartUploadOutput::default()
        })
    }

    pub(super) async fn serve_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        self.ns
            .abort(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let mut response = S3Response::new(AbortMultipartUploadOutput::default());
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    pub(super) async fn serve_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        let (dir, upload) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.part_number_marker.unwrap_or(0);
        let all = self.ns.parts(dir).await?;
        let after: Vec<_> = all.into_iter().filter(|p| p.number > marker).collect();
        let truncated = after.len() > max;
        let page: Vec<Part> = after
            .iter()
            .take(max)
            .map(|p| Part {
                e_tag: Some(etag_header(&p.etag)),
                last_modified: Some(timestamp(p.object.attr.mtime)),
                part_number: Some(p.number),
                size: Some(p.size as i64),
                ..Part::default()
            })
            .collect();
        let next = page.last().and_then(|p| p.part_number);
        ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max as i32),
            part_number_marker: Some(marker),
            next_part_number_marker: if truncated { next } else { None },
            is_truncated: Some(truncated),
            parts: Some(page),
            owner: Some(upload_owner(&upload)),
            initiator: Some(initiator_of(&upload)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..ListPartsOutput::default()
        })
    }

    pub(super) async fn serve_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next: Option<(String, String)> = None;
        for (id, upload) in self.ns.uploads(&input.bucket).await? {
            if !upload.key.starts_with(&prefix) {
                continue;
            }
            let after_marker = match &id_marker {
                Some(marker) if upload.key == key_marker => id > *marker,
                _ => upload.key > key_marker,
            };
            if !key_marker.is_empty() && !after_marker {
                continue;
            }
            let rolled = delimiter.as_ref().and_then(|d| {
                upload.key[prefix.len()..]
                    .find(d.as_str())
                    .map(|at| upload.key[..prefix.len() + at + d.len()].to_string())
            });
            if let Some(common) = &rolled
                && prefixes.last() == Some(common)
            {
                continue;
            }
            if uploads.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            next = Some((upload.key.clone(), id.clone()));
            match rolled {
                Some(common) => prefixes.push(common),
                None => uploads.push(MultipartUpload {
                    owner: Some(upload_owner(&upload)),
                    initiator: Some(initiator_of(&upload)),
                    key: Some(upload.key),
                    upload_id: Some(id),
                    initiated: Some(timestamp(datenlord_meta::Timespec {
                        sec: upload.initiated,
                        nsec: 0,
                    })),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..MultipartUpload::default()
                }),
            }
        }
        let (next_key, next_id) = match (truncated, next) {
            (true, Some((key, id))) => (Some(key), Some(id)),
            _ => (None, None),
        };
        ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(uploads),
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            prefix: input.prefix,
            delimiter: input.delimiter.filter(|d| !d.is_empty()),
            encoding_type: input.encoding_type,
            ..ListMultipartUploadsOutput::default()
        })
    }
}

/// Who started an upload, as S3 shows an owner.
fn upload_owner(upload: &Upload) -> Owner {
    owner_of(upload.initiator.as_deref().unwrap_or(DEFAULT_OWNER))
}

/// Who started an upload, as S3 shows an initiator.
fn initiator_of(upload: &Upload) -> Initiator {
    let owner = upload_owner(upload);
    Initiator {
        display_name: owner.display_name,
        id: owner.id,
    }
}
