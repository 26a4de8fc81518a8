//! `systemd_service`'s script on [`LocalHost`] against a recording `systemctl` that keeps a
//! unit's LoadState, ActiveState and is-enabled answer in files: which verbs run, in which
//! order, for which states (Ansible's decision table), and that check mode runs none that
//! change anything. Real systemctl is not exercised here: the local cloud hosts' stand-in is
//! checked against Ansible's module in local-cloud/tests/hosts_{systemctl,ansible}.rs, and
//! our module meets it when the k3s playbooks run on hosts.

use super::tests::Env;
use super::*;
use serde_json::json;
use std::path::PathBuf;

/// A `systemctl` that logs its arguments and answers from the files in `state`.
const FAKE: &str = r#"#!/bin/sh
s=$(dirname "$0")/state
printf '%s\n' "$*" >> "$s/calls"
[ "$1" = --no-block ] && shift
verb=$1; unit=$2
case $verb in
  show) [ -f "$s/load" ] || { echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2; exit 1; }
        printf 'Id=%s\nLoadState=%s\nActiveState=%s\nExecStart={ path=/bin/true ;\n argv[]=/bin/true }\n' "$unit" "$(cat "$s/load")" "$(cat "$s/active")" ;;
  is-enabled) e=$(cat "$s/enabled" 2>/dev/null); echo "$e"; case $e in enabled|static|alias|indirect|enabled-runtime) exit 0;; *) exit 1;; esac ;;
  list-unit-files) [ -f "$s/load" ] && [ "$(cat "$s/load")" != not-found ] || exit 1 ;;
  '') [ -f "$s/load" ] || { echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2; exit 1; } ;;
  start|restart|reload) echo active > "$s/active" ;;
  stop) echo inactive > "$s/active" ;;
  enable) echo enabled > "$s/enabled" ;;
  disable) echo disabled > "$s/enabled" ;;
  mask) echo masked > "$s/enabled"; echo masked > "$s/load" ;;
  unmask) echo disabled > "$s/enabled"; echo loaded > "$s/load" ;;
esac
"#;

struct Fake {
    e: Env,
    state: PathBuf,
}

impl Fake {
    /// A unit with these LoadState, ActiveState and is-enabled answers.
    fn new(load: &str, active: &str, enabled: &str) -> Fake {
        let mut e = Env::new();
        let bin = e.dir.path().join("bin");
        let state = bin.join("state");
        std::fs::create_dir_all(&state).unwrap();
        let exe = bin.join("systemctl");
        std::fs::write(&exe, FAKE).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (f, v) in [("load", load), ("active", active), ("enabled", enabled)] {
            if !v.is_empty() {
                std::fs::write(state.join(f), format!("{v}\n")).unwrap();
            }
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        e.env.push(("PATH".into(), path));
        Fake { e, state }
    }

    /// The systemctl command lines since the last call.
    fn calls(&self) -> Vec<String> {
        let f = self.state.join("calls");
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let _ = std::fs::remove_file(&f);
        text.lines().map(str::to_owned).collect()
    }

    async fn run(&self, args: Json, check: bool) -> Outcome {
        self.e
            .run(ModuleKind::SystemdService, args, check, false)
            .await
    }
}

#[tokio::test]
async fn start_and_enable_change_once_and_check_mode_only_reads() {
    let f = Fake::new("loaded", "inactive", "disabled");
    let args = json!({"name": "k3s", "state": "started", "enabled": true, "daemon_reload": true});
    let checked = f.run(args.clone(), true).await;
    assert!(checked.changed && !checked.failed, "{checked:?}");
    assert_eq!(f.calls(), ["show k3s", "is-enabled k3s -l"]);
    let done = f.run(args.clone(), false).await;
    assert!(done.changed && !done.failed, "{done:?}");
    assert_eq!(
        f.calls(),
        [
            "daemon-reload",
            "show k3s",
            "is-enabled k3s -l",
            "enable k3s",
            "start k3s"
        ]
    );
    assert_eq!(done.data["name"], "k3s");
    assert_eq!(
        (done.data["enabled"].clone(), done.data["state"].clone()),
        (json!(true), json!("started"))
    );
    // `status` is what systemctl showed before the change, multi-line Exec values included.
    assert_eq!(done.data["status"]["ActiveState"], "inactive");
    assert_eq!(
        done.data["status"]["ExecStart"],
        "{ path=/bin/true ;\n argv[]=/bin/true }"
    );
    let again = f
        .run(
            json!({"name": "k3s", "state": "started", "enabled": true}),
            false,
        )
        .await;
    assert!(!again.changed && !again.failed, "{again:?}");
    assert_eq!(f.calls(), ["show k3s", "is-enabled k3s -l"]);
}

#[tokio::test]
async fn restarted_always_changes_and_reloaded_starts_a_stopped_unit() {
    let f = Fake::new("loaded", "active", "enabled");
    for _ in 0..2 {
        let o = f
            .run(json!({"name": "k3s", "state": "restarted"}), false)
            .await;
        assert!(o.changed && o.data["state"] == "started", "{o:?}");
        assert_eq!(f.calls(), ["show k3s", "restart k3s"]);
    }
    let o = f
        .run(
            json!({"name": "k3s", "state": "stopped", "no_block": true}),
            false,
        )
        .await;
    assert!(o.changed, "{o:?}");
    assert_eq!(f.calls(), ["show k3s", "--no-block stop k3s"]);
    let o = f
        .run(json!({"name": "k3s", "state": "stopped"}), false)
        .await;
    assert!(!o.changed, "{o:?}");
    f.calls();
    let o = f
        .run(json!({"name": "k3s", "state": "reloaded"}), false)
        .await;
    assert!(o.changed, "{o:?}");
    assert_eq!(f.calls(), ["show k3s", "start k3s"]);
    let o = f.run(json!({"name": "k3s", "masked": true}), false).await;
    assert!(o.changed, "{o:?}");
    assert_eq!(f.calls(), ["show k3s", "is-enabled k3s", "mask k3s"]);
    let o = f.run(json!({"daemon_reload": true}), false).await;
    assert!(!o.changed && !o.failed, "{o:?}");
    assert_eq!(f.calls(), ["daemon-reload"]);
}

#[tokio::test]
async fn missing_units_systemd_and_systemctl_fail_clearly() {
    let f = Fake::new("not-found", "inactive", "");
    let o = f
        .run(json!({"name": "k3s", "state": "started"}), false)
        .await;
    assert_eq!(
        o.msg, "Could not find the requested service k3s: host",
        "{o:?}"
    );
    let f = Fake::new("", "", "");
    let o = f
        .run(json!({"name": "k3s", "state": "started"}), false)
        .await;
    assert!(
        o.failed
            && o.msg.starts_with(
                "systemctl failed (is systemd running on this host?): System has not been booted"
            ),
        "{o:?}"
    );
    let mut e = Env::new();
    e.env
        .push(("PATH".into(), e.dir.path().display().to_string()));
    let o = e
        .run(
            ModuleKind::SystemdService,
            json!({"name": "k3s", "state": "started"}),
            false,
            false,
        )
        .await;
    assert_eq!(
        o.msg,
        "systemctl was not found on this host: systemd_service needs systemd"
    );
}

#[tokio::test]
async fn without_a_running_systemd_unit_files_decide_as_in_ansible() {
    // No `show` (systemd is not PID 1), but the unit file is there and disabled.
    let f = Fake::new("", "", "disabled");
    let args = json!({"name": "k3s", "state": "started", "enabled": true, "daemon_reload": true});
    let o = f.run(args.clone(), false).await;
    assert!(
        o.failed && o.msg.starts_with("Service is in unknown state"),
        "{o:?}"
    );
    // In a chroot or with SYSTEMD_OFFLINE=1: enabled on the files, not started, a warning.
    let mut f = Fake::new("", "", "disabled");
    f.e.env.push(("SYSTEMD_OFFLINE".into(), "1".into()));
    let o = f.run(args, false).await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(
        f.calls(),
        [
            "daemon-reload",
            "show k3s",
            "is-enabled k3s",
            "is-enabled k3s -l",
            "enable k3s"
        ]
    );
    assert_eq!(
        (&o.data["enabled"], &o.data["state"]),
        (&json!(true), &json!("started"))
    );
    assert!(
        o.data["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("Target is a chroot or systemd is offline"),
        "{o:?}"
    );
}
