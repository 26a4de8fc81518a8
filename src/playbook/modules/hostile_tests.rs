//! Hostile input against `get_url`, `stat`, `slurp`, `fetch` and `systemd_service`, run
//! for real on [`LocalHost`]: values holding `;`, `$()`, backticks, quotes and newlines stay
//! data wherever they go (paths, URLs, header values, the lines of a checksum file), unit
//! names and states are checked before anything runs, header values never reach a command
//! line, and every task is ONE exec.

use super::http_test_server::Server;
use super::safety_tests::{EVIL, assert_inert};
use super::tests::Env;
use super::*;
use crate::ssh::exec::remote_command;
use crate::ssh::host::LocalHost;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// Counts execs and keeps every command line they would put on `ps` (with `become`).
struct Counting {
    inner: LocalHost,
    lines: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl Host for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
        let with_become = ExecRequest {
            become_root: true,
            ..req.clone()
        };
        let line = remote_command(&with_become).unwrap().0;
        self.lines.lock().unwrap().push(line);
        self.inner.exec(req).await
    }
}

fn hostile_release(body: &[u8]) -> Server {
    let hex = hex::encode(Sha256::digest(body));
    // Lines meant to run if a checksum file were ever taken as code, then the real one.
    let sums = format!(
        "$(touch \"$PWNED\")  k3s\n`touch $PWNED`  k3s\nSHA256 ($(touch $PWNED)) = {hex}\n'; touch \"$PWNED\"; '  k3s\n{hex}  $(touch $PWNED)\n{hex}  k3s\n"
    );
    Server::start(vec![
        ("/d/k3s", 200, body.to_vec()),
        ("/d/sums", 200, sums.into_bytes()),
    ])
}

#[tokio::test]
async fn new_modules_take_hostile_values_literally() {
    let e = Env::new();
    let srv = hostile_release(EVIL.as_bytes());
    let dest = e.path(EVIL);
    let header = EVIL.replace('\n', " ");
    let o = e
        .apply(
            ModuleKind::GetUrl,
            json!({
                "url": srv.url("/d/k3s"), "dest": dest, "mode": "0600",
                "checksum": format!("sha256:{}", srv.url("/d/sums")),
                "headers": {"X-Evil": header},
            }),
        )
        .await;
    assert!(o.changed && !o.failed, "{o:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), EVIL);
    let seen = srv.take();
    let got = seen[1].headers.iter().find(|(k, _)| k == "x-evil");
    assert_eq!(got.map(|(_, v)| v.as_str()), Some(header.trim()));
    // A URL with shell syntax in its query: whatever curl makes of it, nothing runs.
    let _ = e
        .apply(
            ModuleKind::GetUrl,
            json!({"url": srv.url("/d/k3s?a=$(touch${IFS}$PWNED);b=`id`"), "dest": e.path("q")}),
        )
        .await;
    for (key, value) in [
        ("url", EVIL),
        ("mode", EVIL),
        ("owner", EVIL),
        ("checksum", EVIL),
    ] {
        let mut args = json!({"url": srv.url("/d/k3s"), "dest": e.path("v")});
        args[key] = json!(value);
        let bad = e.apply(ModuleKind::GetUrl, args).await;
        assert!(bad.failed, "{key}: {bad:?}");
    }
    let st = e.apply(ModuleKind::Stat, json!({"path": dest})).await;
    assert_eq!(st.data["stat"]["size"], EVIL.len(), "{st:?}");
    let link = e.path("link");
    std::os::unix::fs::symlink(EVIL, &link).unwrap();
    let st = e.apply(ModuleKind::Stat, json!({"path": link})).await;
    assert_eq!(st.data["stat"]["lnk_target"], EVIL, "{st:?}");
    let sl = e.apply(ModuleKind::Slurp, json!({"src": dest})).await;
    assert!(!sl.failed, "{sl:?}");
    let missing = e
        .apply(
            ModuleKind::Slurp,
            json!({"src": e.path(&format!("{EVIL}-no"))}),
        )
        .await;
    assert!(missing.msg.starts_with("File not found: "), "{missing:?}");
    let fetched = e
        .apply(ModuleKind::Fetch, json!({"src": dest, "dest": "out"}))
        .await;
    assert!(fetched.changed && !fetched.failed, "{fetched:?}");
    for (key, value) in [("name", EVIL), ("name", "-H evil"), ("state", EVIL)] {
        let mut args = json!({"name": "k3s", "state": "started"});
        args[key] = json!(value);
        let bad = e.apply(ModuleKind::SystemdService, args).await;
        assert!(
            bad.failed && bad.msg.contains("site.yml:7"),
            "{key}: {bad:?}"
        );
    }
    assert_inert(&e);
}

#[tokio::test]
async fn each_task_of_the_new_modules_is_one_exec_and_headers_stay_off_command_lines() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut e = Env::new();
    e.host = Box::new(Counting {
        inner: LocalHost::new("local"),
        lines: lines.clone(),
    });
    let body = b"k3s\n";
    let srv = hostile_release(body);
    let file = e.path("k3s");
    let cases = [
        (
            ModuleKind::GetUrl,
            json!({"url": srv.url("/d/k3s"), "dest": file, "checksum": format!("sha256:{}", srv.url("/d/sums")), "headers": {"Authorization": "Bearer s3cret-token"}}),
        ),
        (ModuleKind::Stat, json!({"path": file})),
        (ModuleKind::Slurp, json!({"src": file})),
        (ModuleKind::Fetch, json!({"src": file, "dest": "out"})),
        (
            ModuleKind::SystemdService,
            json!({"name": "k3s", "state": "started"}),
        ),
    ];
    for (kind, args) in cases {
        let before = lines.lock().unwrap().len();
        let o = e.apply(kind, args).await;
        assert!(
            kind == ModuleKind::SystemdService || !o.failed,
            "{kind:?}: {o:?}"
        );
        assert_eq!(
            lines.lock().unwrap().len() - before,
            1,
            "{kind:?} took more than one exec"
        );
    }
    for l in lines.lock().unwrap().iter() {
        assert!(
            !l.contains("s3cret-token"),
            "a header value on a command line: {l}"
        );
    }
}
