//! The flag surface of `k3s server` and `k3s agent` as k3s declares it (`pkg/cli/cmds`
//! `ServerFlags`, the agent command's flags, and the logging flags both share): names,
//! one-letter aliases, kinds and `K3S_*` variables. The stand-in accepts every one of them
//! (most are recorded and otherwise ignored: see the README) and nothing else.

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--flag`, `--flag=true|false`.
    Bool,
    /// One value; the last one given wins.
    Str,
    /// Repeatable; every value is kept.
    List,
}

/// One flag.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub env: Option<&'static str>,
}

const fn f(name: &'static str, kind: Kind) -> Flag {
    Flag {
        name,
        alias: None,
        kind,
        env: None,
    }
}

const fn fe(name: &'static str, kind: Kind, env: &'static str) -> Flag {
    Flag {
        name,
        alias: None,
        kind,
        env: Some(env),
    }
}

const fn fa(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    env: Option<&'static str>,
) -> Flag {
    Flag {
        name,
        alias: Some(alias),
        kind,
        env,
    }
}

use Kind::{Bool, List, Str};

/// Flags of both commands: config and logging.
const COMMON: &[Flag] = &[
    fa("config", "c", Str, Some("K3S_CONFIG_FILE")),
    fe("debug", Bool, "K3S_DEBUG"),
    f("v", Str),
    f("vmodule", Str),
    fa("log", "l", Str, None),
    f("alsologtostderr", Bool),
];

/// Agent flags; a server takes them too (a server runs an agent).
const AGENT_NODE: &[Flag] = &[
    fe("node-name", Str, "K3S_NODE_NAME"),
    f("with-node-id", Bool),
    f("node-label", List),
    f("node-taint", List),
    f("image-credential-provider-bin-dir", Str),
    f("image-credential-provider-config", Str),
    fe("selinux", Bool, "K3S_SELINUX"),
    fe("lb-server-port", Str, "K3S_LB_SERVER_PORT"),
    f("protect-kernel-defaults", Bool),
    f("container-runtime-endpoint", Str),
    f("default-runtime", Str),
    f("image-service-endpoint", Str),
    f("disable-default-registry-endpoint", Bool),
    f("nonroot-devices", Bool),
    f("pause-image", Str),
    f("snapshotter", Str),
    f("private-registry", Str),
    f("airgap-extra-registry", List),
    fa("node-ip", "i", List, None),
    f("node-external-ip", List),
    f("node-internal-dns", List),
    f("node-external-dns", List),
    fe("resolv-conf", Str, "K3S_RESOLV_CONF"),
    f("flannel-iface", Str),
    f("flannel-conf", Str),
    f("flannel-cni-conf", Str),
    fe("vpn-auth", Str, "K3S_VPN_AUTH"),
    fe("vpn-auth-file", Str, "K3S_VPN_AUTH_FILE"),
    f("kubelet-arg", List),
    f("kube-proxy-arg", List),
    f("rootless", Bool),
    f("prefer-bundled-bin", Bool),
    f("docker", Bool),
    f("disable-selinux", Bool),
    f("no-flannel", Bool),
    f("enable-pprof", Bool),
];

/// Flags only `k3s agent` has.
const AGENT_ONLY: &[Flag] = &[
    fa("token", "t", Str, Some("K3S_TOKEN")),
    fe("token-file", Str, "K3S_TOKEN_FILE"),
    fa("server", "s", Str, Some("K3S_URL")),
    fa("data-dir", "d", Str, None),
    fe("cluster-secret", Str, "K3S_CLUSTER_SECRET"),
    f("disable-apiserver-lb", Bool),
];

/// Flags only `k3s server` has.
const SERVER_ONLY: &[Flag] = &[
    f("bind-address", Str),
    f("https-listen-port", Str),
    f("supervisor-port", Str),
    f("apiserver-port", Str),
    f("apiserver-bind-address", Str),
    f("advertise-address", Str),
    f("advertise-port", Str),
    f("tls-san", List),
    f("tls-san-security", Bool),
    fa("data-dir", "d", Str, None),
    f("cluster-cidr", List),
    f("service-cidr", List),
    f("service-node-port-range", Str),
    f("cluster-dns", List),
    f("cluster-domain", Str),
    f("flannel-backend", Str),
    f("flannel-ipv6-masq", Bool),
    f("flannel-external-ip", Bool),
    f("egress-selector-mode", Str),
    f("servicelb-namespace", Str),
    fa("write-kubeconfig", "o", Str, Some("K3S_KUBECONFIG_OUTPUT")),
    fe("write-kubeconfig-mode", Str, "K3S_KUBECONFIG_MODE"),
    fe("write-kubeconfig-group", Str, "K3S_KUBECONFIG_GROUP"),
    f("helm-job-image", Str),
    fa("token", "t", Str, Some("K3S_TOKEN")),
    fe("token-file", Str, "K3S_TOKEN_FILE"),
    fe("agent-token", Str, "K3S_AGENT_TOKEN"),
    fe("agent-token-file", Str, "K3S_AGENT_TOKEN_FILE"),
    fa("server", "s", Str, Some("K3S_URL")),
    fe("cluster-init", Bool, "K3S_CLUSTER_INIT"),
    fe("cluster-reset", Bool, "K3S_CLUSTER_RESET"),
    f("cluster-reset-restore-path", Str),
    f("kube-apiserver-arg", List),
    f("etcd-arg", List),
    f("kube-controller-manager-arg", List),
    f("kube-scheduler-arg", List),
    f("kube-cloud-controller-manager-arg", List),
    f("kube-controller-arg", List),
    f("kube-cloud-controller-arg", List),
    fe("datastore-endpoint", Str, "K3S_DATASTORE_ENDPOINT"),
    fe("datastore-cafile", Str, "K3S_DATASTORE_CAFILE"),
    fe("datastore-certfile", Str, "K3S_DATASTORE_CERTFILE"),
    fe("datastore-keyfile", Str, "K3S_DATASTORE_KEYFILE"),
    f("kine-tls", Bool),
    f("etcd-expose-metrics", Bool),
    f("etcd-disable-snapshots", Bool),
    f("etcd-snapshot-name", Str),
    f("etcd-snapshot-schedule-cron", Str),
    f("etcd-snapshot-retention", Str),
    f("etcd-snapshot-dir", Str),
    f("etcd-snapshot-compress", Bool),
    f("etcd-s3", Bool),
    f("etcd-s3-endpoint", Str),
    f("etcd-s3-endpoint-ca", Str),
    f("etcd-s3-skip-ssl-verify", Bool),
    fe("etcd-s3-access-key", Str, "AWS_ACCESS_KEY_ID"),
    fe("etcd-s3-secret-key", Str, "AWS_SECRET_ACCESS_KEY"),
    f("etcd-s3-bucket", Str),
    f("etcd-s3-region", Str),
    f("etcd-s3-folder", Str),
    f("etcd-s3-insecure", Bool),
    f("etcd-s3-timeout", Str),
    f("etcd-s3-config-secret", Str),
    f("etcd-s3-proxy", Str),
    f("default-local-storage-path", Str),
    f("disable", List),
    f("disable-scheduler", Bool),
    f("disable-cloud-controller", Bool),
    f("disable-ccm", Bool),
    f("disable-kube-proxy", Bool),
    f("disable-network-policy", Bool),
    f("disable-helm-controller", Bool),
    f("disable-apiserver", Bool),
    f("disable-controller-manager", Bool),
    f("disable-etcd", Bool),
    f("disable-agent", Bool),
    f("embedded-registry", Bool),
    f("supervisor-metrics", Bool),
    fe(
        "system-default-registry",
        Str,
        "K3S_SYSTEM_DEFAULT_REGISTRY",
    ),
    f("secrets-encryption", Bool),
    f("secrets-encryption-provider", Str),
    f("helm-controller-arg", List),
];

/// Which command a flag list belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Server,
    Agent,
}

impl Command {
    /// `server` or `agent`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Server => "server",
            Command::Agent => "agent",
        }
    }

    /// Every flag the command accepts.
    pub fn flags(self) -> impl Iterator<Item = &'static Flag> {
        let own = match self {
            Command::Server => SERVER_ONLY,
            Command::Agent => AGENT_ONLY,
        };
        COMMON.iter().chain(AGENT_NODE).chain(own)
    }

    /// The flag called `name` (its long name or its one-letter alias).
    pub fn find(self, name: &str) -> Option<&'static Flag> {
        self.flags()
            .find(|f| f.name == name || f.alias == Some(name))
    }
}

/// Flags whose values are secrets: replaced by `********` wherever they are shown (the
/// `k3s.io/node-args` annotation, logs), as k3s does.
pub const SECRET_FLAGS: &[&str] = &[
    "token",
    "agent-token",
    "datastore-endpoint",
    "etcd-s3-access-key",
    "etcd-s3-secret-key",
    "vpn-auth",
];

/// `K3S_*` variables whose values are secrets (masked in `k3s.io/node-env`).
pub const SECRET_ENV: &[&str] = &[
    "K3S_TOKEN",
    "K3S_AGENT_TOKEN",
    "K3S_DATASTORE_ENDPOINT",
    "K3S_CLUSTER_SECRET",
    "K3S_VPN_AUTH",
];

/// Packaged components `--disable` accepts.
pub const DISABLE_ITEMS: &[&str] = &[
    "coredns",
    "servicelb",
    "traefik",
    "local-storage",
    "metrics-server",
    "runtimes",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_per_command() {
        for cmd in [Command::Server, Command::Agent] {
            let mut seen = std::collections::HashSet::new();
            for f in cmd.flags() {
                assert!(seen.insert(f.name), "{} twice in {}", f.name, cmd.name());
            }
            assert_eq!(cmd.find("t").map(|f| f.name), Some("token"));
            assert_eq!(cmd.find("c").map(|f| f.name), Some("config"));
        }
        assert!(Command::Agent.find("tls-san").is_none());
        assert!(Command::Server.find("tls-sans").is_none());
    }
}
