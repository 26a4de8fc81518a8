//! The GitOps tests' fleet repository: bare on one of the cluster's own hosts, served over
//! SSH (the way users point a controller at a Git host), committed to from a work tree on
//! this machine; the Git host's key pinned as a user would pin it; and what the tests read
//! back with the machine's `kubectl`.

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Cluster;
use support::nodes::NodeHost;

/// The repository and a work tree to commit from.
pub struct Fleet {
    work: tempfile::TempDir,
    ssh: String,
    /// `ssh://azureuser@<host>/home/azureuser/fleet.git`.
    pub url: String,
}

fn git(dir: &Path, env_ssh: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_SSH_COMMAND", env_ssh)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A ConfigMap manifest in `default`.
pub fn configmap(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\ndata:\n  from: git\n"
    )
}

/// Whether `kind` `name` exists in `namespace`, by the machine's kubectl.
pub fn has(c: &Cluster, kind: &str, namespace: &str, name: &str) -> bool {
    kubectl(c, &["get", kind, "-n", namespace, name]).is_some()
}

/// The machine's kubectl through the cluster's kubeconfig: stdout on success.
pub fn kubectl(c: &Cluster, args: &[&str]) -> Option<String> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(c.state_dir().join("kubeconfig"))
        .args(args)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// Waits (bounded, polled) until `kind` `name` exists in `namespace`.
pub fn wait_for(c: &Cluster, kind: &str, namespace: &str, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !has(c, kind, namespace, name) {
        assert!(
            std::time::Instant::now() < deadline,
            "{kind} {namespace}/{name} never reached the cluster"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

impl Fleet {
    /// A bare repository on `host` with a first commit of `files` (path, content), pushed
    /// over SSH with the cluster's key.
    pub fn new(c: &Cluster, host: &NodeHost, files: &[(&str, String)]) -> Fleet {
        c.ssh_ok(host, "git init -q --bare -b main ~/fleet.git");
        let ssh = format!(
            "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
            c.key().display(),
            c.known_hosts().display()
        );
        let work = tempfile::tempdir().unwrap();
        git(work.path(), &ssh, &["init", "-q", "-b", "main"]);
        let url = format!("ssh://azureuser@{}/home/azureuser/fleet.git", host.ip);
        let f = Fleet { work, ssh, url };
        f.commit(files, "first");
        f
    }

    /// Writes `files`, commits and pushes; the new head.
    pub fn commit(&self, files: &[(&str, String)], message: &str) -> String {
        let w = self.work.path();
        for (path, text) in files {
            let p = w.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(w, &self.ssh, &["add", "-A"]);
        git(w, &self.ssh, &["commit", "-q", "-m", message]);
        git(w, &self.ssh, &["push", "-q", &self.url, "main"]);
        self.head()
    }

    /// Removes `path` in a commit; the new head.
    pub fn remove(&self, path: &str, message: &str) -> String {
        git(self.work.path(), &self.ssh, &["rm", "-q", path]);
        self.commit(&[], message)
    }

    /// The work tree's head commit.
    pub fn head(&self) -> String {
        git(self.work.path(), &self.ssh, &["rev-parse", "HEAD"])
            .trim()
            .to_owned()
    }
}

/// A known_hosts file with `host`'s own ed25519 key (the local cloud keeps it with the VM),
/// as the user would pin their Git host; its path.
pub fn pin(c: &Cluster, host: &NodeHost) -> PathBuf {
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(c.vm_dir(&host.name).join("ssh_host_ed25519_key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap();
    let mut parts = key.split_whitespace();
    let pinned = format!(
        "{} {} {}\n",
        host.ip,
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    let known = c.path().join("git-known-hosts");
    std::fs::write(&known, pinned).unwrap();
    known
}

/// The public half of the deploy key platform generated at `file` (under the state's
/// secrets), as `type base64`.
pub fn deploy_key(c: &Cluster, file: &str) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(c.state_dir().join("secrets").join(file))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "platform generated a deploy key: {out:?}"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces the config's `gitops: controller: none` with `gitops` (and appends `more`).
pub fn reconfigure(c: &Cluster, gitops: &str, more: &str) {
    let path = c.path().join("platform.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("gitops:\n  controller: none\n"), "{text}");
    let text = text.replace("gitops:\n  controller: none\n", gitops);
    std::fs::write(&path, format!("{text}{more}")).unwrap();
}

/// Changes `gitops.branch` in the config from `from` to `to`.
pub fn set_branch(c: &Cluster, from: &str, to: &str) {
    let path = c.path().join("platform.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (a, b) = (format!("  branch: {from}\n"), format!("  branch: {to}\n"));
    assert!(text.contains(&a), "{text}");
    std::fs::write(&path, text.replace(&a, &b)).unwrap();
}

/// `down`, then the infrastructure and k3s again; the fleet repository lived on a host of
/// the old cluster, so it is made again with `files` on the new agent, its key pinned and
/// the deploy key `public` (secrets outlive `down`) authorized. The next `up` runs gitops.
pub fn recreate(c: &Cluster, files: &[(&str, String)], public: &str) -> Fleet {
    let down = c.run(&["down", "--yes"]);
    assert_eq!(down.code, 0, "{down:?}");
    let up = c.run(&[
        "up",
        "--only",
        "infra",
        "--only",
        "inventory",
        "--only",
        "nodes",
    ]);
    assert_eq!(up.code, 0, "{up:?}");
    let hosts = c.hosts();
    let git_host = hosts.iter().find(|h| h.name.contains("-agents_")).unwrap();
    let fleet = Fleet::new(c, git_host, files);
    pin(c, git_host);
    authorize(c, git_host, public);
    fleet
}

/// Adds `public` to the Git host's authorized keys (the repository's deploy key).
pub fn authorize(c: &Cluster, host: &NodeHost, public: &str) {
    c.ssh_ok(
        host,
        &format!("printf '%s\\n' '{public}' >> ~/.ssh/authorized_keys"),
    );
}

/// A cluster `name` with 1 server and 1 agent in `10.<octet>.0.0/16` and Postgres, after its
/// first `up` (no controller yet), and the fleet repository on its agent with `files`.
pub fn cluster_with_fleet(
    name: &str,
    octet: u8,
    files: &[(&str, String)],
) -> (Cluster, NodeHost, Fleet) {
    let c = Cluster::with_hosts(name, octet, 1, 1)
        .with_postgres()
        .build();
    let up = c.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    let git_host = c
        .hosts()
        .into_iter()
        .find(|h| h.name.contains("-agents_"))
        .unwrap();
    let fleet = Fleet::new(&c, &git_host, files);
    (c, git_host, fleet)
}

/// Logs in from `node` with the values of a `postgres.secrets` Secret (`kubectl get -o
/// json`): host, port, database, username and password as they are, `sslmode` with the
/// Secret's `ca.crt` as the root; the password in a 0600 `.pgpass`, never on a command
/// line. Returns what `SELECT current_database()` answers.
pub fn login_with_secret(c: &Cluster, node: &NodeHost, secret: &serde_json::Value) -> String {
    use base64::Engine as _;
    let get = |k: &str| {
        let b = base64::engine::general_purpose::STANDARD
            .decode(
                secret["data"][k]
                    .as_str()
                    .unwrap_or_else(|| panic!("{k} in {secret}")),
            )
            .unwrap();
        String::from_utf8(b).unwrap()
    };
    let quote = |s: &str| s.replace('\'', "'\\''");
    c.ssh_ok(
        node,
        &format!(
            "umask 077 && printf '%s' '{}' > ~/secret-ca.pem",
            quote(&get("ca.crt"))
        ),
    );
    c.write_pgpass(node, &get("password"));
    c.ssh_ok(
        node,
        &format!(
            "psql -X -A -t -c 'SELECT current_database()' 'host={} port={} dbname={} user={} sslmode={} sslrootcert=/home/azureuser/secret-ca.pem connect_timeout=10'",
            get("host"),
            get("port"),
            get("database"),
            get("username"),
            get("sslmode")
        ),
    )
    .trim()
    .to_owned()
}
