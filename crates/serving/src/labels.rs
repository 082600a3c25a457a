//! Knative's label and annotation keys, and the names controllers give objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

/// Label: the Service an object belongs to.
pub const SERVICE_LABEL: &str = "serving.knative.dev/service";
/// Label: uid of the owning Service.
pub const SERVICE_UID_LABEL: &str = "serving.knative.dev/serviceUID";
/// Label: the Configuration a Revision (or instance) belongs to.
pub const CONFIGURATION_LABEL: &str = "serving.knative.dev/configuration";
/// Label: uid of the Configuration.
pub const CONFIGURATION_UID_LABEL: &str = "serving.knative.dev/configurationUID";
/// Label: the Configuration's `metadata.generation` a Revision was stamped from.
pub const CONFIGURATION_GENERATION_LABEL: &str = "serving.knative.dev/configurationGeneration";
/// Label (on instances): the Revision they run.
pub const REVISION_LABEL: &str = "serving.knative.dev/revision";
/// Label (on instances): uid of the Revision they run.
pub const REVISION_UID_LABEL: &str = "serving.knative.dev/revisionUID";
/// Label: the Route an object belongs to.
pub const ROUTE_LABEL: &str = "serving.knative.dev/route";
/// Revision label: `active` while a Route sends it traffic, `reserve` once none does.
pub const ROUTING_STATE_LABEL: &str = "serving.knative.dev/routingState";
/// Revision annotation: when `routingState` last changed (RFC 3339).
pub const ROUTING_STATE_MODIFIED_ANNOTATION: &str = "serving.knative.dev/routingStateModified";
/// Revision annotation: the Routes sending it traffic, comma-separated and sorted.
pub const ROUTES_ANNOTATION: &str = "serving.knative.dev/routes";
/// Label: `cluster-local` keeps a Route off the public gateway.
pub const VISIBILITY_LABEL: &str = "networking.knative.dev/visibility";
/// Older spelling of [`VISIBILITY_LABEL`], still honoured by Knative.
pub const LEGACY_VISIBILITY_LABEL: &str = "serving.knative.dev/visibility";
/// Value of [`VISIBILITY_LABEL`] for cluster-local Routes.
pub const VISIBILITY_CLUSTER_LOCAL: &str = "cluster-local";
/// Annotation: the fewest instances a Revision runs while it takes traffic.
pub const MIN_SCALE_ANNOTATION: &str = "autoscaling.knative.dev/min-scale";
/// Older spelling of [`MIN_SCALE_ANNOTATION`].
pub const LEGACY_MIN_SCALE_ANNOTATION: &str = "autoscaling.knative.dev/minScale";
/// Annotation: per-Revision progress deadline (a Go duration, e.g. `30s`).
pub const PROGRESS_DEADLINE_ANNOTATION: &str = "serving.knative.dev/progress-deadline";
/// kubectl's annotation, never copied from a Service to its children.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `{config}-00001`: Knative's `kmeta.ChildName(config, "-%05d")`.
pub fn revision_name(configuration: &str, generation: i64) -> String {
    child_name(configuration, &format!("-{generation:05}"))
}

/// Knative's `kmeta.ChildName`: `parent + suffix`, shortened with a hash when longer
/// than 63 characters.
pub fn child_name(parent: &str, suffix: &str) -> String {
    let name = format!("{parent}{suffix}");
    if name.len() <= 63 {
        return name;
    }
    let hash = format!("{:016x}", fnv64(name.as_bytes()));
    let keep = 63usize.saturating_sub(hash.len() + suffix.len());
    let prefix: String = parent.chars().take(keep).collect();
    format!("{prefix}{hash}{suffix}")
}

/// Characters Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `{revision}-deployment-{hash}-{random}`: a stable 10-character hash of the revision's
/// uid (like a ReplicaSet's pod-template-hash) and 5 random characters (like a Pod's).
pub fn pod_name(revision: &str, revision_uid: &str) -> String {
    use rand::Rng;
    let mut h = fnv64(revision_uid.as_bytes());
    let mut stable = String::with_capacity(10);
    for _ in 0..10 {
        stable.push(SAFE_ALPHABET[(h % SAFE_ALPHABET.len() as u64) as usize] as char);
        h /= SAFE_ALPHABET.len() as u64;
    }
    let mut rng = rand::thread_rng();
    let random: String = (0..5)
        .map(|_| SAFE_ALPHABET[rng.gen_range(0..SAFE_ALPHABET.len())] as char)
        .collect();
    format!("{revision}-deployment-{stable}-{random}")
}

fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// An ownerReference marking `owner` as the controller of the object that carries it
/// (`controller: true, blockOwnerDeletion: true`, as `kmeta.NewControllerRef`).
pub(crate) fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` names the object with `owner_uid` as its controller.
pub(crate) fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == owner_uid)
}

/// Label value, or "".
pub(crate) fn label<'a>(meta: &'a ObjectMeta, key: &str) -> &'a str {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
        .unwrap_or("")
}

/// Annotation value, if set.
pub(crate) fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Parses a Go duration (`600s`, `1m30s`, `1.5h`, `250ms`).
pub(crate) fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(revision_name("hello", 1), "hello-00001");
        assert_eq!(revision_name("hello", 123456), "hello-123456");
        let long = "a".repeat(70);
        let n = revision_name(&long, 2);
        assert_eq!(n.len(), 63);
        assert!(n.ends_with("-00002"));
        let p1 = pod_name("hello-00001", "uid-1");
        let p2 = pod_name("hello-00001", "uid-1");
        assert!(p1.starts_with("hello-00001-deployment-"));
        assert_eq!(p1.len(), "hello-00001-deployment-".len() + 16);
        assert_eq!(p1[..p1.len() - 5], p2[..p2.len() - 5]);
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_go_duration("600s"), Some(Duration::from_secs(600)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
