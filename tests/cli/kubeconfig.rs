//! `platform kubeconfig`: the path by default, the contents only with `--raw`, and a merge
//! into a user's kubeconfig that replaces only the cluster's own entries, keeps a backup,
//! leaves the current context alone unless `--switch`, and that real kubectl reads.

use std::path::Path;

use support::{Cluster, Need, require};

/// A kubeconfig as the nodes phase keeps it: k3s's file with names set to the cluster.
fn cluster_kubeconfig(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: Q0FEQVRB
    server: https://10.9.1.254:6443
  name: {name}
contexts:
- context:
    cluster: {name}
    user: {name}
  name: {name}
current-context: {name}
preferences: {{}}
users:
- name: {name}
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: U0VDUkVULUtFWQ==
"
    )
}

const USERS_FILE: &str = "apiVersion: v1
kind: Config
clusters:
- name: work
  cluster: {server: 'https://work.example:6443', insecure-skip-tls-verify: true}
users:
- name: work
  user: {token: work-token}
contexts:
- name: work
  context: {cluster: work, user: work, namespace: team}
current-context: work
";

fn kubectl_contexts(file: &Path) -> Option<String> {
    if !require(&[Need::Command("kubectl")]) {
        return None;
    }
    let out = std::process::Command::new("kubectl")
        .args(["config", "get-contexts", "-o", "name", "--kubeconfig"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_path_by_default_the_key_only_when_asked_and_a_merge_by_name() {
    let c = Cluster::local("kcfg").build();
    let none = c.run(&["kubeconfig"]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(none.stderr.contains("has no kubeconfig yet"), "{none:?}");

    std::fs::create_dir_all(c.state_dir()).unwrap();
    let ours = c.state_dir().join("kubeconfig");
    std::fs::write(&ours, cluster_kubeconfig("kcfg")).unwrap();
    let path = c.ok(&["kubeconfig"]);
    assert_eq!(path.stdout.trim(), ours.display().to_string());
    assert!(
        !path.stdout.contains("U0VDUkVULUtFWQ"),
        "the key is never printed by default"
    );
    let raw = c.ok(&["kubeconfig", "--raw"]);
    assert!(
        raw.stdout.contains("client-key-data: U0VDUkVULUtFWQ=="),
        "{raw:?}"
    );

    // Into a file with other entries: ours added, theirs kept, current context unchanged.
    let mine = c.path().join("home-kube-config");
    std::fs::write(&mine, USERS_FILE).unwrap();
    let merged = c.ok(&["kubeconfig", "--merge", mine.to_str().unwrap()]);
    assert!(merged.stdout.contains("added context kcfg"), "{merged:?}");
    assert!(
        merged.stderr.contains("current context is still work"),
        "{merged:?}"
    );
    let backup = c.path().join("home-kube-config.platform-backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), USERS_FILE);
    let text = std::fs::read_to_string(&mine).unwrap();
    assert!(
        text.contains("namespace: team") && text.contains("work-token"),
        "{text}"
    );
    assert!(text.contains("current-context: work"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&mine).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    if let Some(names) = kubectl_contexts(&mine) {
        assert_eq!(names.lines().collect::<Vec<_>>(), ["kcfg", "work"]);
    }

    // Again with --switch: ours replaced in place (not duplicated) and made current.
    let again = c.ok(&["kubeconfig", "--merge", mine.to_str().unwrap(), "--switch"]);
    assert!(again.stdout.contains("replaced context kcfg"), "{again:?}");
    let text = std::fs::read_to_string(&mine).unwrap();
    assert_eq!(text.matches("name: kcfg").count(), 3, "{text}");
    assert!(text.contains("current-context: kcfg"), "{text}");
}

#[test]
fn merge_defaults_to_the_first_kubeconfig_file_and_refuses_a_broken_one() {
    let c = Cluster::local("kdef").build();
    std::fs::create_dir_all(c.state_dir()).unwrap();
    std::fs::write(c.state_dir().join("kubeconfig"), cluster_kubeconfig("kdef")).unwrap();
    let first = c.path().join("a/config");
    let second = c.path().join("b-config");
    let list = std::env::join_paths([&first, &second]).unwrap();
    let r = support::finish(
        c.command()
            .args(["kubeconfig", "--merge"])
            .env("KUBECONFIG", &list)
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(text.contains("current-context: kdef"), "{text}");
    assert!(!second.exists());

    std::fs::write(&second, "clusters: {not: a list}\n").unwrap();
    let bad = c.run(&["kubeconfig", "--merge", second.to_str().unwrap()]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("`clusters` is not a list"), "{bad:?}");
    assert_eq!(
        std::fs::read_to_string(&second).unwrap(),
        "clusters: {not: a list}\n",
        "a refused merge writes nothing"
    );
    let switch_alone = c.run(&["kubeconfig", "--switch"]);
    assert_eq!(switch_alone.code, 2, "{switch_alone:?}");
}
