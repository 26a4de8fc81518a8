//! The built-in resource table: group/version, kind, plural, scope, short names, categories
//! and behaviour flags, in the order kube-apiserver's discovery lists them.

use super::{Flags, ResourceType, schemas};

const S: u8 = 1; // status subresource
const C: u8 = 2; // scale subresource
const G: u8 = 4; // generation tracked
const A: u8 = 8; // generation bumped on annotation changes too
const D: u8 = 16; // DELETE returns the object
const K: u8 = 32; // status kept on create

/// group/version, kind, plural, namespaced, short names, categories, flags.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    u8,
);

const NS: bool = true;
const CL: bool = false;
const ALL: &[&str] = &["all"];
const EXT: &[&str] = &["api-extensions"];

#[rustfmt::skip]
const TABLE: &[Row] = &[
    ("v1", "ConfigMap", "configmaps", NS, &["cm"], &[], 0),
    ("v1", "Endpoints", "endpoints", NS, &["ep"], &[], 0),
    ("v1", "Event", "events", NS, &["ev"], &[], 0),
    ("v1", "LimitRange", "limitranges", NS, &["limits"], &[], 0),
    ("v1", "Namespace", "namespaces", CL, &["ns"], &[], S),
    ("v1", "Node", "nodes", CL, &["no"], &[], S | K),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", NS, &["pvc"], &[], S | D),
    ("v1", "PersistentVolume", "persistentvolumes", CL, &["pv"], &[], S | D),
    ("v1", "Pod", "pods", NS, &["po"], ALL, S | D),
    ("v1", "PodTemplate", "podtemplates", NS, &[], &[], 0),
    ("v1", "ReplicationController", "replicationcontrollers", NS, &["rc"], ALL, S | C | G),
    ("v1", "ResourceQuota", "resourcequotas", NS, &["quota"], &[], S),
    ("v1", "Secret", "secrets", NS, &[], &[], 0),
    ("v1", "ServiceAccount", "serviceaccounts", NS, &["sa"], &[], D),
    ("v1", "Service", "services", NS, &["svc"], ALL, S),
    ("apiregistration.k8s.io/v1", "APIService", "apiservices", CL, &[], EXT, S),
    ("apps/v1", "ControllerRevision", "controllerrevisions", NS, &[], &[], 0),
    ("apps/v1", "DaemonSet", "daemonsets", NS, &["ds"], ALL, S | G),
    ("apps/v1", "Deployment", "deployments", NS, &["deploy"], ALL, S | C | G | A),
    ("apps/v1", "ReplicaSet", "replicasets", NS, &["rs"], ALL, S | C | G),
    ("apps/v1", "StatefulSet", "statefulsets", NS, &["sts"], ALL, S | C | G),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", NS, &["hpa"], ALL, S | G),
    ("batch/v1", "CronJob", "cronjobs", NS, &["cj"], ALL, S | G),
    ("batch/v1", "Job", "jobs", NS, &[], ALL, S | G),
    ("networking.k8s.io/v1", "IngressClass", "ingressclasses", CL, &[], &[], 0),
    ("networking.k8s.io/v1", "Ingress", "ingresses", NS, &["ing"], &[], S | G),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", NS, &["netpol"], &[], G),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", NS, &["pdb"], &[], S | G),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", CL, &[], &[], 0),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", CL, &[], &[], 0),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", NS, &[], &[], 0),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", NS, &[], &[], 0),
    ("storage.k8s.io/v1", "CSIDriver", "csidrivers", CL, &[], &[], 0),
    ("storage.k8s.io/v1", "CSINode", "csinodes", CL, &[], &[], 0),
    ("storage.k8s.io/v1", "CSIStorageCapacity", "csistoragecapacities", NS, &[], &[], 0),
    ("storage.k8s.io/v1", "StorageClass", "storageclasses", CL, &["sc"], &[], 0),
    ("storage.k8s.io/v1", "VolumeAttachment", "volumeattachments", CL, &[], &[], S),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", CL, &[], EXT, G),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", CL, &[], EXT, S | G),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", CL, &[], EXT, G),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", CL, &[], EXT, G),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", CL, &["crd", "crds"], EXT, S | G),
    ("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", CL, &["pc"], &[], 0),
    ("coordination.k8s.io/v1", "Lease", "leases", NS, &[], &[], 0),
    ("node.k8s.io/v1", "RuntimeClass", "runtimeclasses", CL, &[], &[], 0),
    ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", NS, &[], &[], G),
];

/// Field selectors each kind supports besides `metadata.name`/`metadata.namespace`
/// (kubernetes `pkg/registry/*/strategy.go` `*ToSelectableFields`).
fn field_selectors(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Node") => &["spec.unschedulable"],
        ("", "Namespace") => &["status.phase"],
        ("", "Secret") => &["type"],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        ("", "PersistentVolumeClaim") => &["spec.volumeName"],
        _ => &[],
    }
}

/// Every built-in type.
pub fn builtin_types() -> Vec<ResourceType> {
    TABLE
        .iter()
        .map(|&(gv, kind, plural, namespaced, short, categories, f)| {
            let (group, version) = gv.split_once('/').unwrap_or(("", gv));
            ResourceType {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: kind.to_lowercase(),
                namespaced,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: categories.iter().map(|s| s.to_string()).collect(),
                flags: Flags {
                    status: f & S != 0,
                    scale: f & C != 0,
                    generation: f & G != 0,
                    generation_on_annotations: f & A != 0,
                    return_deleted: f & D != 0,
                    keep_status_on_create: f & K != 0,
                },
                field_selectors: field_selectors(group, kind)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                storage: plural.to_string(),
                schema: schemas::for_kind(group, kind),
                custom: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_locations_are_unique() {
        let types = builtin_types();
        let mut seen = std::collections::HashSet::new();
        for t in &types {
            assert!(seen.insert(t.storage.clone()), "{} stored twice", t.storage);
        }
    }
}
