//! Bucket configuration operations: CORS rules and the bucket policy.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{Gateway, ok};
use crate::cors::{rules_of, shown};
use crate::policy::Policy;

impl Gateway {
    pub(super) async fn serve_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let state = self.ns.bucket_config(&req.input.bucket).await?;
        if state.config.cors.is_empty() {
            return Err(s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            ));
        }
        ok(GetBucketCorsOutput {
            cors_rules: Some(shown(&state.config.cors)),
        })
    }

    pub(super) async fn serve_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        let rules =
            rules_of(input.cors_configuration).map_err(|err| s3_error!(MalformedXML, "{err}"))?;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let mut config = (*state.config).clone();
        config.cors = rules;
        self.ns.set_bucket_config(&input.bucket, &config).await?;
        ok(PutBucketCorsOutput::default())
    }

    pub(super) async fn serve_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let state = self.ns.bucket_config(&req.input.bucket).await?;
        if !state.config.cors.is_empty() {
            let mut config = (*state.config).clone();
            config.cors.clear();
            self.ns
                .set_bucket_config(&req.input.bucket, &config)
                .await?;
        }
        ok(DeleteBucketCorsOutput::default())
    }

    pub(super) async fn serve_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let state = self.ns.bucket_config(&req.input.bucket).await?;
        match &state.config.policy {
            Some(policy) => ok(GetBucketPolicyOutput {
                policy: Some(policy.clone()),
            }),
            None => Err(s3_error!(
                NoSuchBucketPolicy,
                "The bucket policy does not exist"
            )),
        }
    }

    pub(super) async fn serve_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        Policy::parse(&input.policy, &input.bucket)
            .map_err(|err| s3_error!(MalformedPolicy, "{err}"))?;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let mut config = (*state.config).clone();
        config.policy = Some(input.policy);
        self.ns.set_bucket_config(&input.bucket, &config).await?;
        ok(PutBucketPolicyOutput::default())
    }

    pub(super) async fn serve_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let state = self.ns.bucket_config(&req.input.bucket).await?;
        if state.config.policy.is_some() {
            let mut config = (*state.config).clone();
            config.policy = None;
            self.ns
                .set_bucket_config(&req.input.bucket, &config)
                .await?;
        }
        ok(DeleteBucketPolicyOutput::default())
    }
}
