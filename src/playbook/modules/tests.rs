//! Each module's script run for real on [`LocalHost`] in a temp dir: the change is made,
//! a second run changes nothing, check mode changes nothing, diffs show old and new.

use super::*;
use crate::ssh::host::LocalHost;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

pub(super) struct Env {
    pub(super) host: Box<dyn Host>,
    jinja: Jinja,
    pub(super) vars: minijinja::Value,
    pub(super) dir: tempfile::TempDir,
    pub(super) env: Vec<(String, String)>,
}

impl Env {
    pub(super) fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        // PWNED names a file that a hostile value would create if it ever ran as code.
        let pwned = dir.path().join("pwned").display().to_string();
        Env {
            host: Box::new(LocalHost::new("local")),
            jinja: Jinja::new(),
            vars: minijinja::Value::from_serialize(json!({"who": "world"})),
            dir,
            env: vec![
                ("GREETING".into(), "hi there".into()),
                ("PWNED".into(), pwned),
            ],
        }
    }

    pub(super) fn path(&self, p: &str) -> String {
        self.dir.path().join(p).display().to_string()
    }

    /// Runs a module for real (no check mode, no diff).
    pub(super) async fn apply(&self, kind: ModuleKind, args: Json) -> Outcome {
        self.run(kind, args, false, false).await
    }

    pub(super) async fn run(
        &self,
        kind: ModuleKind,
        args: Json,
        check: bool,
        diff: bool,
    ) -> Outcome {
        let ctx = ModuleCtx {
            host: self.host.as_ref(),
            args: args.as_object().unwrap().clone(),
            check,
            diff,
            become_root: false,
            env: self.env.clone(),
            timeout: Some(Duration::from_secs(20)),
            playbook_dir: self.dir.path(),
            task_dir: self.dir.path(),
            jinja: &self.jinja,
            vars: &self.vars,
            at: "site.yml:7: task \"t\"",
        };
        run(kind, &ctx).await.unwrap()
    }
}

fn mode_of(p: &str) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn copy_writes_once_then_is_ok_and_check_mode_changes_nothing() {
    let e = Env::new();
    let dest = e.path("conf");
    let args = json!({"dest": dest, "content": "a\nb\n", "mode": "0640"});
    let checked = e.run(ModuleKind::Copy, args.clone(), true, true).await;
    assert!(checked.changed && !checked.failed, "{checked:?}");
    assert!(
        !std::path::Path::new(&dest).exists(),
        "check mode wrote the file"
    );
    assert!(checked.diff.unwrap().contains("+b"));
    let first = e.run(ModuleKind::Copy, args.clone(), false, false).await;
    assert!(first.changed && !first.failed, "{first:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a\nb\n");
    assert_eq!(mode_of(&dest), 0o640);
    let second = e.run(ModuleKind::Copy, args.clone(), false, true).await;
    assert_eq!(second, Outcome::default(), "identical content must be ok");
    // Only the mode differs: changed, content untouched.
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(
        e.run(ModuleKind::Copy, args.clone(), false, false)
            .await
            .changed
    );
    assert_eq!(mode_of(&dest), 0o640);
    // New content with --diff: the old content comes back in the same exec.
    let args = json!({"dest": dest, "content": "a\nc\n"});
    let changed = e.run(ModuleKind::Copy, args, false, true).await;
    let diff = changed.diff.unwrap();
    assert!(diff.contains("-b\n") && diff.contains("+c\n"), "{diff}");
    assert_eq!(mode_of(&dest), 0o640, "an existing file keeps its mode");
}

#[tokio::test]
async fn copy_fails_clearly_and_template_renders_from_templates_dir() {
    let e = Env::new();
    let missing = e
        .run(
            ModuleKind::Copy,
            json!({"dest": e.path("no/dir/f"), "content": "x"}),
            false,
            false,
        )
        .await;
    assert!(
        missing.failed && missing.msg.contains("does not exist"),
        "{missing:?}"
    );
    std::fs::create_dir(e.dir.path().join("templates")).unwrap();
    std::fs::write(
        e.dir.path().join("templates/t.j2"),
        "hello {{ who }}\n{% if true %}\nx\n{% endif %}\n",
    )
    .unwrap();
    let dest = e.path("out");
    let args = json!({"src": "t.j2", "dest": dest});
    assert!(
        e.run(ModuleKind::Template, args.clone(), false, false)
            .await
            .changed
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello world\nx\n");
    assert!(
        !e.run(ModuleKind::Template, args, false, false)
            .await
            .changed
    );
    let undefined = e.dir.path().join("templates/bad.j2");
    std::fs::write(&undefined, "{{ nope }}").unwrap();
    let bad = e
        .run(
            ModuleKind::Template,
            json!({"src": "bad.j2", "dest": dest}),
            false,
            false,
        )
        .await;
    assert!(bad.failed && bad.msg.contains("undefined"), "{bad:?}");
}

#[tokio::test]
async fn file_directory_absent_touch() {
    let e = Env::new();
    let d = e.path("a/b");
    let dir = json!({"path": d, "state": "directory", "mode": "0750"});
    let check = e.run(ModuleKind::File, dir.clone(), true, true).await;
    assert!(check.changed && !std::path::Path::new(&d).exists());
    assert!(check.diff.unwrap().contains("+state: directory"));
    assert!(
        e.run(ModuleKind::File, dir.clone(), false, false)
            .await
            .changed
    );
    assert_eq!(mode_of(&d), 0o750);
    assert!(
        !e.run(ModuleKind::File, dir.clone(), false, false)
            .await
            .changed
    );
    let f = e.path("a/b/f");
    assert!(
        e.run(
            ModuleKind::File,
            json!({"path": f, "state": "touch"}),
            false,
            false
        )
        .await
        .changed
    );
    let not_dir = e
        .run(
            ModuleKind::File,
            json!({"path": f, "state": "directory"}),
            false,
            false,
        )
        .await;
    assert!(not_dir.failed, "{not_dir:?}");
    let absent = json!({"path": e.path("a"), "state": "absent"});
    assert!(
        e.run(ModuleKind::File, absent.clone(), true, false)
            .await
            .changed
    );
    assert!(std::path::Path::new(&d).exists());
    assert!(
        e.run(ModuleKind::File, absent.clone(), false, false)
            .await
            .changed
    );
    assert!(!std::path::Path::new(&d).exists());
    assert!(!e.run(ModuleKind::File, absent, false, false).await.changed);
    let relative = e
        .run(
            ModuleKind::File,
            json!({"path": "rel", "state": "directory"}),
            false,
            false,
        )
        .await;
    assert!(relative.failed && relative.msg.contains("absolute"));
}

#[tokio::test]
async fn lineinfile_replaces_the_last_match_or_appends_once() {
    let e = Env::new();
    let p = e.path("hosts");
    std::fs::write(&p, "127.0.0.1 localhost\n127.0.1.1 old\n").unwrap();
    let args = json!({"path": p, "regexp": r"^127\.0\.1\.1\s", "line": "127.0.1.1 node-0"});
    let check = e
        .run(ModuleKind::Lineinfile, args.clone(), true, true)
        .await;
    assert!(check.changed);
    assert!(check.diff.unwrap().contains("-127.0.1.1 old"));
    assert!(std::fs::read_to_string(&p).unwrap().contains("old"));
    assert!(
        e.run(ModuleKind::Lineinfile, args.clone(), false, false)
            .await
            .changed
    );
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "127.0.0.1 localhost\n127.0.1.1 node-0\n"
    );
    assert_eq!(
        e.run(ModuleKind::Lineinfile, args, false, false).await,
        Outcome::default()
    );
    let append = json!({"path": p, "line": "10.0.0.1 db"});
    assert!(
        e.run(ModuleKind::Lineinfile, append.clone(), false, false)
            .await
            .changed
    );
    assert!(
        !e.run(ModuleKind::Lineinfile, append, false, false)
            .await
            .changed
    );
    assert!(
        std::fs::read_to_string(&p)
            .unwrap()
            .ends_with("node-0\n10.0.0.1 db\n")
    );
    let missing = json!({"path": e.path("new"), "line": "x"});
    assert!(
        e.run(ModuleKind::Lineinfile, missing.clone(), false, false)
            .await
            .failed
    );
    let mut create = missing;
    create["create"] = json!(true);
    assert!(
        e.run(ModuleKind::Lineinfile, create, false, false)
            .await
            .changed
    );
    assert_eq!(std::fs::read_to_string(e.path("new")).unwrap(), "x\n");
}

#[tokio::test]
async fn command_and_shell_with_creates_chdir_env_and_check_mode() {
    let e = Env::new();
    let marker = e.path("done");
    // command does not go through a shell: `$GREETING` and `>` are plain arguments.
    let cmd = e
        .run(
            ModuleKind::Command,
            json!({"_raw_params": "echo '$GREETING' > x"}),
            false,
            false,
        )
        .await;
    assert_eq!(
        (cmd.stdout.as_str(), cmd.rc, cmd.changed),
        ("$GREETING > x", Some(0), true)
    );
    let argv = e
        .run(
            ModuleKind::Command,
            json!({"argv": ["printf", "%s|", "a b", "c"]}),
            false,
            false,
        )
        .await;
    assert_eq!(argv.stdout, "a b|c|");
    let script = format!("echo \"$GREETING\" from $(pwd); touch {marker}");
    let shell = json!({"cmd": script, "chdir": e.dir.path(), "creates": marker});
    let checked = e.run(ModuleKind::Shell, shell.clone(), true, false).await;
    assert!(checked.skipped && !std::path::Path::new(&marker).exists());
    let ran = e.run(ModuleKind::Shell, shell.clone(), false, false).await;
    assert_eq!(
        ran.stdout,
        format!("hi there from {}", e.dir.path().display())
    );
    let again = e.run(ModuleKind::Shell, shell.clone(), false, false).await;
    assert!(
        !again.changed && !again.failed && again.stdout.contains("skipped, since"),
        "{again:?}"
    );
    let in_check = e.run(ModuleKind::Shell, shell, true, false).await;
    assert!(
        !in_check.skipped && !in_check.changed,
        "creates exists: ok even in check mode"
    );
    let failed = e
        .run(
            ModuleKind::Shell,
            json!({"_raw_params": "echo out; echo err >&2; exit 4"}),
            false,
            false,
        )
        .await;
    assert_eq!(
        (
            failed.failed,
            failed.rc,
            failed.stdout.as_str(),
            failed.stderr.as_str()
        ),
        (true, Some(4), "out", "err")
    );
    let unclosed = e
        .run(
            ModuleKind::Command,
            json!({"_raw_params": "echo 'oops"}),
            false,
            false,
        )
        .await;
    assert!(unclosed.failed && unclosed.msg.contains("unclosed"));
}

#[tokio::test]
async fn wait_for_port_and_path() {
    let e = Env::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = e
        .run(
            ModuleKind::WaitFor,
            json!({"port": port, "timeout": 5}),
            false,
            false,
        )
        .await;
    assert!(!up.failed && !up.changed, "{up:?}");
    drop(listener);
    let down = e
        .run(
            ModuleKind::WaitFor,
            json!({"port": port, "timeout": 1}),
            false,
            false,
        )
        .await;
    assert!(
        down.failed && down.msg.contains("Timeout when waiting for port"),
        "{down:?}"
    );
    let p = e.path("appears");
    let p2 = p.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(p2, "").unwrap();
    });
    let t0 = std::time::Instant::now();
    let path = e
        .run(
            ModuleKind::WaitFor,
            json!({"path": p, "timeout": 5}),
            false,
            false,
        )
        .await;
    writer.await.unwrap();
    assert!(!path.failed, "{path:?}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn modes_and_command_splitting() {
    assert_eq!(octal_mode("0644").unwrap(), "644");
    assert_eq!(octal_mode("1777").unwrap(), "1777");
    assert!(octal_mode("u+x").is_err());
    assert_eq!(
        command::split(r#"a "b c" 'd e' f\ g "h\"i""#).unwrap(),
        vec!["a", "b c", "d e", "f g", "h\"i"]
    );
}

#[tokio::test]
async fn copy_of_large_content_with_diff_does_not_deadlock_on_pipes() {
    let e = Env::new();
    let dest = e.path("big");
    // Both sides larger than a pipe's buffer (64 KiB), under the diff limit (104448 bytes).
    let old: String = (0..7_000).map(|i| format!("old line {i:04}\n")).collect();
    std::fs::write(&dest, &old).unwrap();
    let new: String = (0..7_000).map(|i| format!("new line {i:04}\n")).collect();
    let args = json!({"dest": dest, "content": new});
    let run = e.run(ModuleKind::Copy, args, false, true);
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("deadlock");
    assert!(out.changed && !out.failed, "{:?}", out.msg);
    assert!(out.diff.unwrap().contains("-old line 6999"));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), new);
}

#[tokio::test]
async fn copy_diffs_of_large_files_are_skipped_like_ansible() {
    let e = Env::new();
    let dest = e.path("big");
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&dest, &big).unwrap();
    let small = json!({"dest": dest, "content": "small\n"});
    let out = e.run(ModuleKind::Copy, small, false, true).await;
    assert_eq!(
        out.diff.as_deref(),
        Some("diff skipped: destination file size is greater than 104448\n")
    );
    let large = json!({"dest": dest, "content": big});
    let out = e.run(ModuleKind::Copy, large, false, true).await;
    assert!(out.changed && !out.failed, "{out:?}");
    assert!(out.diff.unwrap().contains("source file size is greater"));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), big);
}
