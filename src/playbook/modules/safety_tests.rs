//! Hostile input against every module, run for real on [`LocalHost`]: values holding `;`,
//! `$()`, backticks, quotes and newlines are inert (they never run as code, wherever they
//! go), planted symlinks at temp-file paths are never followed, and environment values
//! never reach a command line.

use super::tests::Env;
use super::*;
use crate::ssh::exec::remote_command;
use crate::ssh::host::LocalHost;
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A value that creates `$PWNED` if any part of it is ever run as shell code. It holds no
/// `/`, so it is also a valid file name.
pub(super) const EVIL: &str = "x'; touch \"$PWNED\"; ' \" ; touch \"$PWNED\" \" $(touch \"$PWNED\") `touch \"$PWNED\"`\ntouch \"$PWNED\"\n;touch $PWNED #";

pub(super) fn assert_inert(e: &Env) {
    assert!(
        !e.dir.path().join("pwned").exists(),
        "a hostile value ran as code"
    );
}

#[tokio::test]
async fn command_and_shell_take_hostile_values_literally() {
    let e = Env::new();
    let evil_path = e.path(EVIL);
    let printed = e
        .apply(
            ModuleKind::Command,
            json!({"argv": ["printf", "%s", EVIL], "creates": evil_path}),
        )
        .await;
    assert_eq!((printed.rc, printed.stdout.as_str()), (Some(0), EVIL));
    std::fs::create_dir(&evil_path).unwrap();
    let pwd = e
        .apply(
            ModuleKind::Command,
            json!({"argv": ["pwd"], "chdir": evil_path, "removes": evil_path}),
        )
        .await;
    assert_eq!(pwd.stdout, evil_path, "{pwd:?}");
    let skipped = e
        .apply(
            ModuleKind::Shell,
            json!({"cmd": "touch \"$PWNED\"", "creates": evil_path}),
        )
        .await;
    assert!(skipped.msg.contains("skipped, since"), "{skipped:?}");
    let bad_exe = e
        .apply(
            ModuleKind::Shell,
            json!({"cmd": "true", "executable": EVIL}),
        )
        .await;
    assert!(bad_exe.failed, "{bad_exe:?}");
    assert_inert(&e);
}

#[tokio::test]
async fn file_modules_take_hostile_paths_and_values_literally() {
    let mut e = Env::new();
    let dest = e.path(EVIL);
    let copied = e
        .run(
            ModuleKind::Copy,
            json!({"dest": dest, "content": EVIL, "mode": "0600"}),
            false,
            true,
        )
        .await;
    assert!(copied.changed && !copied.failed, "{copied:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), EVIL);
    for (key, value) in [("owner", EVIL), ("group", EVIL), ("mode", EVIL)] {
        let bad = e
            .apply(
                ModuleKind::Copy,
                json!({"dest": dest, "content": EVIL, key: value}),
            )
            .await;
        assert!(bad.failed, "{key}: {bad:?}");
    }
    std::fs::create_dir(e.dir.path().join("templates")).unwrap();
    std::fs::write(e.dir.path().join("templates/t.j2"), "{{ v }}\n").unwrap();
    e.vars = minijinja::Value::from_serialize(json!({"v": EVIL}));
    let templated = e
        .apply(ModuleKind::Template, json!({"src": "t.j2", "dest": dest}))
        .await;
    assert!(templated.changed, "{templated:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), format!("{EVIL}\n"));
    let line = EVIL.replace('\n', " ");
    let edited = e
        .run(
            ModuleKind::Lineinfile,
            json!({"path": dest, "line": line, "regexp": "^x'", "mode": "0640"}),
            false,
            true,
        )
        .await;
    assert!(edited.changed && !edited.failed, "{edited:?}");
    assert!(std::fs::read_to_string(&dest).unwrap().contains(&line));
    let dir = format!("{dest}.d");
    for state in ["directory", "file", "absent"] {
        let o = e
            .run(
                ModuleKind::File,
                json!({"path": dir, "state": state, "mode": "0700"}),
                false,
                true,
            )
            .await;
        assert!(!o.failed, "{state}: {o:?}");
    }
    assert!(!Path::new(&dir).exists());
    let touched = e
        .apply(
            ModuleKind::File,
            json!({"path": dir, "state": "touch", "owner": EVIL}),
        )
        .await;
    assert!(touched.failed, "{touched:?}");
    assert_inert(&e);
}

#[tokio::test]
async fn wait_for_refuses_a_hostile_host_and_passes_values_as_arguments() {
    let e = Env::new();
    for host in [
        "127.0.0.1/1; touch \"$PWNED\"; #",
        EVIL,
        "$(touch $PWNED)",
        "-x",
        "",
    ] {
        let o = e
            .apply(
                ModuleKind::WaitFor,
                json!({"host": host, "port": 1, "timeout": 1}),
            )
            .await;
        assert!(o.failed, "{host:?}: {o:?}");
        assert!(
            o.msg.contains("an IP address or a DNS name"),
            "{host:?}: {}",
            o.msg
        );
    }
    for (k, v) in [("port", "22; touch $PWNED"), ("timeout", "1; touch $PWNED")] {
        let o = e.apply(ModuleKind::WaitFor, json!({"port": 1, k: v})).await;
        assert!(o.failed, "{k}: {o:?}");
    }
    // A DNS name and a hostile path work, taken literally.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = e
        .apply(
            ModuleKind::WaitFor,
            json!({"host": "localhost", "port": port, "timeout": 5}),
        )
        .await;
    assert!(!up.failed, "{up:?}");
    std::fs::write(e.path(EVIL), "").unwrap();
    let path = e
        .apply(
            ModuleKind::WaitFor,
            json!({"path": e.path(EVIL), "timeout": 5}),
        )
        .await;
    assert!(!path.failed, "{path:?}");
    assert_inert(&e);
}

/// Plants symlinks to a victim where a temp file could be looked for.
fn plant(dir: &Path, dest_name: &str, victim: &Path) {
    for name in [
        format!(".{dest_name}.platform-tmp"),
        format!(".{dest_name}.tmp"),
        ".platform-tmp".to_owned(),
    ] {
        if !dir.join(&name).is_symlink() {
            std::os::unix::fs::symlink(victim, dir.join(name)).unwrap();
        }
    }
}

#[tokio::test]
async fn temp_files_never_follow_symlinks_planted_in_the_destination_directory() {
    let e = Env::new();
    let victim = e.dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir(e.dir.path().join("templates")).unwrap();
    std::fs::write(e.dir.path().join("templates/t.j2"), "hello {{ who }}\n").unwrap();
    let cases = [
        (
            ModuleKind::Copy,
            "copied",
            json!({"content": "new\n"}),
            "new\n",
        ),
        (
            ModuleKind::Template,
            "templated",
            json!({"src": "t.j2"}),
            "hello world\n",
        ),
        (
            ModuleKind::Lineinfile,
            "edited",
            json!({"line": "new"}),
            "old\nnew\n",
        ),
    ];
    for (kind, name, mut args, want) in cases {
        let dest = e.dir.path().join(name);
        std::fs::write(&dest, "old\n").unwrap();
        plant(e.dir.path(), name, &victim);
        args[if kind == ModuleKind::Lineinfile {
            "path"
        } else {
            "dest"
        }] = json!(dest);
        let o = e.run(kind, args, false, false).await;
        assert!(o.changed && !o.failed, "{name}: {o:?}");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), want, "{name}");
        assert!(!dest.is_symlink(), "{name}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious\n",
            "{name} wrote through a planted symlink"
        );
    }
    let left: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".platform-tmp."))
        .collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}");
}

#[tokio::test]
async fn anything_planted_at_the_exact_temp_path_is_refused_not_followed() {
    let e = Env::new();
    let victim = e.dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let dest = e.dir.path().join("dest");
    std::fs::write(&dest, "old\n").unwrap();
    // The module's temp path with a known suffix, as if an attacker had guessed it.
    let planted = e.dir.path().join(".platform-tmp.guessed");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let script = format!(
        "d=$1; rand=$2; dir=$(dirname -- \"$d\")\n{}{}exit 0\n",
        super::write::WRITE_TEMP,
        super::write::RENAME_TEMP
    );
    let args = vec![dest.display().to_string(), "guessed".to_owned()];
    let write = || {
        e.host.exec(ExecRequest {
            command: &script,
            args: &args,
            stdin: Some(b"new\n"),
            ..Default::default()
        })
    };
    let out = write().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status, 1, "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
    assert!(planted.is_symlink(), "the planted link was touched");
    // With nothing planted, the same lines write the file and leave no temp file behind.
    std::fs::remove_file(&planted).unwrap();
    let out = write().await.unwrap();
    assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new\n");
    assert!(!planted.exists());
}

/// Records what each exec puts on a command line, then runs it locally.
struct Recording {
    inner: LocalHost,
    lines: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl Host for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, HostError> {
        // The line ssh would send, with become: sudo's argument list on the host.
        let with_become = ExecRequest {
            become_root: true,
            ..req.clone()
        };
        let sudo_line = remote_command(&with_become).unwrap().0;
        {
            let mut lines = self.lines.lock().unwrap();
            lines.push(req.command.to_owned());
            lines.extend(req.args.iter().cloned());
            lines.push(sudo_line);
        }
        self.inner.exec(req).await
    }
}

#[tokio::test]
async fn environment_values_never_reach_a_command_line() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut e = Env::new();
    e.host = Box::new(Recording {
        inner: LocalHost::new("local"),
        lines: lines.clone(),
    });
    e.env
        .push(("TOKEN".into(), "s3cret 'quoted'\n$(id)".into()));
    let o = e
        .apply(ModuleKind::Shell, json!({"cmd": "printf %s \"$TOKEN\""}))
        .await;
    assert_eq!(o.stdout, "s3cret 'quoted'\n$(id)", "{o:?}");
    let copied = e
        .apply(
            ModuleKind::Copy,
            json!({"dest": e.path("f"), "content": "x"}),
        )
        .await;
    assert!(copied.changed, "{copied:?}");
    let lines = lines.lock().unwrap();
    assert!(lines.len() >= 4);
    for l in lines.iter() {
        assert!(!l.contains("s3cret"), "a value on a command line: {l}");
    }
    assert_inert(&e);
}
