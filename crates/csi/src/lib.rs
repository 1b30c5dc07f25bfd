//! DatenLord's CSI driver: the Container Storage Interface's services over gRPC on a unix
//! socket, for Kubernetes (csi-provisioner, csi-snapshotter, csi-resizer, the kubelet). A CSI
//! volume is a directory of a DatenLord volume with a quota; a snapshot is a metadata-only
//! clone. This crate knows the protocol and the volume model; the binary wires it to an engine.

pub mod client;
mod controller;
pub mod endpoint;
mod error;
pub mod extender;
mod identity;
pub mod mounts;
mod node;
pub mod params;
mod server;
mod status;
pub mod volumes;

pub use endpoint::Endpoint;
pub use error::CsiError;
pub use server::{DriverConfig, serve};

/// The CSI specification's messages and services, generated from `proto/csi.proto`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]
pub mod pb {
    tonic::include_proto!("csi.v1");
}

/// The driver's name, as CSIDriver objects and StorageClasses' `provisioner` name it.
pub const DRIVER_NAME: &str = "csi.datenlord.io";
