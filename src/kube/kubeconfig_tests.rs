use super::*;

/// `/etc/rancher/k3s/k3s.yaml` as k3s writes it (data shortened).
const K3S_YAML: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0FEQVRB
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

#[test]
fn the_k3s_file_is_renamed_and_pointed_at_the_api_address() {
    let doc = from_k3s(K3S_YAML, "prod", "https://203.0.113.7:6443").unwrap();
    let v = Value::Object(doc.clone());
    assert_eq!(v["clusters"][0]["name"], "prod");
    assert_eq!(
        v["clusters"][0]["cluster"]["server"],
        "https://203.0.113.7:6443"
    );
    assert_eq!(
        v["clusters"][0]["cluster"]["certificate-authority-data"],
        "Q0FEQVRB"
    );
    assert_eq!(v["users"][0]["name"], "prod");
    assert_eq!(v["users"][0]["user"]["client-key-data"], "S0VZ");
    assert_eq!(v["contexts"][0]["name"], "prod");
    assert_eq!(v["contexts"][0]["context"]["cluster"], "prod");
    assert_eq!(v["contexts"][0]["context"]["user"], "prod");
    assert_eq!(v["current-context"], "prod");
    // Only names were touched: a value that merely contains "default" is kept.
    let again = parse(&render(&doc), "x").unwrap();
    assert_eq!(again, doc);
}

#[test]
fn a_file_without_what_k3s_writes_is_refused() {
    let e = from_k3s("apiVersion: v1\nkind: Config\n", "c", "https://x:6443").unwrap_err();
    assert!(e.to_string().contains("single entry in `clusters`"), "{e}");
    let e = from_k3s("- a\n- b\n", "c", "https://x:6443").unwrap_err();
    assert!(e.to_string().contains("not a mapping"), "{e}");
}

fn users_file() -> Map<String, Value> {
    parse(
        "apiVersion: v1
kind: Config
clusters:
- name: work
  cluster: {server: 'https://work.example:6443', extensions: [{name: x, extension: {a: 1}}]}
- name: prod
  cluster: {server: 'https://old.example:6443'}
users:
- name: work
  user: {exec: {command: kubelogin, apiVersion: client.authentication.k8s.io/v1}}
contexts:
- name: work
  context: {cluster: work, user: work, namespace: team}
current-context: work
preferences: {colors: true}
",
        "x",
    )
    .unwrap()
}

#[test]
fn merging_replaces_only_our_entries_and_keeps_the_current_context() {
    let ours = from_k3s(K3S_YAML, "prod", "https://203.0.113.7:6443").unwrap();
    let m = merge(users_file(), &ours, false).unwrap();
    let v = Value::Object(m.doc.clone());
    assert!(m.replaced);
    assert_eq!(m.current.as_deref(), Some("work"));
    let names = |list: &str| -> Vec<String> {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("clusters"), ["work", "prod"]);
    assert_eq!(names("users"), ["work", "prod"]);
    assert_eq!(names("contexts"), ["work", "prod"]);
    // The replaced cluster is ours; the others are untouched, unknown fields included.
    assert_eq!(
        v["clusters"][1]["cluster"]["server"],
        "https://203.0.113.7:6443"
    );
    assert_eq!(
        v["clusters"][0]["cluster"]["extensions"][0]["extension"]["a"],
        1
    );
    assert_eq!(v["users"][0]["user"]["exec"]["command"], "kubelogin");
    assert_eq!(v["contexts"][0]["context"]["namespace"], "team");
    assert_eq!(v["preferences"]["colors"], true);

    let switched = merge(users_file(), &ours, true).unwrap();
    assert_eq!(switched.current.as_deref(), Some("prod"));
    // Merging twice changes nothing more.
    let twice = merge(m.doc.clone(), &ours, false).unwrap();
    assert_eq!(twice.doc, m.doc);
}

#[test]
fn merging_into_an_empty_file_makes_a_whole_kubeconfig() {
    let ours = from_k3s(K3S_YAML, "dev", "https://10.0.1.4:6443").unwrap();
    for empty in ["", "\n", "# nothing yet\n"] {
        let m = merge(parse(empty, "x").unwrap(), &ours, false).unwrap();
        assert!(!m.replaced);
        assert_eq!(m.current.as_deref(), Some("dev"), "{empty:?}");
        let v = Value::Object(m.doc);
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Config");
        assert_eq!(v["contexts"][0]["context"]["cluster"], "dev");
    }
    let bad = parse("clusters: 3\n", "x").unwrap();
    let e = merge(bad, &ours, false).unwrap_err();
    assert!(e.to_string().contains("`clusters` is not a list"), "{e}");
}
