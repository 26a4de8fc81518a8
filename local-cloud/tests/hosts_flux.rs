//! The k3s stand-in's Flux reconcilers on real local-cloud hosts: a bare git repository
//! served over SSH by one host, a k3s stand-in server on another with Flux's CRDs; the
//! server reaches the repository with a deploy key and the host key pinned, reports the
//! GitRepository Ready at `main@sha1:<sha>` (and Ready=False with git's message for a
//! branch that does not exist), applies the Kustomization's ConfigMap, prunes it when a
//! commit removes it, and applies one a later commit adds; a host key other than the
//! pinned one is refused with ssh's message. Root needed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use base64::Engine as _;
use serde_json::Value;
use support::{Cloud, Host, root_or_skip, until};

const KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";
/// Bound for each observable step (polled; never a timing assumption).
const PATIENCE: u64 = 120;

/// `kubectl <args>` on the server host; `(ok, stdout, stderr)`.
fn kubectl(host: &Host, args: &str) -> (bool, String, String) {
    let o = host.run(&format!("sudo kubectl --kubeconfig {KUBECONFIG} {args}"));
    (o.code == Some(0), o.stdout, o.stderr)
}

/// Applies `yaml` with kubectl on the server host.
fn apply(host: &Host, yaml: &str) {
    let o = host.run(&format!(
        "cat > /tmp/apply.yaml <<'EOF'\n{yaml}\nEOF\nsudo kubectl --kubeconfig {KUBECONFIG} apply -f /tmp/apply.yaml"
    ));
    assert_eq!(o.code, Some(0), "apply: {}\n{}", o.stderr, o.stdout);
}

/// An object as JSON, if it exists.
fn get(host: &Host, what: &str) -> Option<Value> {
    let (ok, out, _) = kubectl(host, &format!("get {what} -o json"));
    ok.then(|| serde_json::from_str(&out).unwrap())
}

/// The `Ready` condition of an object.
fn ready(obj: &Value) -> Option<&Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// The GitRepository and the Kustomization the test follows.
const REPO: &str = "gitrepository -n flux-system flux-system";
const KS: &str = "kustomization -n flux-system flux-system";

/// Waits until `what`'s field at `pointer` is the revision of `sha` on `main`; the object.
async fn reaches(host: &Host, what: &str, pointer: &str, sha: &str) -> Value {
    let want = format!("main@sha1:{sha}");
    until(
        PATIENCE,
        &format!("{what} {pointer} reaches {want}"),
        || get(host, what).is_some_and(|o| o.pointer(pointer) == Some(&Value::from(want.as_str()))),
    )
    .await;
    get(host, what).unwrap()
}

/// Waits until `what` reports `Ready=False`, then checks its reason and that its message
/// contains `needle`; the object.
async fn not_ready(host: &Host, what: &str, reason: &str, needle: &str) -> Value {
    until(PATIENCE, &format!("{what} is not ready"), || {
        get(host, what).is_some_and(|o| ready(&o).is_some_and(|c| c["status"] == "False"))
    })
    .await;
    let obj = get(host, what).unwrap();
    let c = ready(&obj).unwrap();
    assert_eq!(c["reason"], reason, "{obj}");
    assert!(c["message"].as_str().unwrap().contains(needle), "{c}");
    obj
}

/// Commits the work tree on the git host (`change`: shell commands run in it) and pushes
/// `main`; the new commit.
fn commit(git: &Host, change: &str, message: &str) -> String {
    git.ok(&format!(
        "cd ~/work && {change} && git add -A && \
         git -c user.name=t -c user.email=t@example.com commit -q -m '{message}' && \
         git push -q origin HEAD:main && git -C ~/app.git rev-parse main"
    ))
}

fn configmap(name: &str) -> String {
    format!(
        "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: {name}\\n  namespace: default\\ndata:\\n  from: git\\n' > deploy/{name}.yaml"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_objects_follow_a_git_repository_over_ssh() {
    if !root_or_skip("flux_objects_follow_a_git_repository_over_ssh") {
        return;
    }
    let cloud = Cloud::start(177).await;
    let hosts = cloud.scale_set("fx", 2).await;
    let (git, server) = (&hosts[0], &hosts[1]);

    // The repository: bare, on the git host, with a first commit carrying one ConfigMap.
    git.ok("git --version && git init -q --bare -b main ~/app.git && git clone -q ~/app.git ~/work 2>/dev/null; mkdir -p ~/work/deploy");
    let first = commit(git, &configmap("app-a"), "first");
    // A deploy key the git host accepts, and the git host's key as Flux's known_hosts.
    let keys = tempfile::tempdir().unwrap();
    let deploy = keys.path().join("deploy");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f"])
        .arg(&deploy)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(deploy.with_extension("pub")).unwrap();
    git.ok(&format!(
        "printf '%s\\n' '{}' >> ~/.ssh/authorized_keys",
        public.trim()
    ));
    // Flux's known_hosts for the git host, and the same address pinned to another host's
    // key (git must refuse to talk).
    let pinned = |h: &Host| {
        let key = cloud.handle.host(&h.name).unwrap().host_public_key.unwrap();
        format!("{} {key}\n", git.ip)
    };
    let (known_hosts, other_key) = (pinned(git), pinned(server));
    let identity = std::fs::read_to_string(&deploy).unwrap();

    // The k3s stand-in server, from the release mirror on the subnet's gateway.
    let dl = format!(
        "http://10.177.1.1:{}/k3s-io/k3s/releases/download/v1.31.4+k3s1/k3s",
        local_cloud::mirror::PORT
    );
    server.ok(&format!(
        "sudo curl -fsSL -o /usr/local/bin/k3s {dl} && sudo chmod +x /usr/local/bin/k3s && \
         sudo setsid -f /usr/local/bin/k3s server --disable traefik,metrics-server \
         > /tmp/k3s.log 2>&1 < /dev/null"
    ));
    until(PATIENCE, "the server's API answers", || {
        kubectl(server, "get namespace default").0
    })
    .await;
    apply(server, include_str!("fixtures/flux-crds.yaml"));
    let (ok, _, err) = kubectl(
        server,
        "wait --for condition=established --timeout 60s crd/gitrepositories.source.toolkit.fluxcd.io crd/kustomizations.kustomize.toolkit.fluxcd.io",
    );
    assert!(ok, "{err}");

    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let url = format!("ssh://azureuser@{}/home/azureuser/app.git", git.ip);
    apply(
        server,
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: flux-system\n  namespace: flux-system\n\
             data:\n  identity: {}\n  identity.pub: {}\n  known_hosts: {}\n---\n\
             apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n\
             metadata:\n  name: flux-system\n  namespace: flux-system\n\
             spec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n    name: flux-system\n  url: {url}\n---\n\
             apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n\
             metadata:\n  name: wrong-branch\n  namespace: flux-system\n\
             spec:\n  interval: 1m0s\n  ref:\n    branch: nope\n  secretRef:\n    name: flux-system\n  url: {url}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: other-host-key\n  namespace: flux-system\n\
             data:\n  identity: {}\n  known_hosts: {}\n---\n\
             apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n\
             metadata:\n  name: other-host-key\n  namespace: flux-system\n\
             spec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n    name: other-host-key\n  url: {url}\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata:\n  name: flux-system\n  namespace: flux-system\n\
             spec:\n  interval: 1m0s\n  path: ./deploy\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n---\n\
             apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n\
             metadata:\n  name: no-path\n  namespace: flux-system\n\
             spec:\n  interval: 1m0s\n  path: ./nowhere\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
            b64(&identity),
            b64(&public),
            b64(&known_hosts),
            b64(&identity),
            b64(&other_key)
        ),
    );

    // The source: Ready at the pushed commit, as Flux writes it.
    let revision = |sha: &str| format!("main@sha1:{sha}");
    let repo = reaches(server, REPO, "/status/artifact/revision", &first).await;
    let r = ready(&repo).unwrap();
    assert_eq!(r["status"], "True", "{repo}");
    assert_eq!(r["reason"], "Succeeded");
    assert_eq!(
        r["message"],
        format!("stored artifact for revision '{}'", revision(&first))
    );
    assert_eq!(
        repo["status"]["observedGeneration"],
        repo["metadata"]["generation"]
    );

    // `kubectl get` prints Flux's Ready columns (JSONPath filters in printer columns).
    let (ok, row, err) = kubectl(
        server,
        "get gitrepository -n flux-system flux-system --no-headers",
    );
    assert!(ok, "{err}");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..4],
        ["flux-system", url.as_str(), cells[2], "True"],
        "{row}"
    );
    let status = format!("stored artifact for revision '{}'", revision(&first));
    assert!(row.ends_with(&status), "{row}");

    // A branch the repository does not have: Ready=False with git's own message.
    let wrong = not_ready(
        server,
        "gitrepository -n flux-system wrong-branch",
        "GitOperationFailed",
        "couldn't find remote ref refs/heads/nope",
    )
    .await;
    assert!(wrong["status"]["artifact"].is_null(), "{wrong}");
    // A host key other than the pinned one: refused by ssh, reported with its message.
    not_ready(
        server,
        "gitrepository -n flux-system other-host-key",
        "GitOperationFailed",
        "Host key verification failed",
    )
    .await;

    // The Kustomization applies the ConfigMap, owned by kustomize-controller.
    until(PATIENCE, "the first ConfigMap is applied", || {
        get(server, "configmap -n default app-a").is_some()
    })
    .await;
    let cm = get(server, "configmap -n default app-a --show-managed-fields").unwrap();
    assert_eq!(cm["data"]["from"], "git");
    assert_eq!(
        cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
        "flux-system"
    );
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["kustomize-controller"], "{cm}");
    let ks = reaches(server, KS, "/status/lastAppliedRevision", &first).await;
    assert_eq!(
        ks["status"]["inventory"]["entries"],
        serde_json::json!([{"id": "default_app-a__ConfigMap", "v": "v1"}])
    );
    let c = ready(&ks).unwrap();
    assert_eq!(
        (&c["status"], &c["reason"]),
        (&"True".into(), &"ReconciliationSucceeded".into())
    );
    assert_eq!(
        c["message"],
        format!("Applied revision: {}", revision(&first))
    );

    // A path the commit does not have.
    not_ready(
        server,
        "kustomization -n flux-system no-path",
        "ArtifactFailed",
        "kustomization path not found",
    )
    .await;

    // A commit removing the ConfigMap: pruned once the interval brings the new revision.
    let second = commit(
        git,
        "git rm -q deploy/app-a.yaml && mkdir -p deploy && touch deploy/.keep",
        "remove a",
    );
    until(PATIENCE, "the removed ConfigMap is pruned", || {
        get(server, "configmap -n default app-a").is_none()
    })
    .await;
    let ks = reaches(server, KS, "/status/lastAppliedRevision", &second).await;
    assert_eq!(ks["status"]["inventory"]["entries"], serde_json::json!([]));

    // A commit adding another one, listed in a kustomization.yaml beside a file it does not
    // list: the listed one reaches the cluster, the other does not.
    let third = commit(
        git,
        &format!(
            "{} && {} && printf 'resources:\\n  - app-b.yaml\\n' > deploy/kustomization.yaml",
            configmap("app-b"),
            configmap("unlisted")
        ),
        "add b",
    );
    until(PATIENCE, "the added ConfigMap is applied", || {
        get(server, "configmap -n default app-b").is_some()
    })
    .await;
    reaches(server, REPO, "/status/artifact/revision", &third).await;
    let ks = reaches(server, KS, "/status/lastAppliedRevision", &third).await;
    assert!(get(server, "configmap -n default unlisted").is_none());
    assert_eq!(
        ks["status"]["inventory"]["entries"],
        serde_json::json!([{"id": "default_app-b__ConfigMap", "v": "v1"}])
    );

    // The deploy key is not in the server's log.
    let key_line = identity.lines().nth(1).unwrap();
    let log = server.ok("cat /tmp/k3s.log");
    assert!(
        log.contains("flux stand-in: Kustomization flux-system/flux-system applied"),
        "{log}"
    );
    assert!(
        !log.contains(key_line),
        "the deploy key is in the server's log"
    );
    cloud.handle.shutdown().await;
}
