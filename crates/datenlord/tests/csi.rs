//! The CSI driver through a real gRPC client: a `datenlord csi` process on a unix socket,
//! its Identity service (who it is, what it serves, whether its volume answers), and how it
//! treats its socket (a live driver's is refused, a dead one's replaced, a bad endpoint is a
//! clear error).

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use common::{Home, Mounted, Options};
use datenlord_csi::pb::controller_client::ControllerClient;
use datenlord_csi::pb::identity_client::IdentityClient;
use datenlord_csi::pb::node_client::NodeClient;
use datenlord_csi::pb::plugin_capability::{self, service, volume_expansion};
use datenlord_csi::pb::volume_capability::{AccessMode, AccessType, BlockVolume, MountVolume};
use datenlord_csi::pb::volume_content_source::{SnapshotSource, Type as ContentType, VolumeSource};
use datenlord_csi::pb::{self, GetPluginCapabilitiesRequest, GetPluginInfoRequest, ProbeRequest};
use datenlord_csi::{Endpoint, client};
use tonic::Code;
use tonic::transport::Channel;

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
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.path().join("csi.log"))
        .unwrap();
    let child = home
        .command(&args)
        .stdout(Stdio::null())
        .stderr(log)
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

async fn channel(socket: &Path) -> Channel {
    let endpoint: Endpoint = socket.to_str().unwrap().parse().unwrap();
    client::connect(&endpoint).await.unwrap()
}

async fn identity(socket: &Path) -> IdentityClient<Channel> {
    IdentityClient::new(channel(socket).await)
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

const GIB: i64 = 1 << 30;

fn mount_capability(mode: pb::volume_capability::access_mode::Mode) -> pb::VolumeCapability {
    pb::VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume::default())),
        access_mode: Some(AccessMode { mode: mode as i32 }),
    }
}

fn writer() -> pb::VolumeCapability {
    mount_capability(pb::volume_capability::access_mode::Mode::MultiNodeMultiWriter)
}

fn create_request(name: &str, bytes: i64) -> pb::CreateVolumeRequest {
    pb::CreateVolumeRequest {
        name: name.into(),
        capacity_range: Some(pb::CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        volume_capabilities: vec![writer()],
        ..Default::default()
    }
}

fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `datenlord quota get PATH --json`.
fn quota(home: &Home, path: &str) -> serde_json::Value {
    serde_json::from_str(&home.run_ok(&["quota", "get", path, "--json"])).unwrap()
}

fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    result.expect_err("the call should fail").code()
}

/// A driver serving the controller over `home`'s default volume, and a client of it.
struct Controller {
    _dir: tempfile::TempDir,
    _driver: Driver,
    client: ControllerClient<Channel>,
}

async fn controller(home: &Home) -> Controller {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("controller.sock");
    let driver = start(home, &socket, &["--controller"]);
    let client = ControllerClient::new(channel(&socket).await);
    Controller {
        _dir: dir,
        _driver: driver,
        client,
    }
}

async fn get_volume(
    client: &mut ControllerClient<Channel>,
    id: &str,
) -> Result<pb::ControllerGetVolumeResponse, tonic::Status> {
    let request = pb::ControllerGetVolumeRequest {
        volume_id: id.into(),
    };
    Ok(client.controller_get_volume(request).await?.into_inner())
}

async fn list_ids(client: &mut ControllerClient<Channel>) -> Vec<String> {
    let listed = client
        .list_volumes(pb::ListVolumesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.next_token.is_empty());
    listed
        .entries
        .into_iter()
        .map(|e| e.volume.unwrap().volume_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_are_created_once_grown_changed_and_deleted_idempotently() {
    let home = formatted_home();
    let served = controller(&home).await;
    let mut client = served.client.clone();

    let made = client
        .create_volume(create_request("pvc-1", GIB))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(made.volume_id, "pvc-1");
    assert_eq!(made.capacity_bytes, GIB);
    assert_eq!(made.volume_context["path"], "/csi/pvc-1");
    // The quota is the capacity.
    assert_eq!(quota(&home, "/csi/pvc-1")["capacity"], GIB);

    // Asked again: the same volume; asked for more under the same name: another volume.
    let again = client
        .create_volume(create_request("pvc-1", GIB))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(again, made);
    let mut bigger = create_request("pvc-1", 2 * GIB);
    bigger.capacity_range.as_mut().unwrap().limit_bytes = 2 * GIB;
    assert_eq!(
        code(client.create_volume(bigger).await),
        Code::AlreadyExists
    );
    let mut other = create_request("pvc-1", GIB);
    other.parameters = params(&[("inodes", "10")]);
    assert_eq!(code(client.create_volume(other).await), Code::AlreadyExists);

    // What is asked wrongly is refused before anything is made.
    let mut bad = Vec::new();
    bad.push(create_request("", GIB));
    let mut no_caps = create_request("pvc-x", GIB);
    no_caps.volume_capabilities.clear();
    bad.push(no_caps);
    let mut block = create_request("pvc-x", GIB);
    block.volume_capabilities[0].access_type = Some(AccessType::Block(BlockVolume {}));
    bad.push(block);
    let mut unknown = create_request("pvc-x", GIB);
    unknown.parameters = params(&[("XXX_FakeKey", "XXX_FakeValue")]);
    bad.push(unknown);
    let mut slash = create_request("a/b", GIB);
    slash.mutable_parameters = params(&[("cache-size", "20G")]);
    bad.push(slash);
    bad.push(create_request("pvc-x", -1));
    for request in bad {
        let what = format!("{request:?}");
        assert_eq!(
            code(client.create_volume(request).await),
            Code::InvalidArgument,
            "{what}"
        );
    }
    let long = "v".repeat(128);
    client
        .create_volume(create_request(&long, 0))
        .await
        .unwrap();
    assert_eq!(
        list_ids(&mut client).await,
        vec!["pvc-1".to_string(), long.clone()]
    );

    // Capabilities: any mount in any access mode; no block; an unknown volume is NOT_FOUND.
    let validate =
        |id: &str, capability: pb::VolumeCapability| pb::ValidateVolumeCapabilitiesRequest {
            volume_id: id.into(),
            volume_capabilities: vec![capability],
            ..Default::default()
        };
    let confirmed = client
        .validate_volume_capabilities(validate(
            "pvc-1",
            mount_capability(pb::volume_capability::access_mode::Mode::SingleNodeReaderOnly),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(confirmed.confirmed.is_some(), "{confirmed:?}");
    let mut block = writer();
    block.access_type = Some(AccessType::Block(BlockVolume {}));
    let refused = client
        .validate_volume_capabilities(validate("pvc-1", block))
        .await
        .unwrap()
        .into_inner();
    assert!(refused.confirmed.is_none() && !refused.message.is_empty());
    assert_eq!(
        code(
            client
                .validate_volume_capabilities(validate("nope", writer()))
                .await
        ),
        Code::NotFound
    );

    // Grown online: the quota follows; a smaller ask keeps the size.
    let expand = |bytes: i64| pb::ControllerExpandVolumeRequest {
        volume_id: "pvc-1".into(),
        capacity_range: Some(pb::CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        ..Default::default()
    };
    let grown = client
        .controller_expand_volume(expand(3 * GIB))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grown.capacity_bytes, 3 * GIB);
    assert!(!grown.node_expansion_required);
    let kept = client
        .controller_expand_volume(expand(GIB))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.capacity_bytes, 3 * GIB);
    assert_eq!(quota(&home, "/csi/pvc-1")["capacity"], 3 * GIB);
    let mut no_range = expand(GIB);
    no_range.capacity_range = None;
    assert_eq!(
        code(client.controller_expand_volume(no_range).await),
        Code::InvalidArgument
    );
    let mut missing = expand(GIB);
    missing.volume_id = "nope".into();
    assert_eq!(
        code(client.controller_expand_volume(missing).await),
        Code::NotFound
    );

    let got = get_volume(&mut client, "pvc-1").await.unwrap();
    assert_eq!(got.volume.unwrap().capacity_bytes, 3 * GIB);
    let condition = got.status.unwrap().volume_condition.unwrap();
    assert!(!condition.abnormal, "{condition:?}");

    // Mutable parameters: the inode limit reaches the quota; unknown keys are refused.
    let modify = |pairs: &[(&str, &str)]| pb::ControllerModifyVolumeRequest {
        volume_id: "pvc-1".into(),
        mutable_parameters: params(pairs),
        ..Default::default()
    };
    client
        .controller_modify_volume(modify(&[("inodes", "1000"), ("cache-size", "1G")]))
        .await
        .unwrap();
    assert_eq!(quota(&home, "/csi/pvc-1")["inodes"], 1000);
    assert_eq!(quota(&home, "/csi/pvc-1")["capacity"], 3 * GIB);
    assert_eq!(
        code(
            client
                .controller_modify_volume(modify(&[("XXX_FakeKey", "1")]))
                .await
        ),
        Code::InvalidArgument
    );
    let got = get_volume(&mut client, "pvc-1").await.unwrap();
    assert_eq!(got.volume.unwrap().volume_context["cache-size"], "1G");

    // Deleted (to the trash), and deleted again; an id never made deletes fine too.
    for id in ["pvc-1", "pvc-1", "never-made", "a/b"] {
        client
            .delete_volume(pb::DeleteVolumeRequest {
                volume_id: id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert_eq!(
        code(
            client
                .delete_volume(pb::DeleteVolumeRequest::default())
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(list_ids(&mut client).await, vec![long]);
    let trash = home.run_ok(&["trash", "list"]);
    assert!(trash.contains("pvc-1"), "{trash}");
    assert_eq!(code(get_volume(&mut client, "pvc-1").await), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_page_with_our_tokens_and_abort_on_others() {
    let home = formatted_home();
    let served = controller(&home).await;
    let mut client = served.client.clone();
    for i in 0..5 {
        client
            .create_volume(create_request(&format!("vol-{i}"), GIB))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_volumes(pb::ListVolumesRequest {
                max_entries: 2,
                starting_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 2);
        seen.extend(
            page.entries
                .into_iter()
                .map(|e| e.volume.unwrap().volume_id),
        );
        if page.next_token.is_empty() {
            break;
        }
        token = page.next_token;
    }
    assert_eq!(seen, (0..5).map(|i| format!("vol-{i}")).collect::<Vec<_>>());
    let foreign = pb::ListVolumesRequest {
        max_entries: 0,
        starting_token: "invalid-token".into(),
    };
    assert_eq!(code(client.list_volumes(foreign).await), Code::Aborted);
    let negative = pb::ListVolumesRequest {
        max_entries: -1,
        starting_token: String::new(),
    };
    assert_eq!(
        code(client.list_volumes(negative).await),
        Code::InvalidArgument
    );

    let capacity = client
        .get_capacity(pb::GetCapacityRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(capacity.available_capacity > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_and_clones_carry_a_volumes_files_without_copying() {
    let mounted = Mounted::in_home(formatted_home(), Options::default(), &[]);
    let served = controller(&mounted.home).await;
    let mut client = served.client.clone();
    client
        .create_volume(create_request("data", GIB))
        .await
        .unwrap();
    let root = mounted.join("csi/data");
    std::fs::create_dir(root.join("dir")).unwrap();
    std::fs::write(root.join("dir/file"), b"taken before").unwrap();
    std::fs::write(root.join("big"), vec![7u8; 3 << 20]).unwrap();

    let snapshot = |name: &str, volume: &str| pb::CreateSnapshotRequest {
        source_volume_id: volume.into(),
        name: name.into(),
        ..Default::default()
    };
    let taken = client
        .create_snapshot(snapshot("snap-1", "data"))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert_eq!(taken.snapshot_id, "snap-1");
    assert_eq!(taken.source_volume_id, "data");
    assert!(taken.ready_to_use);
    assert_eq!(taken.size_bytes, (3 << 20) + 12);
    assert!(taken.creation_time.is_some());
    let again = client
        .create_snapshot(snapshot("snap-1", "data"))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert_eq!(again, taken);
    client
        .create_volume(create_request("other", GIB))
        .await
        .unwrap();
    assert_eq!(
        code(client.create_snapshot(snapshot("snap-1", "other")).await),
        Code::AlreadyExists
    );
    assert_eq!(
        code(client.create_snapshot(snapshot("snap-x", "nope")).await),
        Code::NotFound
    );
    assert_eq!(
        code(client.create_snapshot(snapshot("snap-x", "")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(client.create_snapshot(snapshot("", "data")).await),
        Code::InvalidArgument
    );
    std::fs::write(root.join("dir/file"), b"changed after").unwrap();

    // Restored into a new volume: the files as they were; cloned from the volume: as they are.
    let from = |name: &str, source: ContentType| {
        let mut request = create_request(name, GIB);
        request.volume_content_source = Some(pb::VolumeContentSource {
            r#type: Some(source),
        });
        request
    };
    let snap = |id: &str| {
        ContentType::Snapshot(SnapshotSource {
            snapshot_id: id.into(),
        })
    };
    let vol = |id: &str| {
        ContentType::Volume(VolumeSource {
            volume_id: id.into(),
        })
    };
    let restored = client
        .create_volume(from("restored", snap("snap-1")))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(
        restored.content_source.unwrap().r#type,
        Some(snap("snap-1"))
    );
    client
        .create_volume(from("restored", snap("snap-1")))
        .await
        .unwrap();
    client
        .create_volume(from("cloned", vol("data")))
        .await
        .unwrap();
    let read = |path: &str| std::fs::read(mounted.join(path)).unwrap();
    assert_eq!(read("csi/restored/dir/file"), b"taken before");
    assert_eq!(read("csi/cloned/dir/file"), b"changed after");
    assert_eq!(read("csi/restored/big"), vec![7u8; 3 << 20]);
    // Each has its own quota, holding what it was made with.
    let restored_quota = quota(&mounted.home, "/csi/restored");
    assert_eq!(restored_quota["capacity"], GIB);
    assert!(
        restored_quota["used_space"].as_i64().unwrap() >= 3 << 20,
        "{restored_quota}"
    );
    assert_eq!(restored_quota["ready"], true);
    assert_eq!(
        code(client.create_volume(from("restored", vol("data"))).await),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            client
                .create_volume(from("x", snap("no-such-snapshot")))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(client.create_volume(from("x", vol("no-such-volume"))).await),
        Code::NotFound
    );
    let mut small = from("small", snap("snap-1"));
    small.capacity_range.as_mut().unwrap().required_bytes = 1 << 20;
    assert_eq!(code(client.create_volume(small).await), Code::OutOfRange);

    // Listing: all, by id, by source, in pages; GetSnapshot; deleting is idempotent.
    for (name, volume) in [("snap-2", "data"), ("snap-3", "other")] {
        client
            .create_snapshot(snapshot(name, volume))
            .await
            .unwrap();
    }
    let lister = client.clone();
    let list = move |request: pb::ListSnapshotsRequest| {
        let mut client = lister.clone();
        async move {
            let page = client.list_snapshots(request).await.unwrap().into_inner();
            let ids: Vec<String> = page
                .entries
                .into_iter()
                .map(|e| e.snapshot.unwrap().snapshot_id)
                .collect();
            (ids, page.next_token)
        }
    };
    let (all, _) = list(pb::ListSnapshotsRequest::default()).await;
    assert_eq!(all, ["snap-1", "snap-2", "snap-3"]);
    let (one, _) = list(pb::ListSnapshotsRequest {
        snapshot_id: "snap-2".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(one, ["snap-2"]);
    let (none, _) = list(pb::ListSnapshotsRequest {
        snapshot_id: "none-exist-id".into(),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());
    let (of_data, _) = list(pb::ListSnapshotsRequest {
        source_volume_id: "data".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(of_data, ["snap-1", "snap-2"]);
    let (first, token) = list(pb::ListSnapshotsRequest {
        max_entries: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(first, ["snap-1", "snap-2"]);
    let (rest, end) = list(pb::ListSnapshotsRequest {
        max_entries: 2,
        starting_token: token,
        ..Default::default()
    })
    .await;
    assert_eq!((rest, end.as_str()), (vec!["snap-3".to_string()], ""));
    let foreign = pb::ListSnapshotsRequest {
        starting_token: "invalid-token".into(),
        ..Default::default()
    };
    assert_eq!(code(client.list_snapshots(foreign).await), Code::Aborted);
    let got = client
        .get_snapshot(pb::GetSnapshotRequest {
            snapshot_id: "snap-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.snapshot.unwrap(), taken);
    assert_eq!(
        code(
            client
                .get_snapshot(pb::GetSnapshotRequest {
                    snapshot_id: "none-exist-id".into(),
                    ..Default::default()
                })
                .await
        ),
        Code::NotFound
    );
    for id in ["snap-1", "snap-1", "never-taken"] {
        client
            .delete_snapshot(pb::DeleteSnapshotRequest {
                snapshot_id: id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let (left, _) = list(pb::ListSnapshotsRequest::default()).await;
    assert_eq!(left, ["snap-2", "snap-3"]);
    // The restored volume does not depend on its snapshot.
    assert_eq!(read("csi/restored/dir/file"), b"taken before");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metaurl_secret_names_another_volume_and_stays_out_of_messages() {
    let home = formatted_home();
    let served = controller(&home).await;
    let mut client = served.client.clone();
    let other = Home::new();
    let db = other.path().join("other.db");
    let url = format!("sqlite://{}", db.display());
    other.run_ok(&[
        "format",
        "--meta",
        &url,
        "--storage",
        &format!("file://{}/blocks", other.path().display()),
        "other",
    ]);
    let mut request = create_request("elsewhere", GIB);
    request.secrets = params(&[("metaurl", &url)]);
    client.create_volume(request).await.unwrap();
    let listed = other.run_ok(&["quota", "list", "--meta", &url]);
    assert!(listed.contains("/csi/elsewhere"), "{listed}");
    assert!(
        !list_ids(&mut client).await.is_empty(),
        "a volume a secret named is listed too"
    );

    let secret = "etcd://root:s3cr3t-pw@127.0.0.1:1/x";
    let mut unreachable = create_request("nowhere", GIB);
    unreachable.secrets = params(&[("metaurl", secret)]);
    let status = client.create_volume(unreachable).await.unwrap_err();
    assert!(
        !status.message().contains("s3cr3t-pw"),
        "{}",
        status.message()
    );
    let mut garbage = create_request("nowhere", GIB);
    garbage.secrets = params(&[("metaurl", "s3cr3t-pw")]);
    let status = client.create_volume(garbage).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        !status.message().contains("s3cr3t-pw"),
        "{}",
        status.message()
    );

    let mut delete = pb::DeleteVolumeRequest {
        volume_id: "elsewhere".into(),
        ..Default::default()
    };
    delete.secrets = params(&[("metaurl", &url)]);
    client.delete_volume(delete).await.unwrap();
    let listed = other.run_ok(&["quota", "list", "--meta", &url]);
    assert!(!listed.contains("/csi/elsewhere"), "{listed}");
}

/// Unmounts what a node test mounted, however it ends.
struct Unmount(Vec<std::path::PathBuf>);

impl Drop for Unmount {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(path)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The META_URL of `home`'s default volume.
fn home_meta(home: &Home) -> String {
    match home.env.iter().find(|(k, _)| k == "DATENLORD_META") {
        Some((_, url)) => url.clone(),
        None => format!("sqlite://{}/meta.db", home.path().display()),
    }
}

fn fstype_at(path: &Path) -> Option<String> {
    datenlord_fuse::mountinfo::topmost_at(&datenlord_fuse::mountinfo::read().unwrap(), path)
        .map(|e| e.fstype)
}

/// The mount daemon serving `staging` (its command line names it).
fn daemon_of(staging: &Path) -> u32 {
    let wanted = staging.to_str().unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&&b"mount"[..]) && args.contains(&wanted.as_bytes()) {
            return pid;
        }
    }
    panic!("no mount daemon serves {wanted}");
}

fn stage_request(id: &str, staging: &Path) -> pb::NodeStageVolumeRequest {
    pb::NodeStageVolumeRequest {
        volume_id: id.into(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(writer()),
        ..Default::default()
    }
}

fn publish_request(
    id: &str,
    staging: &Path,
    target: &Path,
    readonly: bool,
) -> pb::NodePublishVolumeRequest {
    pb::NodePublishVolumeRequest {
        volume_id: id.into(),
        staging_target_path: staging.display().to_string(),
        target_path: target.display().to_string(),
        volume_capability: Some(writer()),
        readonly,
        ..Default::default()
    }
}

/// Stages volume `id` at `staging` and publishes it read-write at `target`.
async fn stage_and_publish(
    node: &mut NodeClient<Channel>,
    id: &str,
    staging: &Path,
    target: &Path,
) {
    node.node_stage_volume(stage_request(id, staging))
        .await
        .unwrap();
    node.node_publish_volume(publish_request(id, staging, target, false))
        .await
        .unwrap();
}

async fn stats(
    node: &mut NodeClient<Channel>,
    id: &str,
    path: &Path,
) -> Result<pb::NodeGetVolumeStatsResponse, tonic::Status> {
    let request = pb::NodeGetVolumeStatsRequest {
        volume_id: id.into(),
        volume_path: path.display().to_string(),
        staging_target_path: String::new(),
    };
    Ok(node.node_get_volume_stats(request).await?.into_inner())
}

fn bytes_of(stats: &pb::NodeGetVolumeStatsResponse) -> &pb::VolumeUsage {
    stats
        .usage
        .iter()
        .find(|u| u.unit == pb::volume_usage::Unit::Bytes as i32)
        .expect("a bytes usage")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_volume_is_staged_published_used_and_outlives_a_node_plugin_restart() {
    let home = formatted_home();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("csi.sock");
    let mut driver = start(&home, &socket, &[]);
    let mut controller = ControllerClient::new(channel(&socket).await);
    let mut node = NodeClient::new(channel(&socket).await);
    let staging = dir.path().join("staging/pvc-n/globalmount");
    let target = dir.path().join("pods/p1/volumes/pvc-n/mount");
    let reader = dir.path().join("pods/p2/volumes/pvc-n/mount");
    let _cleanup = Unmount(vec![staging.clone(), target.clone(), reader.clone()]);

    let info = node
        .node_get_info(pb::NodeGetInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.node_id, "node-1");
    let caps = node
        .node_get_capabilities(pb::NodeGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner()
        .capabilities;
    assert!(caps.iter().any(|c| matches!(&c.r#type,
        Some(pb::node_service_capability::Type::Rpc(r))
            if r.r#type == pb::node_service_capability::rpc::Type::StageUnstageVolume as i32)));

    controller
        .create_volume(create_request("pvc-n", GIB))
        .await
        .unwrap();
    // Wrong calls first: nothing gets mounted by them.
    let mut no_path = stage_request("pvc-n", &staging);
    no_path.staging_target_path.clear();
    let mut no_capability = stage_request("pvc-n", &staging);
    no_capability.volume_capability = None;
    for request in [no_path, no_capability] {
        assert_eq!(
            code(node.node_stage_volume(request).await),
            Code::InvalidArgument
        );
    }
    assert_eq!(
        code(
            node.node_stage_volume(stage_request("nope", &staging))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            node.node_publish_volume(publish_request("pvc-n", &staging, &target, false))
                .await
        ),
        Code::FailedPrecondition,
        "not staged yet"
    );

    // Staged (twice: the same), published read-write and read-only.
    for _ in 0..2 {
        node.node_stage_volume(stage_request("pvc-n", &staging))
            .await
            .unwrap();
    }
    assert_eq!(fstype_at(&staging).as_deref(), Some("fuse.datenlord"));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", daemon_of(&staging))).unwrap();
    let cache = home.path().join("cache/csi/pvc-n");
    assert!(
        cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == cache.to_str().unwrap().as_bytes()),
        "each volume's mount keeps its cache apart"
    );
    for _ in 0..2 {
        node.node_publish_volume(publish_request("pvc-n", &staging, &target, false))
            .await
            .unwrap();
    }
    node.node_publish_volume(publish_request("pvc-n", &staging, &reader, true))
        .await
        .unwrap();
    assert_eq!(
        code(
            node.node_publish_volume(publish_request("pvc-n", &staging, &reader, false))
                .await
        ),
        Code::AlreadyExists,
        "published read-only already"
    );
    let lonely = dir.path().join("pods/p3/volumes/pvc-n/mount");
    let mut single_writer = publish_request("pvc-n", &staging, &lonely, false);
    single_writer.volume_capability = Some(mount_capability(
        pb::volume_capability::access_mode::Mode::SingleNodeSingleWriter,
    ));
    assert_eq!(
        code(node.node_publish_volume(single_writer).await),
        Code::FailedPrecondition,
        "a single-writer volume is published at one target only"
    );
    assert!(!lonely.exists());
    assert_eq!(
        code(stats(&mut node, "pvc-n", Path::new("some/path")).await),
        Code::NotFound
    );
    std::fs::write(target.join("hello"), b"from the pod").unwrap();
    assert_eq!(
        std::fs::read(reader.join("hello")).unwrap(),
        b"from the pod"
    );
    let refused = std::fs::write(reader.join("nope"), b"x").unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EROFS));
    let mounted = Mounted::in_home(Home::on(&home_meta(&home)), Options::default(), &[]);
    assert_eq!(
        std::fs::read(mounted.join("csi/pvc-n/hello")).unwrap(),
        b"from the pod",
        "the pod wrote into the volume's directory"
    );
    drop(mounted);

    // Stats: the quota is the size, and follows an expansion.
    let seen = stats(&mut node, "pvc-n", &target).await.unwrap();
    assert_eq!(bytes_of(&seen).total, GIB);
    assert!(bytes_of(&seen).used >= 4096);
    assert!(!seen.volume_condition.unwrap().abnormal);
    controller
        .controller_expand_volume(pb::ControllerExpandVolumeRequest {
            volume_id: "pvc-n".into(),
            capacity_range: Some(pb::CapacityRange {
                required_bytes: 2 * GIB,
                limit_bytes: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let seen = stats(&mut node, "pvc-n", &target).await.unwrap();
    assert_eq!(bytes_of(&seen).total, 2 * GIB);
    assert_eq!(
        code(stats(&mut node, "pvc-n", dir.path()).await),
        Code::NotFound
    );

    // The node plugin is killed and comes back: the pod's mount never stops serving.
    driver.0.kill().unwrap();
    driver.0.wait().unwrap();
    std::fs::write(target.join("meanwhile"), b"still here").unwrap();
    let _second = start(&home, &socket, &[]);
    let mut node = NodeClient::new(channel(&socket).await);
    let mut controller = ControllerClient::new(channel(&socket).await);
    stage_and_publish(&mut node, "pvc-n", &staging, &target).await;
    assert_eq!(
        std::fs::read(target.join("meanwhile")).unwrap(),
        b"still here"
    );

    // The mount daemon dies: the stats say so, and the next stage and publish replace it.
    let pid = daemon_of(&staging);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = stats(&mut node, "pvc-n", &target).await.unwrap();
    let condition = seen.volume_condition.unwrap();
    assert!(condition.abnormal, "{condition:?}");
    stage_and_publish(&mut node, "pvc-n", &staging, &target).await;
    assert_eq!(
        std::fs::read(target.join("hello")).unwrap(),
        b"from the pod"
    );
    assert!(
        !stats(&mut node, "pvc-n", &target)
            .await
            .unwrap()
            .volume_condition
            .unwrap()
            .abnormal
    );

    // Unpublished and unstaged, each twice; the target directories go.
    for path in [&target, &target, &reader] {
        node.node_unpublish_volume(pb::NodeUnpublishVolumeRequest {
            volume_id: "pvc-n".into(),
            target_path: path.display().to_string(),
        })
        .await
        .unwrap();
        assert!(!path.exists());
    }
    for _ in 0..2 {
        node.node_unstage_volume(pb::NodeUnstageVolumeRequest {
            volume_id: "pvc-n".into(),
            staging_target_path: staging.display().to_string(),
        })
        .await
        .unwrap();
    }
    assert_eq!(fstype_at(&staging), None);
    controller
        .delete_volume(pb::DeleteVolumeRequest {
            volume_id: "pvc-n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// One HTTP/1.1 exchange with the extender: the status and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn extender_args(nodes: serde_json::Value) -> String {
    serde_json::json!({
        "Pod": {
            "metadata": {"name": "trainer", "namespace": "ns", "labels": {"datenlord.io/job": "train"}},
            "spec": {"volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "tmp", "emptyDir": {}}
            ]}
        },
        "Nodes": nodes["Nodes"],
        "NodeNames": nodes["NodeNames"],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_extender_sends_a_pod_where_its_volume_is_warm() {
    let home = formatted_home();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("csi.sock");
    let _driver = start(&home, &socket, &[]);
    let mut controller = ControllerClient::new(channel(&socket).await);
    let mut node = NodeClient::new(channel(&socket).await);
    let mut request = create_request("pvc-warm", GIB);
    // What csi-provisioner --extra-create-metadata passes; a memory cache on the mounts.
    request.parameters = params(&[
        ("csi.storage.k8s.io/pvc/name", "data"),
        ("csi.storage.k8s.io/pvc/namespace", "ns"),
        ("memory-cache-size", "64M"),
    ]);
    controller.create_volume(request).await.unwrap();
    let staging = dir.path().join("staging");
    let _cleanup = Unmount(vec![staging.clone()]);
    node.node_stage_volume(stage_request("pvc-warm", &staging))
        .await
        .unwrap();
    std::fs::write(staging.join("weights"), vec![5u8; 8 << 20]).unwrap();
    // Written, then read through the mount: its cache holds the data.
    assert_eq!(
        std::fs::read(staging.join("weights")).unwrap().len(),
        8 << 20
    );

    let port = common::servers::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut extender = Driver(
        home.command(&[
            "scheduler-extender",
            "--listen",
            &addr,
            "--refresh",
            "0.2",
            "--node-selector",
            "datenlord.io/node=true",
            "--label-prefix",
            "datenlord.io/",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    common::servers::wait_listening(port, "the scheduler extender");
    assert_eq!(http(&addr, "GET", "/healthz", "").0, 200);
    assert_eq!(http(&addr, "GET", "/nope", "").0, 404);
    assert_eq!(http(&addr, "POST", "/filter", "{not json").0, 400);

    // The mount's heartbeat reports its cache (every few seconds): node-1 comes first.
    let names = serde_json::json!({"NodeNames": ["node-2", "node-1", "node-3"]});
    let deadline = Instant::now() + Duration::from_secs(60);
    let scores = loop {
        let (status, body) = http(&addr, "POST", "/prioritize", &extender_args(names.clone()));
        assert_eq!(status, 200, "{body}");
        let scores: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        if scores.iter().any(|s| s["Score"].as_i64() > Some(0)) {
            break scores;
        }
        assert!(
            Instant::now() < deadline,
            "no cached bytes reported: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let score = |host: &str| {
        scores
            .iter()
            .find(|s| s["Host"] == host)
            .and_then(|s| s["Score"].as_i64())
            .unwrap()
    };
    assert_eq!(score("node-1"), 8, "{scores:?}");
    assert_eq!((score("node-2"), score("node-3")), (0, 0));

    // Whole nodes: the one without the plugin's label is filtered; labels alike score.
    let whole = |name: &str, labels: serde_json::Value| serde_json::json!({"metadata": {"name": name, "labels": labels}, "status": {"capacity": {"cpu": "4"}}});
    let nodes = serde_json::json!({"Nodes": {"kind": "NodeList", "apiVersion": "v1", "items": [
        whole("node-1", serde_json::json!({"datenlord.io/node": "true"})),
        whole("node-2", serde_json::json!({"datenlord.io/node": "true", "datenlord.io/job": "train"})),
        whole("node-4", serde_json::json!({})),
    ]}});
    let (status, body) = http(&addr, "POST", "/filter", &extender_args(nodes.clone()));
    assert_eq!(status, 200, "{body}");
    let filtered: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kept: Vec<&str> = filtered["Nodes"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["node-1", "node-2"]);
    assert_eq!(
        filtered["Nodes"]["items"][0]["status"]["capacity"]["cpu"],
        "4"
    );
    assert!(
        filtered["FailedNodes"]["node-4"]
            .as_str()
            .unwrap()
            .contains("datenlord.io/node")
    );
    assert_eq!(filtered["Error"], "");
    let (_, body) = http(&addr, "POST", "/prioritize", &extender_args(nodes));
    let scores: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let by_host: HashMap<&str, i64> = scores
        .iter()
        .map(|s| (s["Host"].as_str().unwrap(), s["Score"].as_i64().unwrap()))
        .collect();
    assert_eq!(by_host["node-1"], 8);
    assert_eq!(by_host["node-2"], 2, "labelled like the pod");
    // A pod without DatenLord volumes is no one's to filter.
    let plain = r#"{"Pod": {"metadata": {"name": "web", "namespace": "ns"}, "spec": {}},
        "NodeNames": ["node-4"]}"#;
    let (_, body) = http(&addr, "POST", "/filter", plain);
    let filtered: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(filtered["NodeNames"], serde_json::json!(["node-4"]));

    let _ = extender.0.kill();
    node.node_unstage_volume(pb::NodeUnstageVolumeRequest {
        volume_id: "pvc-warm".into(),
        staging_target_path: staging.display().to_string(),
    })
    .await
    .unwrap();
}
