//! Structural schemas of the built-in kinds: every top-level field, ObjectMeta, and the
//! workload/pod/service parts clients apply and patch (with their list-map keys); deeper
//! parts nobody here merges per field are untyped.

use std::sync::{Arc, LazyLock};

use serde_json::json;

use crate::ssa::schema::Schema;
use crate::ssa::schema::build::*;

/// ObjectMeta (apimachinery `types.go`).
pub fn object_meta() -> Arc<Schema> {
    static S: LazyLock<Arc<Schema>> = LazyLock::new(|| {
        st(vec![
            ("name", scalar()),
            ("generateName", scalar()),
            ("namespace", scalar()),
            ("selfLink", scalar()),
            ("uid", scalar()),
            ("resourceVersion", scalar()),
            ("generation", scalar()),
            ("creationTimestamp", scalar()),
            ("deletionTimestamp", scalar()),
            ("deletionGracePeriodSeconds", scalar()),
            ("labels", strings()),
            ("annotations", strings()),
            (
                "ownerReferences",
                keyed(
                    &["uid"],
                    fields_any(&[
                        "apiVersion",
                        "kind",
                        "name",
                        "uid",
                        "controller",
                        "blockOwnerDeletion",
                    ]),
                ),
            ),
            ("finalizers", set()),
            ("managedFields", atomic()),
        ])
    });
    S.clone()
}

fn label_selector() -> Arc<Schema> {
    atomic_struct(&["matchLabels", "matchExpressions"])
}

fn container() -> Arc<Schema> {
    static S: LazyLock<Arc<Schema>> = LazyLock::new(|| {
        let port = fields_any(&["name", "hostPort", "containerPort", "protocol", "hostIP"]);
        let env = fields_any(&["name", "value", "valueFrom"]);
        let mount = fields_any(&[
            "name",
            "readOnly",
            "recursiveReadOnly",
            "mountPath",
            "subPath",
            "mountPropagation",
            "subPathExpr",
        ]);
        st(vec![
            ("name", scalar()),
            ("image", scalar()),
            ("command", atomic()),
            ("args", atomic()),
            ("workingDir", scalar()),
            (
                "ports",
                keyed_defaults(
                    &[("containerPort", None), ("protocol", Some(json!("TCP")))],
                    port,
                ),
            ),
            ("envFrom", atomic()),
            ("env", keyed(&["name"], env)),
            ("resources", any()),
            ("resizePolicy", atomic()),
            ("restartPolicy", scalar()),
            ("restartPolicyRules", atomic()),
            ("volumeMounts", keyed(&["mountPath"], mount)),
            (
                "volumeDevices",
                keyed(&["devicePath"], fields_any(&["name", "devicePath"])),
            ),
            ("livenessProbe", any()),
            ("readinessProbe", any()),
            ("startupProbe", any()),
            ("lifecycle", any()),
            ("terminationMessagePath", scalar()),
            ("terminationMessagePolicy", scalar()),
            ("imagePullPolicy", scalar()),
            ("securityContext", any()),
            ("stdin", scalar()),
            ("stdinOnce", scalar()),
            ("tty", scalar()),
        ])
    });
    S.clone()
}

/// PodSpec (core/v1), with the list-maps of `types.go`.
pub fn pod_spec() -> Arc<Schema> {
    static S: LazyLock<Arc<Schema>> = LazyLock::new(|| {
        let named_any = |fields: &[&str]| keyed(&["name"], fields_any(fields));
        st(vec![
            ("volumes", keyed(&["name"], any())),
            ("initContainers", keyed(&["name"], container())),
            ("containers", keyed(&["name"], container())),
            ("ephemeralContainers", keyed(&["name"], any())),
            ("restartPolicy", scalar()),
            ("terminationGracePeriodSeconds", scalar()),
            ("activeDeadlineSeconds", scalar()),
            ("dnsPolicy", scalar()),
            ("nodeSelector", strings()),
            ("serviceAccountName", scalar()),
            ("serviceAccount", scalar()),
            ("automountServiceAccountToken", scalar()),
            ("nodeName", scalar()),
            ("hostNetwork", scalar()),
            ("hostPID", scalar()),
            ("hostIPC", scalar()),
            ("shareProcessNamespace", scalar()),
            ("securityContext", any()),
            ("imagePullSecrets", named_any(&["name"])),
            ("hostname", scalar()),
            ("subdomain", scalar()),
            ("affinity", any()),
            ("schedulerName", scalar()),
            ("tolerations", atomic()),
            (
                "hostAliases",
                keyed(&["ip"], fields_any(&["ip", "hostnames"])),
            ),
            ("priorityClassName", scalar()),
            ("priority", scalar()),
            ("dnsConfig", any()),
            ("readinessGates", atomic()),
            ("runtimeClassName", scalar()),
            ("enableServiceLinks", scalar()),
            ("preemptionPolicy", scalar()),
            ("overhead", strings()),
            (
                "topologySpreadConstraints",
                keyed(&["topologyKey", "whenUnsatisfiable"], any()),
            ),
            ("setHostnameAsFQDN", scalar()),
            ("os", any()),
            ("hostUsers", scalar()),
            ("schedulingGates", named_any(&["name"])),
            (
                "resourceClaims",
                named_any(&["name", "resourceClaimName", "resourceClaimTemplateName"]),
            ),
            ("resources", any()),
            ("hostnameOverride", scalar()),
        ])
    });
    S.clone()
}

fn pod_template() -> Arc<Schema> {
    static S: LazyLock<Arc<Schema>> =
        LazyLock::new(|| st(vec![("metadata", object_meta()), ("spec", pod_spec())]));
    S.clone()
}

fn job_spec() -> Arc<Schema> {
    st(vec![
        ("parallelism", scalar()),
        ("completions", scalar()),
        ("activeDeadlineSeconds", scalar()),
        ("podFailurePolicy", any()),
        ("successPolicy", any()),
        ("backoffLimit", scalar()),
        ("backoffLimitPerIndex", scalar()),
        ("maxFailedIndexes", scalar()),
        ("selector", label_selector()),
        ("manualSelector", scalar()),
        ("template", pod_template()),
        ("ttlSecondsAfterFinished", scalar()),
        ("completionMode", scalar()),
        ("suspend", scalar()),
        ("podReplacementPolicy", scalar()),
        ("managedBy", scalar()),
    ])
}

fn service_spec() -> Arc<Schema> {
    let port = fields_any(&[
        "name",
        "protocol",
        "appProtocol",
        "port",
        "targetPort",
        "nodePort",
    ]);
    st(vec![
        (
            "ports",
            keyed_defaults(&[("port", None), ("protocol", Some(json!("TCP")))], port),
        ),
        ("selector", strings()),
        ("clusterIP", scalar()),
        ("clusterIPs", atomic()),
        ("type", scalar()),
        ("externalIPs", atomic()),
        ("sessionAffinity", scalar()),
        ("loadBalancerIP", scalar()),
        ("loadBalancerSourceRanges", atomic()),
        ("externalName", scalar()),
        ("externalTrafficPolicy", scalar()),
        ("healthCheckNodePort", scalar()),
        ("publishNotReadyAddresses", scalar()),
        ("sessionAffinityConfig", any()),
        ("ipFamilies", atomic()),
        ("ipFamilyPolicy", scalar()),
        ("allocateLoadBalancerNodePorts", scalar()),
        ("loadBalancerClass", scalar()),
        ("internalTrafficPolicy", scalar()),
        ("trafficDistribution", scalar()),
    ])
}

fn rolling(fields: &[&str]) -> Arc<Schema> {
    st(vec![
        ("type", scalar()),
        ("rollingUpdate", fields_any(fields)),
    ])
}

/// The fields of a kind besides `apiVersion`, `kind` and `metadata`.
fn body(group: &str, kind: &str) -> Vec<(&'static str, Arc<Schema>)> {
    let spec_status = |spec: Arc<Schema>| vec![("spec", spec), ("status", any())];
    match (group, kind) {
        ("", "Pod") => spec_status(pod_spec()),
        ("", "PodTemplate") => vec![("template", pod_template())],
        ("", "Service") => spec_status(service_spec()),
        ("", "ConfigMap") => vec![
            ("data", strings()),
            ("binaryData", strings()),
            ("immutable", scalar()),
        ],
        ("", "Secret") => vec![
            ("data", strings()),
            ("stringData", strings()),
            ("type", scalar()),
            ("immutable", scalar()),
        ],
        ("", "Namespace") => vec![
            ("spec", st(vec![("finalizers", atomic())])),
            ("status", any()),
        ],
        ("", "Node") => spec_status(st(vec![
            ("podCIDR", scalar()),
            ("podCIDRs", set()),
            ("providerID", scalar()),
            ("unschedulable", scalar()),
            ("taints", atomic()),
            ("configSource", any()),
            ("externalID", scalar()),
        ])),
        ("", "ServiceAccount") => vec![
            ("secrets", keyed(&["name"], any())),
            ("imagePullSecrets", atomic()),
            ("automountServiceAccountToken", scalar()),
        ],
        ("", "Endpoints") => vec![("subsets", atomic())],
        ("", "Event") => [
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ]
        .iter()
        .map(|f| (*f, any()))
        .collect(),
        ("apps", "Deployment") => spec_status(st(vec![
            ("replicas", scalar()),
            ("selector", label_selector()),
            ("template", pod_template()),
            ("strategy", rolling(&["maxUnavailable", "maxSurge"])),
            ("minReadySeconds", scalar()),
            ("revisionHistoryLimit", scalar()),
            ("paused", scalar()),
            ("progressDeadlineSeconds", scalar()),
        ])),
        ("apps", "StatefulSet") => spec_status(st(vec![
            ("replicas", scalar()),
            ("selector", label_selector()),
            ("template", pod_template()),
            ("volumeClaimTemplates", atomic()),
            ("serviceName", scalar()),
            ("podManagementPolicy", scalar()),
            ("updateStrategy", rolling(&["partition", "maxUnavailable"])),
            ("revisionHistoryLimit", scalar()),
            ("minReadySeconds", scalar()),
            (
                "persistentVolumeClaimRetentionPolicy",
                fields_any(&["whenDeleted", "whenScaled"]),
            ),
            ("ordinals", fields_any(&["start"])),
        ])),
        ("apps", "DaemonSet") => spec_status(st(vec![
            ("selector", label_selector()),
            ("template", pod_template()),
            ("updateStrategy", rolling(&["maxUnavailable", "maxSurge"])),
            ("minReadySeconds", scalar()),
            ("revisionHistoryLimit", scalar()),
        ])),
        ("apps", "ReplicaSet") => spec_status(st(vec![
            ("replicas", scalar()),
            ("minReadySeconds", scalar()),
            ("selector", label_selector()),
            ("template", pod_template()),
        ])),
        ("apps", "ControllerRevision") => vec![("data", any()), ("revision", scalar())],
        ("batch", "Job") => spec_status(job_spec()),
        ("batch", "CronJob") => spec_status(st(vec![
            ("schedule", scalar()),
            ("timeZone", scalar()),
            ("startingDeadlineSeconds", scalar()),
            ("concurrencyPolicy", scalar()),
            ("suspend", scalar()),
            (
                "jobTemplate",
                st(vec![("metadata", object_meta()), ("spec", job_spec())]),
            ),
            ("successfulJobsHistoryLimit", scalar()),
            ("failedJobsHistoryLimit", scalar()),
        ])),
        ("rbac.authorization.k8s.io", "Role") => vec![("rules", atomic())],
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            vec![("rules", atomic()), ("aggregationRule", any())]
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            vec![
                ("subjects", atomic()),
                ("roleRef", atomic_struct(&["apiGroup", "kind", "name"])),
            ]
        }
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => {
            vec![("webhooks", keyed(&["name"], any()))]
        }
        ("storage.k8s.io", "StorageClass") => [
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "mountOptions",
            "allowVolumeExpansion",
            "volumeBindingMode",
            "allowedTopologies",
        ]
        .iter()
        .map(|f| (*f, any()))
        .collect(),
        ("storage.k8s.io", "CSIStorageCapacity") => [
            "nodeTopology",
            "storageClassName",
            "capacity",
            "maximumVolumeSize",
        ]
        .iter()
        .map(|f| (*f, any()))
        .collect(),
        ("scheduling.k8s.io", "PriorityClass") => {
            ["value", "globalDefault", "description", "preemptionPolicy"]
                .iter()
                .map(|f| (*f, any()))
                .collect()
        }
        ("node.k8s.io", "RuntimeClass") => ["handler", "overhead", "scheduling"]
            .iter()
            .map(|f| (*f, any()))
            .collect(),
        ("discovery.k8s.io", "EndpointSlice") => {
            vec![
                ("addressType", scalar()),
                ("endpoints", atomic()),
                ("ports", atomic()),
            ]
        }
        // Every other kind: spec and status, contents untyped.
        _ => spec_status(any()),
    }
}

/// The top-level schema of a built-in kind.
pub fn for_kind(group: &str, kind: &str) -> Arc<Schema> {
    let mut fields = vec![
        ("apiVersion", scalar()),
        ("kind", scalar()),
        ("metadata", object_meta()),
    ];
    fields.extend(body(group, kind));
    st(fields)
}
