//! The Identity service: who the driver is, what it serves, and whether it is ready.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::pb::plugin_capability::{self, service, volume_expansion};
use crate::pb::{self, identity_server};
use crate::server::DriverConfig;

/// Answers Identity calls for one driver process.
#[derive(Debug)]
pub(crate) struct IdentityService {
    pub(crate) config: Arc<DriverConfig>,
}

fn service_capability(kind: service::Type) -> pb::PluginCapability {
    pb::PluginCapability {
        r#type: Some(plugin_capability::Type::Service(
            plugin_capability::Service {
                r#type: kind as i32,
            },
        )),
    }
}

#[tonic::async_trait]
impl identity_server::Identity for IdentityService {
    async fn get_plugin_info(
        &self,
        _: Request<pb::GetPluginInfoRequest>,
    ) -> Result<Response<pb::GetPluginInfoResponse>, Status> {
        Ok(Response::new(pb::GetPluginInfoResponse {
            name: crate::DRIVER_NAME.to_string(),
            vendor_version: env!("CARGO_PKG_VERSION").to_string(),
            manifest: Default::default(),
        }))
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<pb::GetPluginCapabilitiesRequest>,
    ) -> Result<Response<pb::GetPluginCapabilitiesResponse>, Status> {
        let mut capabilities = Vec::new();
        if self.config.controller {
            capabilities.push(service_capability(service::Type::ControllerService));
        }
        if !self.config.topology.is_empty() {
            capabilities.push(service_capability(
                service::Type::VolumeAccessibilityConstraints,
            ));
        }
        // A volume's size is its quota: raised while pods use it.
        capabilities.push(pb::PluginCapability {
            r#type: Some(plugin_capability::Type::VolumeExpansion(
                plugin_capability::VolumeExpansion {
                    r#type: volume_expansion::Type::Online as i32,
                },
            )),
        });
        Ok(Response::new(pb::GetPluginCapabilitiesResponse {
            capabilities,
        }))
    }

    async fn probe(
        &self,
        _: Request<pb::ProbeRequest>,
    ) -> Result<Response<pb::ProbeResponse>, Status> {
        if let Some(meta) = &self.config.meta {
            meta.usage().await.map_err(|err| {
                Status::failed_precondition(format!("the metadata engine does not answer: {err}"))
            })?;
        }
        Ok(Response::new(pb::ProbeResponse { ready: Some(true) }))
    }
}
