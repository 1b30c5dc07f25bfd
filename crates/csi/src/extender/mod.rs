//! The kube-scheduler extender: `POST /filter` and `POST /prioritize` with the upstream JSON
//! (see [`api`]), answered from a picture of where each volume is cached that a background
//! task keeps fresh ([`locality`]), so a call costs a parse and a lookup per candidate.

pub mod api;
pub mod locality;
pub mod placement;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use api::{ExtenderArgs, ExtenderFilterResult, HostPriority, NodeList};
use locality::Latest;
use placement::{Locality, Rules};

/// The largest request read: 5 000 whole nodes with their status fit well inside.
const BODY_MAX: usize = 256 << 20;

/// Serves the extender on `listener` until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    rules: Rules,
    locality: Arc<Latest>,
    stop: impl Future<Output = ()>,
) {
    let shared = Arc::new((rules, locality));
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.as_mut() => break,
        };
        let _ = socket.set_nodelay(true);
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(request, &shared.0, &shared.1).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .keep_alive(true)
                .serve_connection(TokioIo::new(socket), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "connection ended");
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

fn reply(status: StatusCode, kind: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = kind.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => reply(StatusCode::OK, "application/json", body),
        Err(err) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            err.to_string().into_bytes(),
        ),
    }
}

async fn answer(
    request: Request<Incoming>,
    rules: &Rules,
    locality: &Latest,
) -> Response<Full<Bytes>> {
    let route = (request.method().clone(), request.uri().path().to_string());
    let verb = match route {
        (Method::GET, path) if path == "/healthz" => {
            return reply(StatusCode::OK, "text/plain", b"ok\n".to_vec());
        }
        (Method::POST, path) if path == "/filter" || path == "/prioritize" => path,
        (_, path) => {
            return reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                format!("no {path} here: POST /filter or /prioritize (kube-scheduler extender)\n")
                    .into_bytes(),
            );
        }
    };
    let body = match Limited::new(request.into_body(), BODY_MAX).collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("cannot read the request: {err}\n").into_bytes(),
            );
        }
    };
    let args: ExtenderArgs = match serde_json::from_slice(&body) {
        Ok(args) => args,
        Err(err) => {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                format!("not an ExtenderArgs: {err}\n").into_bytes(),
            );
        }
    };
    let picture = locality.get();
    if verb == "/filter" {
        json(&filter(rules, &picture, args))
    } else {
        json(&prioritize(rules, &picture, &args))
    }
}

/// The candidates of a call: names, and labels when the call sent whole nodes.
fn candidates(args: &ExtenderArgs) -> Vec<(&str, Option<HashMap<&str, &str>>)> {
    match (&args.nodes, &args.node_names) {
        (Some(nodes), _) => nodes
            .items
            .iter()
            .filter_map(|n| Some((api::node_name(n)?, Some(api::node_labels(n)))))
            .collect(),
        (None, Some(names)) => names.iter().map(|n| (n.as_str(), None)).collect(),
        (None, None) => Vec::new(),
    }
}

/// The filter call: nodes that cannot mount the pod's DatenLord volumes fail.
pub fn filter(rules: &Rules, locality: &Locality, args: ExtenderArgs) -> ExtenderFilterResult {
    let Some(pod) = &args.pod else {
        return ExtenderFilterResult {
            error: "the call names no pod".into(),
            ..ExtenderFilterResult::default()
        };
    };
    let has_volumes = !placement::volumes_of(pod, locality).is_empty();
    let mut result = ExtenderFilterResult::default();
    let fails = |labels: Option<&HashMap<&str, &str>>| {
        has_volumes
            .then(|| placement::unfit(rules, labels))
            .flatten()
    };
    match (args.nodes, args.node_names) {
        (Some(nodes), _) => {
            let mut kept = Vec::with_capacity(nodes.items.len());
            for node in nodes.items {
                let name = api::node_name(&node).unwrap_or_default().to_string();
                match fails(Some(&api::node_labels(&node))) {
                    Some(why) => {
                        result.failed_nodes.insert(name, why);
                    }
                    None => kept.push(node),
                }
            }
            result.nodes = Some(NodeList {
                items: kept,
                ..nodes
            });
        }
        (None, names) => result.node_names = Some(names.unwrap_or_default()),
    }
    result
}

/// The prioritize call: every candidate with its score.
pub fn prioritize(rules: &Rules, locality: &Locality, args: &ExtenderArgs) -> Vec<HostPriority> {
    let Some(pod) = &args.pod else {
        return Vec::new();
    };
    placement::scores(rules, pod, locality, &candidates(args))
        .into_iter()
        .map(|(host, score)| HostPriority { host, score })
        .collect()
}
