//! HA k3s stand-in servers on a real etcd quorum (Debian's etcd, one member per server, all
//! on loopback addresses 127.0.0.x with their own ports): servers that join with the token
//! share every object, the joins k3s refuses fail with its errors, one server of three may
//! stop (the first one and the etcd leader included) while the others keep serving, two
//! stopped stop the writes until one is back, and no etcd member outlives its server.
//! Every wait is on an observable condition, bounded only to stop a hung test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod k3s_support;

use k3s_support::cluster::{
    Server, etcd_and_kubectl, ids, nodes, refused, three_servers, wait_for_leader,
};
use k3s_support::{K3s, etcd_or_skip, eventually, free_port, wait_no_etcd_under};
use serde_json::Value;

#[test]
fn three_servers_share_one_etcd_and_an_agent_joins_through_the_second() {
    let Some(kubectl) = etcd_and_kubectl("three_servers_share_one_etcd") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut servers = three_servers(dir.path());
    // k3s's join sequence, and the first server's etcd leader promoting the learner.
    let joined = servers[1].proc.as_ref().unwrap().logs();
    for line in [
        "Managed etcd cluster not yet initialized",
        "Adding member server-2-",
        "Starting etcd to join cluster with members [server-1-",
        "Connection to etcd is ready",
    ] {
        assert!(joined.contains(line), "{line}: {joined}");
    }
    let member2 = std::fs::read_to_string(servers[1].data.join("server/db/etcd/name")).unwrap();
    let promoted = format!("Promoted learner {member2}");
    let any_promoted = servers
        .iter()
        .any(|s| s.proc.as_ref().unwrap().logs().contains(&promoted));
    assert!(any_promoted, "no server logged {promoted:?}");
    // The CAs and passwords came through the bootstrap: the same token everywhere.
    assert_eq!(servers[1].token(), servers[0].token());
    assert_eq!(servers[2].token(), servers[0].token());
    let listed = nodes(&kubectl, &servers[2]);
    let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["server-1", "server-2", "server-3"]);
    for (_, roles) in &listed {
        // v1.31 still labels servers `master` too.
        assert_eq!(roles, "control-plane,etcd,master");
    }
    for s in &servers {
        let member = std::fs::read_to_string(s.data.join("server/db/etcd/name")).unwrap();
        assert!(member.starts_with(&format!("{}-", s.name)) && member.len() == s.name.len() + 9);
        let (code, out, err) = servers[0].kubectl(
            &kubectl,
            &[
                "get",
                "node",
                &s.name,
                "-o",
                "jsonpath={.metadata.annotations.etcd\\.k3s\\.cattle\\.io/node-name} {.metadata.annotations.etcd\\.k3s\\.cattle\\.io/node-address}",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, format!("{member} {}", s.ip));
    }
    // The supervisor hands the cluster's bootstrap data to the `server` user only, and lists
    // the etcd members (`/db/info`).
    let token = servers[0].token();
    let password = token.rsplit(':').next().unwrap();
    let (code, body) = servers[0].supervisor("/v1-k3s/server-bootstrap", "server", password);
    assert_eq!(code, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    for key in [
        "ServerCA",
        "ClientCAKey",
        "ETCDServerCA",
        "ETCDPeerCAKey",
        "ServiceKey",
        "PasswdFile",
        "IPSECKey",
    ] {
        assert!(
            doc[key]["Content"].is_string() && doc[key]["Timestamp"].is_string(),
            "{key}: {body}"
        );
    }
    let (code, body) = servers[0].supervisor("/v1-k3s/server-bootstrap", "server", "wrong");
    assert_eq!(
        (
            code,
            serde_json::from_str::<Value>(&body).unwrap()["message"].clone()
        ),
        (401, "not authorized".into())
    );
    let (code, body) = servers[0].supervisor("/v1-k3s/server-bootstrap", "node", password);
    assert_eq!(
        (
            code,
            serde_json::from_str::<Value>(&body).unwrap()["message"].clone()
        ),
        (403, "forbidden".into())
    );
    let (code, body) = servers[2].supervisor("/db/info", "server", password);
    assert_eq!(code, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    let mut members: Vec<String> = info["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(m["ID"].is_u64() && m.get("isLearner").is_none(), "{m}");
            m["name"].as_str().unwrap().to_owned()
        })
        .collect();
    members.sort();
    let mut names: Vec<String> = servers
        .iter()
        .map(|s| std::fs::read_to_string(s.data.join("server/db/etcd/name")).unwrap())
        .collect();
    names.sort();
    assert_eq!(members, names);
    // An agent that joins through the second server is seen from the first, with a pod CIDR
    // no other node has.
    let lb = free_port().to_string();
    let agent_data = dir.path().join("agent-1");
    let mut agent = K3s::start(
        dir.path(),
        "agent-1",
        &[
            "agent",
            "--data-dir",
            agent_data.to_str().unwrap(),
            "--server",
            &servers[1].url(),
            "--token",
            &servers[1].token(),
            "--node-name",
            "agent-1",
            "--node-ip",
            "127.0.0.20",
            "--lb-server-port",
            &lb,
        ],
    );
    agent.wait_ready();
    let (code, out, err) = servers[0].kubectl(
        &kubectl,
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let cidrs: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(cidrs.len(), 4, "{out}");
    assert!(
        cidrs.iter().any(|c| c.starts_with("agent-1=10.42.")),
        "{out}"
    );
    let mut unique: Vec<&str> = cidrs
        .iter()
        .filter_map(|c| c.split_once('='))
        .map(|(_, c)| c)
        .collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4, "one pod CIDR per node: {out}");
    // The agent's balancer learned every server from the cluster.
    let lb_state =
        std::fs::read_to_string(agent_data.join("agent/etc/k3s-agent-load-balancer.json")).unwrap();
    for s in &servers {
        assert!(
            lb_state.contains(&format!("{}:{}", s.ip, s.port)),
            "{lb_state}"
        );
    }
    // Removing a server: stop it, delete its Node; its etcd member goes with it.
    servers[2].stop(false);
    let (code, _, err) = servers[0].kubectl(&kubectl, &["delete", "node", "server-3"]);
    assert_eq!(code, 0, "{err}");
    servers[0]
        .proc
        .as_mut()
        .unwrap()
        .wait_log("Removing etcd member from cluster due to node delete");
    eventually("two etcd members left", || {
        let v = servers[0].etcd("/v3/cluster/member/list")?;
        (v["members"].as_array()?.len() == 2).then_some(())
    });
    let names: Vec<String> = nodes(&kubectl, &servers[0])
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["agent-1", "server-1", "server-2"]);
    drop(agent);
    for s in &mut servers {
        if s.proc.is_some() {
            s.stop(true);
        }
    }
}

#[test]
fn joins_k3s_refuses_fail_with_its_errors() {
    if etcd_or_skip("joins_k3s_refuses_fail_with_its_errors").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut first = Server::new(d, 1, &["--cluster-init".to_owned()]);
    first.start(d);
    let join = first.join_flags();
    // Critical values that differ: one warning per field, then k3s's fatal line.
    let mut flags = join.clone();
    flags.extend(
        [
            "--cluster-cidr",
            "10.99.0.0/16",
            "--flannel-backend",
            "host-gw",
        ]
        .map(String::from),
    );
    let (code, log) = refused(d, 2, &flags);
    assert_eq!(code, 1, "{log}");
    for field in [
        "ClusterIPRanges.slice[0].IP",
        "ClusterIPRange.IP",
        "flannel-backend",
    ] {
        assert!(
            log.contains(&format!(
                "level=warning msg=\"critical configuration mismatched: {field}\""
            )),
            "{field}: {log}"
        );
    }
    assert!(log.contains("level=fatal msg=\"Error: preparing server: failed to bootstrap cluster data: failed to validate server configuration: critical configuration value mismatch between servers\""), "{log}");
    // The right CA with a wrong password.
    let token = first.token();
    let wrong = format!("{}:{}", token.rsplit_once(':').unwrap().0, "f".repeat(32));
    let flags = vec!["--server".into(), first.url(), "--token".into(), wrong];
    let (code, log) = refused(d, 3, &flags);
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains("msg=\"Skipping cluster configuration validation: not authorized\""),
        "{log}"
    );
    assert!(
        log.contains(
            "msg=\"Error: preparing server: failed to bootstrap cluster data: not authorized\""
        ),
        "{log}"
    );
    // A token pinning another CA.
    let other_ca = format!("K10{}{}", "0".repeat(64), &token[67..]);
    let flags = vec!["--server".into(), first.url(), "--token".into(), other_ca];
    let (code, log) = refused(d, 4, &flags);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("Error: preparing server: failed to bootstrap cluster data: failed to check if bootstrap data has been initialized: failed to validate token: token CA hash does not match the Cluster CA certificate hash: 0000"), "{log}");
    // A first server without embedded etcd cannot be joined.
    let mut plain = Server::new(d, 5, &[]);
    plain.start(d);
    let (code, log) = refused(d, 6, &plain.join_flags());
    assert_eq!(code, 1, "{log}");
    assert!(
        log.contains(
            "msg=\"Error: preparing server: failed to bootstrap cluster data: etcd disabled\""
        ),
        "{log}"
    );
    plain
        .proc
        .as_mut()
        .unwrap()
        .wait_log("but embedded etcd is not enabled.");
    // None of the refused servers started a member; the first one's goes with it.
    first.stop(false);
    wait_no_etcd_under(d);
}

#[test]
fn quorum_holds_with_one_server_down_and_needs_two() {
    let Some(kubectl) = etcd_and_kubectl("quorum_holds_with_one_server_down") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut servers = three_servers(d);
    let mut written: Vec<String> = Vec::new();
    let (mut stopped, mut stopped_leader) = (Vec::new(), false);
    // Stop each server in turn: the first one, then the etcd leader unless it was stopped
    // already, then the last one; alternately killed and stopped gently.
    for round in 0..3 {
        let leader = wait_for_leader(&servers);
        let victim = match round {
            0 => 0,
            _ if !stopped.contains(&leader) => leader,
            _ => (0..3).find(|i| !stopped.contains(i)).unwrap(),
        };
        stopped.push(victim);
        stopped_leader |= victim == leader;
        servers[victim].stop(round % 2 == 1);
        wait_for_leader(&servers);
        let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
        let name = format!("cm-{round}-by-stop-{victim}");
        let (code, _, err) = servers[survivors[0]].create_configmap(&kubectl, &name);
        assert_eq!(code, 0, "{err}");
        written.push(name);
        let (code, out, err) =
            servers[survivors[1]].kubectl(&kubectl, &["get", "configmaps", "-o", "name"]);
        assert_eq!(code, 0, "{err}");
        for w in &written {
            assert!(out.contains(&format!("configmap/{w}")), "{w} not in {out}");
        }
        servers[victim].start(d);
        let log = servers[victim].proc.as_ref().unwrap().logs();
        assert!(
            log.contains("Managed etcd cluster bootstrap already complete and initialized")
                && log.contains("Starting etcd for existing cluster member"),
            "{log}"
        );
        let (code, out, err) =
            servers[victim].kubectl(&kubectl, &["get", "configmaps", "-o", "name"]);
        assert_eq!(code, 0, "{err}");
        for w in &written {
            assert!(
                out.contains(&format!("configmap/{w}")),
                "restarted server lacks {w}: {out}"
            );
        }
    }
    assert!(stopped_leader, "no round stopped the etcd leader");
    // Two of three stopped: the survivor's member loses its leader and writes fail.
    servers[1].stop(false);
    servers[2].stop(false);
    eventually("the last member has no leader", || {
        let st = servers[0].etcd("/v3/maintenance/status")?;
        ids(&st).1.is_none().then_some(())
    });
    let (code, _, err) = servers[0].create_configmap(&kubectl, "lost");
    assert_ne!(code, 0, "a write without quorum succeeded");
    assert!(
        err.contains("context deadline exceeded") || err.contains("Timeout"),
        "{err}"
    );
    // One back: a quorum again, and writes with it.
    servers[1].start(d);
    eventually("writes work again", || {
        let (code, _, _) = servers[0].create_configmap(&kubectl, "back");
        (code == 0).then_some(())
    });
    for s in &mut servers {
        if s.proc.is_some() {
            s.stop(false);
        }
    }
    wait_no_etcd_under(d);
}
