//! Real `ansible-playbook` (ansible-core, from `.venv-ansible` or `PLATFORM_ANSIBLE_BIN`)
//! against a local-cloud host: `ansible.builtin.systemd_service` reads and changes a unit's
//! state through the host's `systemctl` as it does on a VM (changed on the first run, ok
//! on the second), and `wait_for: {port: 22}` finds sshd on the host's loopback.
#![cfg(feature = "hosts")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "a test fails by panicking and says why it skips"
)]

mod support;

use std::path::PathBuf;

use support::{Cloud, root_or_skip};

/// `ansible-playbook` from `PLATFORM_ANSIBLE_BIN` or the workspace's `.venv-ansible`; under
/// CI a missing one is a failure.
fn ansible_playbook() -> Option<PathBuf> {
    let dir = std::env::var_os("PLATFORM_ANSIBLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-ansible/bin"))
        });
    let bin = dir.join("ansible-playbook");
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs {}",
        bin.display()
    );
    eprintln!(
        "skipping: no {} (run scripts/test.sh or set PLATFORM_ANSIBLE_BIN)",
        bin.display()
    );
    None
}

const PLAY: &str = r#"- name: Drive a local host's services as a VM's
  hosts: all
  become: true
  gather_facts: false
  tasks:
    - name: Find sshd on the loopback, where wait_for looks by default
      ansible.builtin.wait_for:
        port: 22
        timeout: 10
    - name: Install the service
      ansible.builtin.copy:
        dest: /usr/local/bin/plc-ans
        mode: "0755"
        content: |
          #!/bin/sh
          echo "plc-ans starting"
          systemd-notify --ready
          exec sleep infinity
    - name: Install its unit
      ansible.builtin.copy:
        dest: /etc/systemd/system/plc-ans.service
        mode: "0644"
        content: |
          [Unit]
          Description=Ansible-driven test service
          [Service]
          Type=notify
          ExecStart=/usr/local/bin/plc-ans
          Restart=always
          RestartSec=5s
          TimeoutStartSec=0
          [Install]
          WantedBy=multi-user.target
    - name: Start and enable
      ansible.builtin.systemd_service: {name: plc-ans, state: started, enabled: true, daemon_reload: true}
      register: first
    - name: Start and enable again
      ansible.builtin.systemd_service: {name: plc-ans, state: started, enabled: true}
      register: again
    - name: Check what the module read
      ansible.builtin.assert:
        that:
          - first.enabled and first.status.LoadState == "loaded"
          - again.enabled and again.status.ActiveState == "active"
          - again.status.SubState == "running" and again.status.UnitFileState == "enabled"
          - again.status.MainPID | int > 1
    - name: Restart
      ansible.builtin.systemd_service: {name: plc-ans.service, state: restarted}
    - name: Stop and disable
      ansible.builtin.systemd_service: {name: plc-ans, state: stopped, enabled: false}
      register: stop
    - name: Stop and disable again
      ansible.builtin.systemd_service: {name: plc-ans, state: stopped, enabled: false}
      register: stopped
    - name: Check the stop
      ansible.builtin.assert:
        that:
          - not stop.enabled and not stopped.enabled
          - stopped.status.ActiveState == "inactive" and stopped.status.MainPID == "0"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ansible_systemd_service_drives_local_units() {
    if !root_or_skip("ansible_systemd_service_drives_local_units") {
        return;
    }
    let Some(bin) = ansible_playbook() else {
        return;
    };
    let cloud = Cloud::start(174).await;
    let h = cloud.scale_set("ans", 1).await.remove(0);
    let dir = cloud.client.path();
    let inventory = dir.join("hosts.ini");
    std::fs::write(
        &inventory,
        format!(
            "{} ansible_host={} ansible_user=azureuser ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='{}'\n",
            h.name,
            h.ip,
            h.ssh_args()
        ),
    )
    .unwrap();
    let book = dir.join("play.yml");
    std::fs::write(&book, PLAY).unwrap();
    let out = std::process::Command::new(&bin)
        .arg("-i")
        .arg(&inventory)
        .arg(&book)
        .env("ANSIBLE_HOME", dir.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"))
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each task's outcome on the host, from the default output.
    let outcome = |task: &str| -> String {
        let head = format!("TASK [{task}]");
        let after = &stdout[stdout
            .find(&head)
            .unwrap_or_else(|| panic!("no {head}: {stdout}"))..];
        let line = after
            .lines()
            .find(|l| l.contains(&format!(": [{}]", h.name)))
            .unwrap_or_else(|| panic!("no outcome of {task}: {stdout}"));
        line.split(':').next().unwrap_or_default().to_string()
    };
    let expected = [
        (
            "Find sshd on the loopback, where wait_for looks by default",
            "ok",
        ),
        ("Start and enable", "changed"),
        ("Start and enable again", "ok"),
        ("Check what the module read", "ok"),
        ("Restart", "changed"),
        ("Stop and disable", "changed"),
        ("Stop and disable again", "ok"),
        ("Check the stop", "ok"),
    ];
    for (task, want) in expected {
        assert_eq!(outcome(task), want, "{task}: {stdout}");
    }

    // What Ansible reported is what the host's systemctl says.
    assert_eq!(h.run("systemctl is-active plc-ans").stdout, "inactive");
    assert_eq!(h.run("systemctl is-enabled plc-ans").stdout, "disabled");
    cloud.handle.shutdown().await;
}
