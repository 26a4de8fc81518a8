//! The CLI as a user meets it: init, config errors, plan, status, exit codes.

use support::{Cluster, run};

#[test]
fn init_writes_a_commented_config_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["init", "--cloud", "local", "--cluster", "lab"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let text = std::fs::read_to_string(dir.path().join("platform.yaml")).unwrap();
    // A local cluster gets a VNet no route of this machine uses (another local cluster's
    // hosts sit on bridges here); which one depends on the machine, so the snapshot hides it.
    let space: ipnet::Ipv4Net = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("address_space: "))
        .unwrap()
        .parse()
        .unwrap();
    let routes = std::fs::read_to_string("/proc/net/route").unwrap();
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let le = |s: &str| u32::from_str_radix(s, 16).unwrap().to_le_bytes();
        let net = std::net::Ipv4Addr::from(le(f[1]));
        let prefix = u32::from_be_bytes(le(f[7])).leading_ones() as u8;
        let route = ipnet::Ipv4Net::new(net, prefix).unwrap();
        if prefix > 0 {
            assert!(
                !space.contains(&route.network()) && !route.contains(&space.network()),
                "{space} overlaps the route {route}"
            );
        }
    }
    insta::with_settings!({filters => vec![(r"10\.\d+\.(\d+)\.0/(\d+)", "10.N.$1.0/$2")]}, {
        insta::assert_snapshot!("init_local", text);
    });

    let again = run(dir.path(), &["init", "--cloud", "local"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already exists; pass --force"),
        "{again:?}"
    );
    let forced = run(dir.path(), &["init", "--cloud", "azure", "--force"]);
    assert_eq!(forced.code, 0);
    let text = std::fs::read_to_string(dir.path().join("platform.yaml")).unwrap();
    insta::assert_snapshot!("init_azure", text);
}

#[test]
fn init_rejects_a_bad_cluster_name_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["init", "--cluster", "My_Cluster"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--cluster:"), "{r:?}");
    assert!(!dir.path().join("platform.yaml").exists());
}

#[test]
fn a_fresh_local_config_plans_every_phase() {
    let c = Cluster::bare();
    assert_eq!(c.run(&["init", "--cloud", "local"]).code, 0);
    let r = c.run(&["plan"]);
    assert_eq!(r.code, 0, "{r:?}");
    for phase in ["infra", "inventory", "nodes", "gitops"] {
        assert!(r.stdout.contains(phase), "{r:?}");
    }
    let json = c.run(&["plan", "--output", "json", "--from", "nodes"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let phases: Vec<&str> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["nodes", "gitops"]);
    // plan writes nothing of the project's own (no state, secrets, known_hosts or
    // inventories); it may start the cluster's local cloud, which stands for the cloud.
    let written = files_under(c.path());
    let own: Vec<&String> = written
        .iter()
        .filter(|f| *f != "platform.yaml" && !f.starts_with(".platform/local-cloud/"))
        .collect();
    assert!(own.is_empty(), "plan wrote {own:?}");
    assert!(
        written
            .iter()
            .any(|f| f == ".platform/local-cloud/serve.json"),
        "the local cloud runs: {written:?}"
    );
}

/// Every file below `dir`, relative, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, d: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The pid of the cluster's running local cloud (from its `serve.json`).
fn serve_pid(dir: &std::path::Path) -> u64 {
    let rec = std::fs::read(dir.join(".platform/local-cloud/serve.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&rec).unwrap()["pid"]
        .as_u64()
        .unwrap()
}

/// A read-only command with another `local_time_factor` once restarted the local cloud
/// under a running `up` (10 of 13 resources failed). Only a command holding the state lock
/// may restart it; the others use the running one and say so.
#[test]
fn read_only_commands_never_restart_the_local_cloud() {
    let c = Cluster::local("steady")
        .yaml("postgres: {enabled: false}\n")
        .build();
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    let pid = serve_pid(c.path());
    let config = std::fs::read_to_string(c.path().join("platform.yaml")).unwrap();
    let slower = config.replace("local_time_factor: 0.001", "local_time_factor: 0.002");
    std::fs::write(c.path().join("platform.yaml"), slower).unwrap();
    for cmd in [&["status"][..], &["plan"], &["inventory", "--refresh"]] {
        let r = c.run(cmd);
        assert_eq!(serve_pid(c.path()), pid, "{cmd:?} restarted it: {r:?}");
        assert!(
            r.stderr
                .contains("the running local cloud has time factor 0.001"),
            "{cmd:?}: {r:?}"
        );
    }
    // `up` holds the state lock: it may restart it with the new setting.
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    assert_ne!(serve_pid(c.path()), pid);
}

#[test]
fn config_errors_name_every_field_with_its_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("platform.yaml"),
        "cluster: Demo\ncloud:\n  kind: local\n  regoin: westeurope\nnetwork:\n  admin_cidrs: [0.0.0.0/0]\n  node_subnet: 10.0.1.0/24\n  postgres_subnet: 10.0.1.0/28\nnodes:\n  servers: {count: 4, vm_size: big}\n  agents: {count: many}\nk3s:\n  cluster_cidr: 10.0.0.0/16\ngitops: {controller: flux, repository: ftp://example.com/x}\n",
    )
    .unwrap();
    for cmd in ["plan", "up", "status"] {
        let r = run(dir.path(), &[cmd]);
        assert_eq!(r.code, 2, "{cmd}: {r:?}");
        assert!(r.stdout.is_empty());
        insta::assert_snapshot!("config_errors", r.stderr);
    }
    assert!(!dir.path().join(".platform").exists(), "nothing touched");
}

/// An integer beyond 64 bits is a config error at its field (exit 2), as the user wrote it:
/// not a rounded float, and not the YAML parser's own wording about its options.
#[test]
fn integers_beyond_64_bits_name_their_field_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!("1{}", "0".repeat(400));
    for v in ["9223372036854775808", "-9223372036854775809", &huge] {
        std::fs::write(
            dir.path().join("platform.yaml"),
            format!("cluster: demo\ncloud: {{kind: local}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\nnodes:\n  servers:\n    count: {v}\n"),
        )
        .unwrap();
        let r = run(dir.path(), &["plan"]);
        assert_eq!(r.code, 2, "{v}: {r:?}");
        let want = format!(
            "platform.yaml:6:12: nodes.servers.count: {v} is out of range; allowed: 0 to 1000"
        );
        assert!(r.stderr.contains(&want), "{v}: {r:?}");
        for parser_words in ["policy", "non-finite", "too large", "i64", "u64", "e+"] {
            assert!(!r.stderr.contains(parser_words), "{v}: {r:?}");
        }
    }
    assert!(!dir.path().join(".platform").exists(), "nothing touched");
}

#[test]
fn invalid_yaml_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("platform.yaml"),
        "cluster: demo\nnodes:\n  servers: [\n",
    )
    .unwrap();
    let r = run(dir.path(), &["plan"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("invalid_yaml", r.stderr);
}

#[test]
fn missing_config_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["status"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("file not found; create one with `platform init`"),
        "{r:?}"
    );
}

#[test]
fn up_records_every_phase_and_stops_at_nodes_without_real_hosts() {
    let c = Cluster::local("demo").build();
    let before = c.run(&["status"]);
    assert_eq!(before.code, 0);
    assert!(before.stdout.contains("pending"), "{before:?}");

    let up = c.run(&["up", "--only", "gitops"]);
    assert_eq!(up.code, 2, "gitops needs its upstream phases: {up:?}");
    assert!(up.stderr.contains("needs the outputs of infra"), "{up:?}");

    let up = c.run(&["-o", "json", "up"]);
    assert_eq!(up.code, 1, "{up:?}");
    let v: serde_json::Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(v["ok"], false);
    // infra and inventory succeed; nodes fails, for the one reason it must with VMs that are
    // records only (`local_hosts: false`), and `up` stops there: gitops never starts.
    let results: Vec<(&str, &str)> = v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phase"].as_str().unwrap(), p["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("infra", "succeeded"),
            ("inventory", "succeeded"),
            ("nodes", "failed")
        ]
    );
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("phase nodes failed: the local cloud's VMs are records only"),
        "{error}"
    );
    let failed = 2;

    let st = c.run(&["-o", "json", "status"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["phases"][failed]["status"], "failed");
    assert_eq!(v["phases"][failed]["attempts"], 1);
    if failed + 1 < v["phases"].as_array().unwrap().len() {
        assert_eq!(v["phases"][failed + 1]["status"], "pending");
    }
    // Live check: every recorded infra resource is fetched from the (local) cloud.
    let text = c.run(&["status"]);
    assert!(
        text.stdout
            .contains("live: all 14 infra resources exist and are Succeeded"),
        "{text:?}"
    );
    let offline = c.run(&["status", "--offline"]);
    assert!(!offline.stdout.contains("live:"), "{offline:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(c.state_dir().join("state.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_state_dir_of_another_cluster_is_refused() {
    let mut c = Cluster::local("alpha").build();
    assert_eq!(c.run(&["up", "--only", "infra"]).code, 0);
    c.reconfigure(|spec| spec.named("beta"));
    let r = c.run(&["status"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("holds the state of cluster \"alpha\""),
        "{r:?}"
    );
}

#[test]
fn down_needs_confirmation_off_a_terminal() {
    let c = Cluster::local("demo").build();
    let r = c.run(&["down"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("pass --yes"), "{r:?}");
    let r = c.run(&["down", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("nothing to delete"), "{r:?}");
}

#[test]
fn help_documents_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["--help"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("3  another platform command holds the state lock")
    );
    let bad = run(dir.path(), &["up", "--only", "everything"]);
    assert_eq!(bad.code, 2, "clap usage errors exit 2");
}

/// Input files (config, playbook, static inventory) must be regular files under a size cap:
/// a FIFO hung `platform` and `/dev/zero` exhausted its memory. (`timeout` keeps a regression
/// from hanging the suite.)
#[test]
fn fifos_devices_and_huge_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let bounded = |args: &[&str]| {
        let out = std::process::Command::new("timeout")
            .arg("20")
            .arg(support::platform_bin())
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for config in [fifo.to_str().unwrap(), "/dev/zero"] {
        let (code, err) = bounded(&["-c", config, "status"]);
        assert_eq!(code, Some(2), "{config}: {err}");
        assert!(err.contains("not a regular file"), "{config}: {err}");
    }
    let (code, err) = bounded(&["-c", big.to_str().unwrap(), "status"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("larger than 1024 KiB"), "{err}");
    for playbook in [fifo.to_str().unwrap(), "/dev/zero"] {
        let (code, err) = bounded(&["play", playbook, "--connection", "local"]);
        assert_eq!(code, Some(2), "{playbook}: {err}");
        assert!(err.contains("not a regular file"), "{playbook}: {err}");
    }
    // A static inventory (`cloud.inventory`), read by `inventory --refresh` and by `up`.
    // Its cap is 16 MiB; a sparse file is over it without writing 17 MB.
    let big_inventory = dir.path().join("big-inventory.yml");
    std::fs::File::create(&big_inventory)
        .unwrap()
        .set_len(17 << 20)
        .unwrap();
    for (inventory, why) in [
        (fifo.to_str().unwrap(), "is not a regular file"),
        ("/dev/zero", "is not a regular file"),
        (
            big_inventory.to_str().unwrap(),
            "is larger than 16384 KiB, the limit for this kind of file",
        ),
    ] {
        std::fs::write(
            dir.path().join("platform.yaml"),
            format!("cluster: byo\ncloud: {{kind: static, inventory: {inventory}}}\nnetwork: {{admin_cidrs: [192.0.2.0/24]}}\ngitops: {{controller: none}}\npostgres: {{enabled: false}}\n"),
        )
        .unwrap();
        let want = format!(
            "error: {inventory} has 1 error:\n  - cannot read the static inventory (cloud.inventory): {why}"
        );
        for args in [
            &["inventory", "--list", "--refresh"][..],
            &["up", "--only", "infra", "--only", "inventory"],
        ] {
            let (code, err) = bounded(args);
            assert_eq!(code, Some(2), "{inventory} {args:?}: {err}");
            assert!(err.contains(&want), "{inventory} {args:?}: {err}");
        }
    }
}
