//! API defaulting of the built-in kinds (kubernetes `pkg/apis/*/v1/defaults.go`), applied on
//! every write as the real server does when it decodes a request.

use serde_json::{Map, Value, json};

fn obj_mut<'a>(parent: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let p = parent.as_object_mut()?;
    let v = p.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
}

fn default(m: &mut Map<String, Value>, key: &str, v: Value) {
    match m.get(key) {
        None | Some(Value::Null) => {
            m.insert(key.to_string(), v);
        }
        _ => {}
    }
}

/// `imagePullPolicy` default: `Always` for `:latest` or untagged images, else `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container_defaults(c: &mut Value) {
    let Some(c) = c.as_object_mut() else { return };
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "imagePullPolicy", json!(pull_policy(&image)));
    default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
        }
    }
}

/// PodSpec defaults shared by pods and pod templates.
pub fn pod_spec(spec: &mut Value, restart_policy: Option<&str>) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    if let Some(rp) = restart_policy {
        default(s, "restartPolicy", json!(rp));
    }
    default(s, "terminationGracePeriodSeconds", json!(30));
    default(s, "dnsPolicy", json!("ClusterFirst"));
    default(s, "securityContext", json!({}));
    default(s, "schedulerName", json!("default-scheduler"));
    for list in ["initContainers", "containers"] {
        if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(container_defaults);
        }
    }
}

fn template(spec: &mut Map<String, Value>, restart_policy: Option<&str>) {
    if let Some(t) = spec.get_mut("template")
        && let Some(ps) = t.get_mut("spec")
    {
        pod_spec(ps, restart_policy);
    }
}

fn rolling_update(spec: &mut Map<String, Value>, key: &str, rolling: Value) {
    let strategy = spec.entry(key).or_insert_with(|| json!({}));
    let Some(st) = strategy.as_object_mut() else {
        return;
    };
    default(st, "type", json!("RollingUpdate"));
    if st.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        let ru = st.entry("rollingUpdate").or_insert_with(|| json!({}));
        if let (Some(ru), Some(defaults)) = (ru.as_object_mut(), rolling.as_object()) {
            for (k, v) in defaults {
                default(ru, k, v.clone());
            }
        }
    }
}

/// Applies the defaults of `group/kind` to `obj` in place.
pub fn apply(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("apps", "Deployment") => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            default(spec, "replicas", json!(1));
            rolling_update(
                spec,
                "strategy",
                json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
            );
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            template(spec, Some("Always"));
        }
        ("apps", "StatefulSet") => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            default(spec, "replicas", json!(1));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            rolling_update(spec, "updateStrategy", json!({"partition": 0}));
            default(spec, "revisionHistoryLimit", json!(10));
            default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            template(spec, Some("Always"));
        }
        ("apps", "DaemonSet") => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            rolling_update(
                spec,
                "updateStrategy",
                json!({"maxUnavailable": 1, "maxSurge": 0}),
            );
            default(spec, "revisionHistoryLimit", json!(10));
            template(spec, Some("Always"));
        }
        ("apps", "ReplicaSet") | ("", "ReplicationController") => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            default(spec, "replicas", json!(1));
            template(spec, Some("Always"));
        }
        ("batch", "Job") => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            job_spec(spec);
        }
        ("batch", "CronJob") => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            if let Some(js) = spec.get_mut("jobTemplate").and_then(|t| obj_mut(t, "spec")) {
                job_spec(js);
            }
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec(spec, Some("Always"));
                if let Some(s) = spec.as_object_mut() {
                    default(s, "enableServiceLinks", json!(true));
                    default(s, "preemptionPolicy", json!("PreemptLowerPriority"));
                    default(s, "priority", json!(0));
                    default(s, "serviceAccountName", json!("default"));
                    default(s, "serviceAccount", json!("default"));
                }
            }
        }
        ("", "PodTemplate") => {
            if let Some(ps) = obj.get_mut("template").and_then(|t| t.get_mut("spec")) {
                pod_spec(ps, Some("Always"));
            }
        }
        ("", "Secret") => secret(obj),
        _ => {}
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    let completions_set = spec.get("completions").is_some_and(|v| !v.is_null());
    let parallel_set = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !completions_set && !parallel_set {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    // A Job template has no restartPolicy default: validation wants OnFailure or Never.
    template(spec, None);
}

/// `stringData` is write-only: merged into `data` (base64) and dropped; `type` defaults to Opaque.
fn secret(obj: &mut Value) {
    use base64::Engine;
    let Some(o) = obj.as_object_mut() else { return };
    default(o, "type", json!("Opaque"));
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if data.is_null() {
            *data = json!({});
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let s = v.as_str().unwrap_or_default();
                d.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_gets_the_real_defaults() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}}}});
        apply("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn secret_string_data_becomes_data() {
        let mut s = json!({"stringData": {"k": "v"}});
        apply("", "Secret", &mut s);
        assert_eq!(s, json!({"type": "Opaque", "data": {"k": "dg=="}}));
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(pull_policy("registry:5000/nginx:1.2"), "IfNotPresent");
    }
}
