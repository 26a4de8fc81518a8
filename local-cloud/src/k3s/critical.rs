//! The values every server of a cluster must share (k3s's `CriticalControlArgs`,
//! `pkg/daemons/config/types.go`): how `/v1-k3s/config` carries them (Go's JSON of the
//! embedded struct: its fields at the top level, `net.IP` as text, `*net.IPNet` as
//! `{"IP","Mask"}` with the mask in base64), and how a joining server compares them
//! (`compareConfig`: go-test/deep's paths, printed as the field's `cli` tag when the path
//! is a field name, else as the path itself, e.g. `ClusterIPRange.IP`).

use std::net::Ipv4Addr;

use base64::Engine;
use ipnet::Ipv4Net;
use serde_json::{Map, Value, json};

/// One field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Val {
    Ips(Vec<Ipv4Addr>),
    Nets(Vec<Ipv4Net>),
    Ip(Ipv4Addr),
    Net(Ipv4Net),
    Str(String),
    Bool(bool),
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy)]
enum Src {
    DnsList,
    Dns,
    ClusterList,
    Cluster,
    ServiceList,
    Service,
    Domain,
    Backend,
    Egress,
    Provider,
    ServiceLb,
    /// The boolean flag named by the `cli` tag.
    Flag,
}

/// The struct's fields in order: Go name, `cli` tag, source.
const FIELDS: &[(&str, &str, Src)] = &[
    ("ClusterDNSs", "cluster-dns", Src::DnsList),
    ("ClusterIPRanges", "cluster-cidr", Src::ClusterList),
    ("ClusterDNS", "cluster-dns", Src::Dns),
    ("ClusterDomain", "cluster-domain", Src::Domain),
    ("ClusterIPRange", "cluster-cidr", Src::Cluster),
    ("DisableCCM", "disable-cloud-controller", Src::Flag),
    (
        "DisableHelmController",
        "disable-helm-controller",
        Src::Flag,
    ),
    ("DisableNPC", "disable-network-policy", Src::Flag),
    ("DisableServiceLB", "disable-service-lb", Src::ServiceLb),
    ("EncryptSecrets", "secrets-encryption", Src::Flag),
    (
        "EncryptProvider",
        "secrets-encryption-provider",
        Src::Provider,
    ),
    ("EmbeddedRegistry", "embedded-registry", Src::Flag),
    ("FlannelBackend", "flannel-backend", Src::Backend),
    ("FlannelIPv6Masq", "flannel-ipv6-masq", Src::Flag),
    ("FlannelExternalIP", "flannel-external-ip", Src::Flag),
    ("EgressSelectorMode", "egress-selector-mode", Src::Egress),
    ("ServiceIPRange", "service-cidr", Src::Service),
    ("ServiceIPRanges", "service-cidr", Src::ServiceList),
    ("SupervisorMetrics", "supervisor-metrics", Src::Flag),
];

/// A field of the struct: Go name, `cli` tag, value.
#[derive(Debug, Clone)]
struct Field {
    go: &'static str,
    cli: &'static str,
    val: Val,
}

/// The critical values of one server, in the struct's field order.
#[derive(Debug, Clone)]
pub struct CriticalArgs {
    fields: Vec<Field>,
}

/// The flags the critical values come from.
pub struct Inputs<'a> {
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: &'a str,
    pub flannel_backend: &'a str,
    pub egress_selector_mode: &'a str,
    pub encrypt_provider: &'a str,
    /// Boolean flags by k3s's name (`disable-cloud-controller`, ...): whether each is set.
    pub flag: &'a dyn Fn(&str) -> bool,
    pub disable_service_lb: bool,
}

fn mask_b64(net: &Ipv4Net) -> String {
    base64::engine::general_purpose::STANDARD.encode(net.netmask().octets())
}

fn net_json(net: &Ipv4Net) -> Value {
    json!({"IP": net.network().to_string(), "Mask": mask_b64(net)})
}

/// go-test/deep's diff paths between one `*net.IPNet` and its JSON (`net.IP` has an
/// `Equal` method, so an address differs as a whole; the mask is compared byte by byte).
fn net_diffs(path: &str, local: &Ipv4Net, remote: &Value, out: &mut Vec<String>) {
    if remote.is_null() {
        out.push(path.to_owned());
        return;
    }
    let ip = remote["IP"]
        .as_str()
        .and_then(|s| s.parse::<Ipv4Addr>().ok());
    if ip != Some(local.network()) {
        out.push(format!("{path}.IP"));
    }
    let mask = remote["Mask"]
        .as_str()
        .and_then(|m| base64::engine::general_purpose::STANDARD.decode(m).ok())
        .unwrap_or_default();
    let ours = local.netmask().octets();
    for i in 0..ours.len().max(mask.len()) {
        if ours.get(i) != mask.get(i) {
            out.push(format!("{path}.Mask.slice[{i}]"));
        }
    }
}

impl CriticalArgs {
    /// The critical values of a server started with `i`.
    pub fn new(i: &Inputs<'_>) -> Self {
        let fields = FIELDS
            .iter()
            .map(|&(go, cli, src)| {
                let val = match src {
                    Src::DnsList => Val::Ips(vec![i.cluster_dns]),
                    Src::Dns => Val::Ip(i.cluster_dns),
                    Src::ClusterList => Val::Nets(vec![i.cluster_cidr]),
                    Src::Cluster => Val::Net(i.cluster_cidr),
                    Src::ServiceList => Val::Nets(vec![i.service_cidr]),
                    Src::Service => Val::Net(i.service_cidr),
                    Src::Domain => Val::Str(i.cluster_domain.into()),
                    Src::Backend => Val::Str(i.flannel_backend.into()),
                    Src::Egress => Val::Str(i.egress_selector_mode.into()),
                    Src::Provider => Val::Str(i.encrypt_provider.into()),
                    Src::ServiceLb => Val::Bool(i.disable_service_lb),
                    Src::Flag => Val::Bool((i.flag)(cli)),
                };
                Field { go, cli, val }
            })
            .collect();
        Self { fields }
    }

    /// The fields as `/v1-k3s/config` carries them, added to `doc` (a JSON object).
    pub fn write_into(&self, doc: &mut Map<String, Value>) {
        for f in &self.fields {
            let v = match &f.val {
                Val::Ips(ips) => json!(ips.iter().map(ToString::to_string).collect::<Vec<_>>()),
                Val::Nets(nets) => Value::Array(nets.iter().map(net_json).collect()),
                Val::Ip(ip) => json!(ip.to_string()),
                Val::Net(n) => net_json(n),
                Val::Str(s) => json!(s),
                Val::Bool(b) => json!(b),
            };
            doc.insert(f.go.to_owned(), v);
        }
    }

    /// What `compareConfig` warns about, in order (`critical configuration mismatched: X`
    /// for each), comparing these values with a remote server's `/v1-k3s/config`; empty
    /// when they agree. At most 10 entries (go-test/deep's `MaxDiff`).
    pub fn mismatches(&self, remote: &Value) -> Vec<String> {
        let mut paths = Vec::new();
        for f in &self.fields {
            let r = &remote[f.go];
            match &f.val {
                Val::Bool(b) => {
                    if r.as_bool().unwrap_or(false) != *b {
                        paths.push(f.go.to_owned());
                    }
                }
                Val::Str(s) => {
                    let theirs = r.as_str().unwrap_or_default();
                    // A down-level server without an egress mode is taken to agree.
                    let tolerated = f.go == "EgressSelectorMode" && theirs.is_empty();
                    if theirs != s && !tolerated {
                        paths.push(f.go.to_owned());
                    }
                }
                Val::Ip(ip) => {
                    if r.as_str().and_then(|s| s.parse::<Ipv4Addr>().ok()) != Some(*ip) {
                        paths.push(f.go.to_owned());
                    }
                }
                Val::Net(n) => net_diffs(f.go, n, r, &mut paths),
                Val::Ips(ips) => {
                    let theirs: Vec<Option<Ipv4Addr>> = r
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v.as_str().and_then(|s| s.parse().ok()))
                        .collect();
                    for i in 0..ips.len().max(theirs.len()) {
                        if ips.get(i).copied() != theirs.get(i).copied().flatten() {
                            paths.push(format!("{}.slice[{i}]", f.go));
                        }
                    }
                }
                Val::Nets(nets) => {
                    let theirs = r.as_array().cloned().unwrap_or_default();
                    for i in 0..nets.len().max(theirs.len()) {
                        let path = format!("{}.slice[{i}]", f.go);
                        match (nets.get(i), theirs.get(i)) {
                            (Some(n), Some(t)) => net_diffs(&path, n, t, &mut paths),
                            _ => paths.push(path),
                        }
                    }
                }
            }
        }
        paths.truncate(10);
        // k3s looks the path up as a field name: a field prints its `cli` tag.
        paths
            .into_iter()
            .map(|p| {
                self.fields
                    .iter()
                    .find(|f| f.go == p)
                    .map_or(p.clone(), |f| f.cli.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cidr: &str, backend: &str, encrypt: bool) -> CriticalArgs {
        let flag = move |name: &str| name == "secrets-encryption" && encrypt;
        CriticalArgs::new(&Inputs {
            cluster_cidr: cidr.parse().unwrap(),
            service_cidr: "10.43.0.0/16".parse().unwrap(),
            cluster_dns: "10.43.0.10".parse().unwrap(),
            cluster_domain: "cluster.local",
            flannel_backend: backend,
            egress_selector_mode: "agent",
            encrypt_provider: "aescbc",
            flag: &flag,
            disable_service_lb: false,
        })
    }

    fn doc(a: &CriticalArgs) -> Value {
        let mut m = Map::new();
        a.write_into(&mut m);
        Value::Object(m)
    }

    #[test]
    fn go_shapes_and_the_names_a_mismatch_is_reported_by() {
        let first = args("10.42.0.0/16", "vxlan", false);
        let d = doc(&first);
        assert_eq!(
            d["ClusterIPRange"],
            json!({"IP": "10.42.0.0", "Mask": "//8AAA=="})
        );
        assert_eq!(d["ClusterDNSs"], json!(["10.43.0.10"]));
        assert!(first.mismatches(&d).is_empty());
        let other = args("10.99.0.0/16", "host-gw", true);
        assert_eq!(
            other.mismatches(&d),
            [
                "ClusterIPRanges.slice[0].IP",
                "ClusterIPRange.IP",
                "secrets-encryption",
                "flannel-backend"
            ]
        );
        // Another prefix length: the mask differs byte by byte.
        let wide = args("10.42.0.0/15", "vxlan", false);
        assert_eq!(
            wide.mismatches(&d),
            [
                "ClusterIPRanges.slice[0].Mask.slice[1]",
                "ClusterIPRange.Mask.slice[1]"
            ]
        );
        // A down-level server without an egress mode is tolerated.
        let mut old = d.clone();
        old["EgressSelectorMode"] = json!("");
        assert!(first.mismatches(&old).is_empty());
    }
}
