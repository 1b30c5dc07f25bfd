//! The kube-scheduler extender protocol's JSON (k8s.io/kube-scheduler/extender/v1): what the
//! scheduler sends (`ExtenderArgs`) and what filter and prioritize answer
//! (`ExtenderFilterResult`, `HostPriorityList`). The upstream structs carry no JSON tags, so
//! the field names are Go's (`Pod`, `NodeNames`, ...); Go reads them back case-insensitively,
//! and so do we (the lower-case spellings some extenders use are accepted too).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

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
    #[serde(default, deserialize_with = "null_as_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Go writes an empty map as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::deserialize(deserializer)?.unwrap_or_default())
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

/// A NodeList, its items kept whole: a filter answers with the nodes it was given. Its
/// fields are named rather than flattened: serde buffers a flattened struct's whole input
/// first, which made a list of 5 000 nodes several times slower to read.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NodeList {
    /// The list's API version, passed back as it came.
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<String>,
    /// The list's kind, passed back as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The list's metadata, passed back as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The nodes, as the scheduler sent them.
    #[serde(default)]
    pub items: Vec<Node>,
}

/// One node as the scheduler sent it: its JSON kept as it came, for a filter to answer with,
/// and the name and labels placement reads. Only those are decoded: building a tree of every
/// node's fields (status, images, conditions) made a call with 5 000 nodes spend its time
/// allocating.
#[derive(Debug)]
pub struct Node {
    raw: Box<RawValue>,
    meta: ObjectMeta,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            metadata: ObjectMeta,
        }
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let head: Head = serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        Ok(Self {
            raw,
            meta: head.metadata,
        })
    }
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// A node's name.
pub fn node_name(node: &Node) -> Option<&str> {
    Some(node.meta.name.as_str()).filter(|name| !name.is_empty())
}

/// A node's labels.
pub fn node_labels(node: &Node) -> HashMap<&str, &str> {
    node.meta
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_go_back_as_they_came() {
        let item =
            r#"{"metadata":{"name":"n1","labels":{"zone":"a"}},"status":{"x":[1,2.5e3,"\u00e9"]}}"#;
        let list = format!(r#"{{"kind":"NodeList","apiVersion":"v1","items":[{item}]}}"#);
        let nodes: NodeList = serde_json::from_str(&list).unwrap();
        assert_eq!(node_name(&nodes.items[0]), Some("n1"));
        assert_eq!(node_labels(&nodes.items[0]).get("zone"), Some(&"a"));
        let again = serde_json::to_string(&nodes).unwrap();
        assert!(again.contains(item), "{again}");
        assert!(again.contains(r#""kind":"NodeList""#));
    }

    #[test]
    fn nodes_without_labels_or_name_are_read() {
        let nodes: NodeList =
            serde_json::from_str(r#"{"items":[{"metadata":{"labels":null}},{}]}"#).unwrap();
        assert_eq!(node_name(&nodes.items[0]), None);
        assert!(node_labels(&nodes.items[1]).is_empty());
        assert!(serde_json::from_str::<NodeList>(r#"{"items":[{"metadata":7}]}"#).is_err());
    }
}
