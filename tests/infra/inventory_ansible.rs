//! Compatibility with the real Ansible: `ansible-inventory` reading `hosts.yml`, and reading
//! a tiny script that calls `platform inventory`, sees the same groups, hosts and hostvars
//! as `platform inventory --list`. Also the shipped static example.
//!
//! `ansible-inventory` is found in `$PLATFORM_ANSIBLE_BIN` (a directory; `scripts/test.sh`
//! sets it to its virtualenv) or on PATH, through `support::require`.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::inventory::{cloud, groups_and_hosts};
use support::{Cluster, Need, require};

/// `ansible-inventory -i SOURCE --list` with only `plugin` enabled, its state kept in `home`.
fn ansible_list(bin: &Path, source: &Path, plugin: &str, home: &Path) -> Value {
    let out = Command::new(bin)
        .args(["-i"])
        .arg(source)
        .arg("--list")
        .env("ANSIBLE_HOME", home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_INVENTORY_ENABLED", plugin)
        // A source no plugin parses must fail, not fall back to an empty inventory.
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "true")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("ANSIBLE_CONFIG")
        .current_dir(home)
        .output()
        .expect("run ansible-inventory");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ansible-inventory -i {} failed:\n{stdout}\n{}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn ansible_reads_our_files_and_our_script_like_we_do() {
    if !require(&[Need::Ansible("ansible-inventory")]) {
        return;
    }
    let bin = support::ansible("ansible-inventory");
    let cloud = cloud(2);
    let c = Cluster::on(&cloud, "inv-ansible")
        .without_postgres()
        .yaml("nodes:\n  servers: {count: 3}\n  agents: {count: 2}\n")
        .build();
    c.ok(&["up", "--only", "infra"]);
    // One stopped agent: left out everywhere alike.
    let stopped = {
        c.ok(&["up", "--only", "inventory"]);
        let (g, _) = groups_and_hosts(
            &serde_json::from_str(&c.ok(&["inventory", "--list"]).stdout).unwrap(),
        );
        g["agents"][0].clone()
    };
    cloud.power(&stopped, "stop");
    c.ok(&["up", "--only", "inventory", "--force-phase", "inventory"]);

    let ours: Value = serde_json::from_str(&c.ok(&["inventory", "--list"]).stdout).unwrap();
    let home = c.path().join("ansible-home");
    std::fs::create_dir_all(home.join("tmp")).unwrap();

    let from_yaml = ansible_list(&bin, &c.inventory_file("hosts.yml"), "yaml", &home);
    let script = c.path().join("platform-inventory.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' -q -c '{}' inventory \"$@\"\n",
            support::platform_bin().display(),
            c.path().join("platform.yaml").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let from_script = ansible_list(&bin, &script, "script", &home);

    let expected = groups_and_hosts(&ours);
    assert_eq!(expected.0["agents"].len(), 1, "{:?}", expected.0);
    assert!(!expected.1.contains_key(&stopped));
    for (what, got) in [("hosts.yml", &from_yaml), ("script", &from_script)] {
        let got = groups_and_hosts(got);
        assert_eq!(got.0, expected.0, "groups via {what}");
        assert_eq!(got.1, expected.1, "hostvars via {what}");
    }
    // ansible-inventory reports the group tree too.
    assert_eq!(
        from_yaml["all"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| *g == "k3s_cluster")
            .count(),
        1
    );
    let children: Vec<&str> = from_script["k3s_cluster"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(children, ["servers", "agents"]);
}

#[test]
fn ansible_reads_the_static_example() {
    if !require(&[Need::Ansible("ansible-inventory")]) {
        return;
    }
    let bin = support::ansible("ansible-inventory");
    let c = Cluster::static_hosts("byo").inventory("byo.yml").build();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventories/example.yml");
    std::fs::copy(&example, c.path().join("byo.yml")).unwrap();
    let out = c.ok(&["inventory", "--list"]);
    let ours: Value = serde_json::from_str(&out.stdout).unwrap();
    std::fs::create_dir_all(c.path().join("tmp")).unwrap();
    let theirs = ansible_list(&bin, &c.path().join("byo.yml"), "yaml", c.path());
    let (og, ov) = groups_and_hosts(&ours);
    let (tg, tv) = groups_and_hosts(&theirs);
    assert_eq!(og, tg);
    // Ansible sees the user's variables; ours adds the derived ones (role, private_ip, ...).
    for (host, vars) in &tv {
        for (k, v) in vars.as_object().unwrap() {
            assert_eq!(&ov[host][k], v, "{host}.{k}");
        }
    }
}
