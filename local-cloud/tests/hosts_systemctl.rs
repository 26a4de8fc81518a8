//! The local hosts' `systemctl` and `journalctl` behave as systemd's do for the units our
//! playbooks write: a Type=notify unit starts only once READY=1 arrives (and fails when its
//! process exits first), a `kill -9`ed service comes back after RestartSec, an enabled unit
//! comes back when its host restarts, and real `ansible-playbook` drives them with
//! `ansible.builtin.systemd_service`. Every check is a real SSH session (root needed).
#![cfg(feature = "hosts")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

mod support;

use local_cloud::HostState;
use support::{Cloud, Host, root_or_skip, until};

/// The service every unit here runs: says hello, can give up before READY=1, can wait for a
/// gate file, then notifies (with `systemd-notify`, or from a python3 child) and sleeps.
const SERVICE: &str = r#"#!/bin/bash
echo "plc-svc $$ starting: $GREETING $VALUE"
if [ "$MODE" = early-exit ]; then echo "giving up before READY" >&2; exit 3; fi
while [ -n "$GATE" ] && [ ! -e "$GATE" ]; do sleep 0.1; done
if [ "$NOTIFY" = python ]; then
  python3 -c 'import os, socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])'
else
  systemd-notify --ready --status="serving $VALUE"
fi
exec sleep infinity
"#;

/// A Type=notify unit running [`SERVICE`] with `extra` settings in `[Service]`.
fn unit(extra: &str) -> String {
    format!(
        "[Unit]\nDescription=Platform test service\nAfter=network-online.target\n\n\
         [Service]\nType=notify\nEnvironment=MODE=normal \"GREETING=hello world\"\n\
         EnvironmentFile=-/etc/default/%N\nEnvironmentFile=/etc/plc/env\n\
         ExecStartPre=-/bin/false\nExecStartPre=/bin/true\n\
         ExecStart=/usr/local/bin/plc-svc\nRestart=always\nRestartSec=1\nTimeoutStartSec=0\n{extra}\n\
         [Install]\nWantedBy=multi-user.target\n"
    )
}

/// Writes `content` to `path` on the host as root.
fn put(h: &Host, path: &str, content: &str, mode: &str) {
    let quoted = content.replace('\'', r"'\''");
    h.ok(&format!(
        "sudo mkdir -p \"$(dirname {path})\" && printf '%s' '{quoted}' | sudo tee {path} >/dev/null && sudo chmod {mode} {path}"
    ));
}

fn show(h: &Host, unit: &str, prop: &str) -> String {
    h.ok(&format!("systemctl show {unit} -p {prop} --value"))
}

fn install_service(h: &Host) {
    put(h, "/usr/local/bin/plc-svc", SERVICE, "0755");
    put(h, "/etc/plc/env", "VALUE='v1'\n", "0644");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemctl_runs_notify_units_as_systemd_does() {
    if !root_or_skip("systemctl_runs_notify_units_as_systemd_does") {
        return;
    }
    let cloud = Cloud::start(173).await;
    let h = cloud.scale_set("svc", 1).await.remove(0);
    install_service(&h);
    put(
        &h,
        "/etc/systemd/system/plc-gated.service",
        &unit("Environment=GATE=/run/plc-gate"),
        "0644",
    );
    h.ok("sudo systemctl daemon-reload");
    assert_eq!(h.run("systemctl is-enabled plc-gated").stdout, "disabled");
    let inactive = h.run("systemctl is-active plc-gated");
    assert_eq!(
        (inactive.code, inactive.stdout.as_str()),
        (Some(3), "inactive")
    );
    assert_eq!(h.run("systemctl status plc-gated").code, Some(3));

    // `start` of a Type=notify unit returns only after READY=1.
    let starter = {
        let h = h.clone();
        std::thread::spawn(move || h.run("sudo systemctl start plc-gated"))
    };
    until(30, "the unit is activating", || {
        show(&h, "plc-gated", "ActiveState") == "activating"
    })
    .await;
    assert_eq!(show(&h, "plc-gated", "SubState"), "start");
    assert!(!starter.is_finished(), "start returned before READY=1");
    h.ok("sudo touch /run/plc-gate");
    let started = starter.join().unwrap();
    assert_eq!(started.code, Some(0), "{started:?}");
    let props = h.ok("systemctl show plc-gated -p ActiveState,SubState,LoadState,UnitFileState,StatusText,Result");
    assert_eq!(
        props,
        "StatusText=serving v1\nResult=success\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=disabled"
    );
    let main_pid = show(&h, "plc-gated", "MainPID");
    assert_ne!(main_pid, "0");
    let log = h.ok("sudo journalctl -u plc-gated --no-pager -n 20");
    assert!(
        log.contains(&format!(
            "plc-svc[{main_pid}]: plc-svc {main_pid} starting: hello world v1"
        )),
        "{log}"
    );
    assert!(
        log.contains("systemd[1]: Started plc-gated.service - Platform test service."),
        "{log}"
    );
    let status = h.run("systemctl status plc-gated");
    assert_eq!(status.code, Some(0));
    assert!(
        status.stdout.contains("Active: active (running) since"),
        "{}",
        status.stdout
    );
    // The journal's lines are root's to read, in `status` as in `journalctl`.
    assert!(
        !status.stdout.contains("starting: hello world"),
        "{}",
        status.stdout
    );
    let root_status = h.ok("sudo systemctl status plc-gated");
    assert!(
        root_status.contains("starting: hello world v1"),
        "{root_status}"
    );

    // A kill -9 gets it restarted after RestartSec: a new main process.
    h.ok(&format!("sudo kill -9 {main_pid}"));
    until(30, "a new main process", || {
        let pid = show(&h, "plc-gated", "MainPID");
        pid != "0" && pid != main_pid && show(&h, "plc-gated", "ActiveState") == "active"
    })
    .await;
    assert_eq!(show(&h, "plc-gated", "NRestarts"), "1");
    let log = h.ok("sudo journalctl -u plc-gated --no-pager");
    assert!(
        log.contains("Main process exited, code=killed, status=9/KILL"),
        "{log}"
    );
    assert!(
        log.contains("Scheduled restart job, restart counter is at 1."),
        "{log}"
    );

    // stop and restart.
    h.ok("sudo systemctl stop plc-gated");
    assert_eq!(h.run("systemctl is-active plc-gated").code, Some(3));
    assert_eq!(
        h.run("pgrep -f /usr/local/bin/plc-svc").code,
        Some(1),
        "stop left processes"
    );
    h.ok("sudo systemctl restart plc-gated");
    assert_eq!(h.run("systemctl is-active plc-gated").stdout, "active");

    // A process that exits before READY=1 fails the start, with systemd's message.
    put(
        &h,
        "/etc/systemd/system/plc-early.service",
        &unit("Environment=MODE=early-exit\nRestart=no"),
        "0644",
    );
    let early = h.run("sudo systemctl start plc-early");
    assert_eq!(early.code, Some(1), "{early:?}");
    assert_eq!(
        early.stderr,
        "Job for plc-early.service failed because the control process exited with error code.\n\
         See \"systemctl status plc-early.service\" and \"journalctl -xeu plc-early.service\" for details."
    );
    let failed = h.run("systemctl is-active plc-early");
    assert_eq!((failed.code, failed.stdout.as_str()), (Some(3), "failed"));
    assert_eq!(show(&h, "plc-early", "Result"), "exit-code");
    assert!(
        h.ok("sudo journalctl -xeu plc-early.service")
            .contains("giving up before READY")
    );

    // READY=1 from a child counts only with NotifyAccess=all, as under systemd.
    put(
        &h,
        "/etc/systemd/system/plc-child.service",
        &unit("Environment=NOTIFY=python\nNotifyAccess=all"),
        "0644",
    );
    h.ok("sudo systemctl start plc-child");
    put(
        &h,
        "/etc/systemd/system/plc-main.service",
        &unit("Environment=NOTIFY=python"),
        "0644",
    );
    h.ok("sudo systemctl start --no-block plc-main");
    until(30, "the child's READY=1 is refused", || {
        h.run("sudo journalctl -u plc-main -o cat")
            .stdout
            .contains("but reception only permitted for main PID")
    })
    .await;
    assert_eq!(show(&h, "plc-main", "ActiveState"), "activating");
    h.ok("sudo systemctl stop plc-main");

    // Unknown units, as systemctl reports them.
    let missing = h.run("sudo systemctl start nosuch");
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            Some(5),
            "Failed to start nosuch.service: Unit nosuch.service not found."
        )
    );
    assert_eq!(h.run("systemctl status nosuch").code, Some(4));
    assert_eq!(h.run("systemctl is-enabled nosuch").code, Some(1));
    assert_eq!(show(&h, "nosuch", "LoadState"), "not-found");

    // A drop-in changes the unit after daemon-reload; enable makes it start at boot.
    put(
        &h,
        "/etc/systemd/system/plc-gated.service.d/no-gate.conf",
        "[Service]\nEnvironment=GATE=\n",
        "0644",
    );
    assert_eq!(show(&h, "plc-gated", "NeedDaemonReload"), "yes");
    h.ok("sudo systemctl daemon-reload");
    assert_eq!(show(&h, "plc-gated", "NeedDaemonReload"), "no");
    let enable = h.run("sudo systemctl enable plc-gated");
    assert_eq!(enable.code, Some(0));
    assert_eq!(
        enable.stderr,
        "Created symlink /etc/systemd/system/multi-user.target.wants/plc-gated.service → /etc/systemd/system/plc-gated.service."
    );
    assert_eq!(h.run("systemctl is-enabled plc-gated").stdout, "enabled");
    let before = show(&h, "plc-gated", "MainPID");
    cloud.power(&h.name, "stop");
    until(20, "the host stops", || {
        cloud
            .handle
            .host(&h.name)
            .is_some_and(|i| i.state == HostState::Stopped)
    })
    .await;
    cloud.power(&h.name, "start");
    until(60, "the enabled unit runs again after the restart", || {
        h.run("systemctl is-active plc-gated").stdout == "active"
    })
    .await;
    assert_ne!(show(&h, "plc-gated", "MainPID"), before);
    assert_eq!(
        h.run("systemctl is-active plc-early").stdout,
        "inactive",
        "not enabled, not started"
    );
    cloud.handle.shutdown().await;
}
