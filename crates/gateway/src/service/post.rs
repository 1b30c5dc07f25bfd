//! Browser uploads (POST with a form), which end as a PUT.

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use crate::front::FormFields;

impl Gateway {
    pub(super) async fn serve_post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        // The form's signature and policy were checked by `s3s`; what is left is a PUT.
        let fields = req
            .extensions
            .get::<FormFields>()
            .cloned()
            .unwrap_or_default();
        let tagging = match (&fields.tagging, &req.input.tagging) {
            (Some(xml), None) => Some(form_tagging(xml)?),
            _ => None,
        };
        let req = req.map_input(|post| PutObjectInput {
            acl: post.acl.or(fields.acl.map(ObjectCannedACL::from)),
            body: post.body,
            bucket: post.bucket,
            cache_control: post.cache_control,
            checksum_crc32: post.checksum_crc32,
            checksum_crc32c: post.checksum_crc32c,
            checksum_crc64nvme: post.checksum_crc64nvme,
            checksum_sha1: post.checksum_sha1,
            checksum_sha256: post.checksum_sha256,
            content_disposition: post.content_disposition,
            content_encoding: post.content_encoding,
            content_language: post.content_language,
            content_length: post.content_length,
            content_md5: post.content_md5,
            content_type: post.content_type,
            expires: post.expires,
            grant_full_control: post.grant_full_control,
            grant_read: post.grant_read,
            grant_read_acp: post.grant_read_acp,
            grant_write_acp: post.grant_write_acp,
            key: post.key,
            metadata: post.metadata,
            tagging: post.tagging.or(tagging),
            ..PutObjectInput::default()
        });
        let put = self.put_object(req).await?;
        Ok(put.map_output(|put| PostObjectOutput {
            e_tag: put.e_tag,
            checksum_crc32: put.checksum_crc32,
            checksum_crc32c: put.checksum_crc32c,
            checksum_crc64nvme: put.checksum_crc64nvme,
            checksum_sha1: put.checksum_sha1,
            checksum_sha256: put.checksum_sha256,
            size: put.size,
            version_id: put.version_id,
            ..PostObjectOutput::default()
        }))
    }
}

/// A form's `Tagging` XML as an `x-amz-tagging` value.
fn form_tagging(xml: &str) -> S3Result<String> {
    use s3s::xml::Deserialize as _;
    let tagging = Tagging::deserialize(&mut s3s::xml::Deserializer::new(xml.as_bytes()))
        .map_err(|_| s3_error!(MalformedXML, "the form's tagging is not a Tagging document"))?;
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for tag in &tagging.tag_set {
        out.append_pair(
            tag.key.as_deref().unwrap_or_default(),
            tag.value.as_deref().unwrap_or_default(),
        );
    }
    Ok(out.finish())
}
