//! `datenlord csi`: the CSI driver (`datenlord_csi`) on a unix socket, over the volume named
//! by `--meta` (or the home's default one) for StorageClasses that name none.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datenlord_csi::{DriverConfig, Endpoint};

use crate::cli::CsiArgs;
use crate::home;

pub fn run(args: CsiArgs) -> Result<ExitCode> {
    crate::run_daemon(serve(args))
}

fn topology(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                out.insert(key.to_string(), value.to_string());
            }
            _ => bail!(
                "--topology {pair:?}: expected KEY=VALUE, e.g. topology.kubernetes.io/zone=z1"
            ),
        }
    }
    Ok(out)
}

async fn serve(args: CsiArgs) -> Result<()> {
    let endpoint: Endpoint = args.endpoint.parse()?;
    if args.node_id.is_empty() {
        bail!("--node-id must name this node");
    }
    let (controller, node) = match (args.controller, args.node) {
        (false, false) => (true, true),
        chosen => chosen,
    };
    let meta = home::open_meta(args.meta.meta.as_deref())
        .await
        .context("opening the default volume (--meta)")?;
    let config = DriverConfig {
        node_id: args.node_id,
        controller,
        node,
        topology: topology(&args.topology)?,
        meta: Some(Arc::new(meta)),
        meta_url: args.meta.meta.clone(),
        binary: Some(std::env::current_exe().context("finding this program")?),
        cache_root: Some(home::home().join("cache")),
    };
    let stop = async {
        crate::stop_signal().await;
        tracing::info!("stopping the CSI driver");
    };
    datenlord_csi::serve(&endpoint, config, stop).await?;
    Ok(())
}
