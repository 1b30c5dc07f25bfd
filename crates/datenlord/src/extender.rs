//! `datenlord scheduler-extender`: kube-scheduler's extender (`datenlord_csi::extender`) over
//! the volume `--meta` names, with where its volumes are cached refreshed in the background.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use datenlord_csi::extender::{self, locality, placement};

use crate::cli::ExtenderArgs;
use crate::home;

pub fn run(args: ExtenderArgs) -> Result<ExitCode> {
    crate::run_daemon(serve(args))
}

fn rules(args: &ExtenderArgs) -> Result<placement::Rules> {
    let node_selector = match &args.node_selector {
        None => None,
        Some(pair) => match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Some((key.to_string(), value.to_string())),
            _ => bail!("--node-selector {pair:?}: expected KEY=VALUE, e.g. datenlord.io/node=true"),
        },
    };
    Ok(placement::Rules {
        node_selector,
        label_prefix: args.label_prefix.clone(),
    })
}

async fn serve(args: ExtenderArgs) -> Result<()> {
    let rules = rules(&args)?;
    if !(args.refresh.is_finite() && args.refresh >= 0.1) {
        bail!("--refresh must be at least 0.1 seconds");
    }
    let meta = Arc::new(
        home::open_meta(args.meta.meta.as_deref())
            .await
            .context("opening the volume (--meta)")?,
    );
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    // The first picture before the first call: a scheduler that asks at once gets answers.
    let picture = Arc::new(locality::Latest::default());
    locality::refresh(&meta, &picture).await;
    tokio::spawn(locality::refresh_forever(
        meta,
        picture.clone(),
        Duration::from_secs_f64(args.refresh),
    ));
    tracing::info!(listen = %listener.local_addr()?, "serving the scheduler extender");
    let stop = async {
        crate::stop_signal().await;
        tracing::info!("stopping the scheduler extender");
    };
    extender::serve(listener, rules, picture, stop).await;
    Ok(())
}
