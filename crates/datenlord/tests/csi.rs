//! The CSI driver through a real gRPC client: a `datenlord csi` process on a unix socket,
//! its Identity service (who it is, what it serves, whether its volume answers), and how it
//! treats its socket (a live driver's is refused, a dead one's replaced, a bad endpoint is a
//! clear error).

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Home;
use datenlord_csi::pb::identity_client::IdentityClient;
use datenlord_csi::pb::plugin_capability::{self, service, volume_expansion};
use datenlord_csi::pb::{GetPluginCapabilitiesRequest, GetPluginInfoRequest, ProbeRequest};
use datenlord_csi::{Endpoint, client};

/// A home with its default volume made.
fn formatted_home() -> Home {
    let home = Home::new();
    if !home.run(&["status"]).status.success() {
        home.run_ok(&["format", "default"]);
    }
    home
}

/// A driver process, killed when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(home: &Home, socket: &Path, extra: &[&str]) -> Driver {
    let endpoint = format!("unix://{}", socket.display());
    let mut args = vec!["csi", "--endpoint", &endpoint, "--node-id", "node-1"];
    args.extend_from_slice(extra);
    let child = home
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        if let Some(status) = driver.0.try_wait().unwrap() {
            panic!("datenlord csi exited with {status}");
        }
        assert!(Instant::now() < deadline, "the driver did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    driver
}

async fn identity(socket: &Path) -> IdentityClient<tonic::transport::Channel> {
    let endpoint: Endpoint = socket.to_str().unwrap().parse().unwrap();
    IdentityClient::new(client::connect(&endpoint).await.unwrap())
}

fn services(capabilities: &[datenlord_csi::pb::PluginCapability]) -> Vec<service::Type> {
    capabilities
        .iter()
        .filter_map(|c| match &c.r#type {
            Some(plugin_capability::Type::Service(s)) => service::Type::try_from(s.r#type).ok(),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_names_the_driver_and_what_it_serves() {
    let home = formatted_home();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("csi.sock");
    let _driver = start(&home, &socket, &[]);
    let mut client = identity(&socket).await;

    let info = client
        .get_plugin_info(GetPluginInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.name, "csi.datenlord.io");
    assert!(!info.vendor_version.is_empty());

    let caps = client
        .get_plugin_capabilities(GetPluginCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner()
        .capabilities;
    assert_eq!(services(&caps), vec![service::Type::ControllerService]);
    let online = caps.iter().any(|c| {
        matches!(&c.r#type, Some(plugin_capability::Type::VolumeExpansion(e))
            if e.r#type == volume_expansion::Type::Online as i32)
    });
    assert!(online, "{caps:?}");

    let probe = client.probe(ProbeRequest {}).await.unwrap().into_inner();
    assert_eq!(probe.ready, Some(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_plugin_with_topology_says_so() {
    let home = formatted_home();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("node.sock");
    let _driver = start(
        &home,
        &socket,
        &["--node", "--topology", "topology.kubernetes.io/zone=z1"],
    );
    let caps = identity(&socket)
        .await
        .get_plugin_capabilities(GetPluginCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner()
        .capabilities;
    assert_eq!(
        services(&caps),
        vec![service::Type::VolumeAccessibilityConstraints],
        "a node plugin serves no controller"
    );
}

#[test]
fn the_socket_is_refused_while_served_and_replaced_once_its_driver_died() {
    let home = formatted_home();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("csi.sock");
    let endpoint = format!("unix://{}", socket.display());
    let mut first = start(&home, &socket, &[]);
    let out = home.run(&["csi", "--endpoint", &endpoint, "--node-id", "n"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("another driver serves there"), "{said}");

    // Killed, it leaves its socket file: the next driver takes the path over.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    assert!(socket.exists());
    let _second = start(&home, &socket, &[]);

    for (bad, why) in [
        ("tcp://127.0.0.1:1", "only unix sockets"),
        ("csi.sock", "must be absolute"),
    ] {
        let out = home.run(&["csi", "--endpoint", bad, "--node-id", "n"]);
        assert!(!out.status.success(), "{bad}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(why), "{bad}: {said}");
    }
    let out = home.run(&[
        "csi",
        "--endpoint",
        &endpoint,
        "--node-id",
        "n",
        "--topology",
        "zone",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEY=VALUE"));
}
