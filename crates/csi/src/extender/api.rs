//! The kube-scheduler extender protocol's JSON (k8s.io/kube-scheduler/extender/v1): what the
//! scheduler sends (`ExtenderArgs`) and what filter and prioritize answer
//! (`ExtenderFilterResult`, `HostPriorityList`). The upstream structs carry no JSON tags, so
//! the field names are Go's (`Pod`, `NodeNames`, ...); Go reads them back case-insensitively,
//! and so do we (the lower-case spellings some extenders use are accepted too).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The highest score an extender gives (`MaxExtenderPriority`).
pub const MAX_SCORE: i64 = 10;

/// What the scheduler asks about: a pod and its candidate nodes.
#[derive(Debug, Deserialize)]
pub struct ExtenderArgs {
    /// The pod being scheduled.
    #[serde(rename = "Pod", alias = "pod")]
    pub pod: Option<Pod>,
    /// The candidate nodes, whole (when the extender is not `nodeCacheCapable`).
    #[serde(rename = "Nodes", alias = "nodes", default)]
    pub nodes: Option<NodeList>,
    /// The candidate nodes' names (when it is).
    #[serde(
        rename = "NodeNames",
        alias = "nodenames",
        alias = "nodeNames",
        default
    )]
    pub node_names: Option<Vec<String>>,
}

/// The parts of a pod placement looks at.
#[derive(Debug, Default, Deserialize)]
pub struct Pod {
    /// Its name, namespace and labels.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Its volumes.
    #[serde(default)]
    pub spec: PodSpec,
}

/// Name, namespace and labels of an object.
#[derive(Debug, Default, Deserialize)]
pub struct ObjectMeta {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its namespace (a pod's claims live there).
    #[serde(default)]
    pub namespace: String,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A pod's volumes.
#[derive(Debug, Default, Deserialize)]
pub struct PodSpec {
    /// Every volume of the pod.
    #[serde(default)]
    pub volumes: Vec<PodVolume>,
}

/// One volume of a pod; only claims matter here.
#[derive(Debug, Default, Deserialize)]
pub struct PodVolume {
    /// The claim it mounts, if it is one.
    #[serde(rename = "persistentVolumeClaim", default)]
    pub claim: Option<ClaimSource>,
}

/// A pod volume's claim.
#[derive(Debug, Default, Deserialize)]
pub struct ClaimSource {
    /// The claim's name, in the pod's namespace.
    #[serde(rename = "claimName", default)]
    pub claim_name: String,
}

/// A NodeList, its items kept whole: a filter answers with the nodes it was given.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NodeList {
    /// The nodes, as the scheduler sent them.
    #[serde(default)]
    pub items: Vec<Value>,
    /// Anything else of the list (apiVersion, kind, metadata), passed back as it came.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// A node's name.
pub fn node_name(node: &Value) -> Option<&str> {
    node.get("metadata")?.get("name")?.as_str()
}

/// A node's labels.
pub fn node_labels(node: &Value) -> HashMap<&str, &str> {
    node.get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A filter's answer.
#[derive(Debug, Default, Serialize)]
pub struct ExtenderFilterResult {
    /// The nodes that pass, whole (answering `Nodes`).
    #[serde(rename = "Nodes")]
    pub nodes: Option<NodeList>,
    /// The names of the nodes that pass (answering `NodeNames`).
    #[serde(rename = "NodeNames")]
    pub node_names: Option<Vec<String>>,
    /// Nodes that do not pass, and why.
    #[serde(rename = "FailedNodes")]
    pub failed_nodes: BTreeMap<String, String>,
    /// Nodes that do not pass and that preempting pods would not change.
    #[serde(rename = "FailedAndUnresolvableNodes")]
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// Why the whole call failed, if it did.
    #[serde(rename = "Error")]
    pub error: String,
}

/// One node's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPriority {
    /// The node.
    #[serde(rename = "Host", alias = "host")]
    pub host: String,
    /// Its score, 0 to [`MAX_SCORE`].
    #[serde(rename = "Score", alias = "score")]
    pub score: i64,
}
