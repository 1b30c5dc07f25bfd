//! Where a pod goes: the nodes that can serve its DatenLord volumes, scored by how much of
//! those volumes their mounts hold in cache, and by node labels that match the pod's.

use std::collections::{BTreeMap, HashMap};

use super::api::{MAX_SCORE, Pod};

/// Of the score, what the cache can give; the rest is for matching labels.
const CACHE_SHARE: i64 = 8;

/// What the extender knows of the cluster, refreshed in the background.
#[derive(Debug, Default, Clone)]
pub struct Locality {
    /// Volume id → node → bytes its mounts there hold in cache.
    pub cached: HashMap<String, HashMap<String, u64>>,
    /// `namespace/claim` → the volume id it is bound to.
    pub claims: HashMap<String, String>,
}

/// How nodes are chosen.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// A node label (`KEY=VALUE`) the nodes running DatenLord's node plugin carry: others
    /// cannot mount a volume and are filtered out of pods that have one. None: every node can.
    pub node_selector: Option<(String, String)>,
    /// Pod labels under this prefix are matched to node labels: a node labelled alike scores
    /// higher (jobs and nodes labelled alike). Empty: no label matching.
    pub label_prefix: String,
}

/// The volumes of `pod` that are DatenLord's, by id.
pub fn volumes_of<'a>(pod: &Pod, locality: &'a Locality) -> Vec<&'a str> {
    pod.spec
        .volumes
        .iter()
        .filter_map(|v| v.claim.as_ref())
        .filter_map(|c| {
            let key = format!("{}/{}", pod.metadata.namespace, c.claim_name);
            locality.claims.get(&key).map(String::as_str)
        })
        .collect()
}

/// Why `labels` rule a node out for a pod with DatenLord volumes, if they do.
pub fn unfit(rules: &Rules, labels: Option<&HashMap<&str, &str>>) -> Option<String> {
    let (key, value) = rules.node_selector.as_ref()?;
    // Without the node's labels (a nodeCacheCapable call) nothing is ruled out.
    let labels = labels?;
    match labels.get(key.as_str()) {
        Some(found) if found == value => None,
        _ => Some(format!(
            "DatenLord's node plugin does not run here (no node label {key}={value})"
        )),
    }
}

/// The pod's labels that nodes are matched on.
fn matched_labels<'a>(rules: &Rules, pod: &'a Pod) -> BTreeMap<&'a str, &'a str> {
    if rules.label_prefix.is_empty() {
        return BTreeMap::new();
    }
    pod.metadata
        .labels
        .iter()
        .filter(|(k, _)| k.starts_with(&rules.label_prefix))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Scores, 0 to [`MAX_SCORE`], of `candidates` (each with its labels, when the call had them):
/// the share of the pod's cached bytes each holds, relative to the best candidate, and the
/// share of the pod's matched labels it carries alike.
pub fn scores(
    rules: &Rules,
    pod: &Pod,
    locality: &Locality,
    candidates: &[(&str, Option<HashMap<&str, &str>>)],
) -> Vec<(String, i64)> {
    let volumes = volumes_of(pod, locality);
    let cached: Vec<u64> = candidates
        .iter()
        .map(|(node, _)| {
            volumes
                .iter()
                .filter_map(|v| locality.cached.get(*v)?.get(*node))
                .sum()
        })
        .collect();
    let best = cached.iter().copied().max().unwrap_or(0);
    let wanted = matched_labels(rules, pod);
    let label_share = MAX_SCORE - CACHE_SHARE;
    candidates
        .iter()
        .zip(cached)
        .map(|((node, labels), bytes)| {
            let cache = if best == 0 {
                0
            } else {
                // Rounded to the nearest step; u128 so that petabytes do not overflow.
                ((u128::from(bytes) * CACHE_SHARE as u128 * 2 + u128::from(best))
                    / (2 * u128::from(best))) as i64
            };
            let label = match (labels, wanted.len()) {
                (Some(labels), n) if n > 0 => {
                    let alike = wanted
                        .iter()
                        .filter(|(k, v)| labels.get(*k) == Some(*v))
                        .count() as i64;
                    (alike * label_share) / n as i64
                }
                _ => 0,
            };
            (node.to_string(), (cache + label).min(MAX_SCORE))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extender::api::{ClaimSource, ObjectMeta, PodSpec, PodVolume};

    fn pod(claims: &[&str], labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: "p".into(),
                namespace: "ns".into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            spec: PodSpec {
                volumes: claims
                    .iter()
                    .map(|c| PodVolume {
                        claim: Some(ClaimSource {
                            claim_name: c.to_string(),
                        }),
                    })
                    .collect(),
            },
        }
    }

    fn locality() -> Locality {
        let mut locality = Locality::default();
        locality.claims.insert("ns/data".into(), "pvc-1".into());
        locality.claims.insert("ns/logs".into(), "pvc-2".into());
        let node = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(n, b)| (n.to_string(), *b))
                .collect::<HashMap<_, _>>()
        };
        locality
            .cached
            .insert("pvc-1".into(), node(&[("a", 1000), ("b", 500)]));
        locality.cached.insert("pvc-2".into(), node(&[("c", 100)]));
        locality
    }

    #[test]
    fn the_node_holding_most_of_the_pods_volumes_scores_highest() {
        let rules = Rules::default();
        let candidates = [("a", None), ("b", None), ("c", None), ("d", None)];
        let got = scores(&rules, &pod(&["data"], &[]), &locality(), &candidates);
        assert_eq!(
            got,
            [
                ("a".into(), 8),
                ("b".into(), 4),
                ("c".into(), 0),
                ("d".into(), 0)
            ]
        );
        let both = scores(
            &rules,
            &pod(&["data", "logs"], &[]),
            &locality(),
            &candidates,
        );
        assert_eq!(both[2], ("c".into(), 1));
        let none = scores(&rules, &pod(&["other"], &[]), &locality(), &candidates);
        assert!(none.iter().all(|(_, s)| *s == 0));
    }

    #[test]
    fn nodes_labelled_like_the_pod_score_higher() {
        let rules = Rules {
            label_prefix: "datenlord.io/".into(),
            ..Rules::default()
        };
        let like = HashMap::from([("datenlord.io/job", "train")]);
        let unlike = HashMap::from([("datenlord.io/job", "serve")]);
        let candidates = [("a", Some(unlike)), ("d", Some(like))];
        let p = pod(&["data"], &[("datenlord.io/job", "train"), ("app", "x")]);
        let got = scores(&rules, &p, &locality(), &candidates);
        assert_eq!(got, [("a".into(), 8), ("d".into(), 2)]);
    }

    #[test]
    fn only_nodes_with_the_plugin_can_serve_a_volume() {
        let rules = Rules {
            node_selector: Some(("datenlord.io/node".into(), "true".into())),
            ..Rules::default()
        };
        let with = HashMap::from([("datenlord.io/node", "true")]);
        let without = HashMap::new();
        assert_eq!(unfit(&rules, Some(&with)), None);
        assert!(
            unfit(&rules, Some(&without))
                .unwrap()
                .contains("datenlord.io/node=true")
        );
        assert_eq!(unfit(&rules, None), None);
        assert_eq!(unfit(&Rules::default(), Some(&without)), None);
    }
}
