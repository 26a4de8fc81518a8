//! The modules and keywords of the k3s playbooks (get_url with a checksum file, stat,
//! slurp under no_log, fetch, until/retries) through `platform play --connection local`,
//! against a release-like HTTP server on 127.0.0.1: changes once, then nothing; no download
//! when the file already has its checksum; the token never in any output; and (when
//! ansible-core is installed) `ansible-playbook` on the same file to the same end state,
//! with the same recap, in check mode too.

#![allow(clippy::print_stderr)] // the tools' times, shown with --nocapture

use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;
use support::http_files::FileServer;
use support::nodes::recap;
use support::{Need, Run, require, run};

use super::playbook_cli::ansible_local;

const VERSION: &str = "v1.31.4+k3s1";
/// The version as `urlencode` writes it in the URL path.
const ENCODED: &str = "v1.31.4%2Bk3s1";
const TOKEN: &str = "K10c0ffee::server:s3cr3t-t0ken";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/playbook/k3s_modules.yml")
}

/// A release: `k3s`, its sums in k3s's format (images first), and a list that disagrees.
fn release() -> FileServer {
    let k3s: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let hex = hex::encode(Sha256::digest(&k3s));
    let zeros = "0".repeat(64);
    let sums = format!("{zeros}  k3s-airgap-images-amd64.tar\n{hex}  k3s\n");
    FileServer::start(vec![
        (format!("/download/{ENCODED}/k3s"), k3s),
        (
            format!("/download/{ENCODED}/sha256sum-amd64.txt"),
            sums.into_bytes(),
        ),
        (
            "/wrong/sha256sum-amd64.txt".into(),
            format!("{zeros}  k3s\n").into_bytes(),
        ),
    ])
}

fn vars(dir: &Path, srv: &FileServer) -> Vec<String> {
    vec![
        format!("base={}", dir.display()),
        format!("mirror={}", srv.base),
        format!("version={VERSION}"),
    ]
}

fn play(dir: &Path, srv: &FileServer, extra: &[&str]) -> Run {
    let book = fixture();
    let mut args = vec!["play", book.to_str().unwrap(), "--connection", "local"];
    let vars = vars(dir, srv);
    for v in &vars {
        args.extend(["-e", v.as_str()]);
    }
    args.extend_from_slice(extra);
    run(dir, &args)
}

fn ansible(dir: &Path, srv: &FileServer, extra: &[&str]) -> (bool, String) {
    let vars = vars(dir, srv);
    let mut args: Vec<&str> = Vec::new();
    for v in &vars {
        args.extend(["-e", v.as_str()]);
    }
    args.extend_from_slice(extra);
    ansible_local(&fixture(), &args)
}

/// ok, changed, unreachable, failed and skipped of the localhost recap line.
fn counts(out: &str) -> Vec<(String, u64)> {
    recap(out, "localhost").into_iter().take(5).collect()
}

fn expect(ok: u64, changed: u64, skipped: u64) -> Vec<(String, u64)> {
    [
        ("ok", ok),
        ("changed", changed),
        ("unreachable", 0),
        ("failed", 0),
        ("skipped", skipped),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What the playbook leaves: each file's SHA-256 and mode (`None`: absent). The fetched
/// copy is compared by content only: Ansible writes it with the umask's mode, platform 0600.
fn end_state(dir: &Path) -> Vec<(&'static str, Option<(String, String)>)> {
    let files = [
        "bin/k3s",
        "bin/k3s-unverified",
        "summary",
        "token",
        "token.copy",
        "fetched/token",
        "count",
    ];
    files
        .into_iter()
        .map(|f| {
            let p = dir.join(f);
            let state = std::fs::read(&p).ok().map(|b| {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
                let mode = if f == "fetched/token" {
                    "-".into()
                } else {
                    format!("{mode:o}")
                };
                (hex::encode(Sha256::digest(&b)), mode)
            });
            (f, state)
        })
        .collect()
}

#[test]
fn the_k3s_modules_change_once_then_only_check_and_never_print_the_token() {
    let srv = release();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let first = play(dir.path(), &srv, &["-v"]);
    eprintln!("platform play, first run: {:?}", t.elapsed());
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(counts(&first.stdout), expect(11, 6, 0), "{}", first.stdout);
    let summary = std::fs::read_to_string(dir.path().join("summary")).unwrap();
    let sha = hex::encode(Sha256::digest(
        std::fs::read(dir.path().join("bin/k3s")).unwrap(),
    ));
    assert_eq!(
        summary,
        format!(
            "mode=0755 size=300000 isreg=yes\nsha256={sha}\nwrong=refused\nattempts=3 count=3\ntoken=found after=1\n"
        )
    );
    assert!(!dir.path().join("bin/k3s-unverified").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("bin"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".platform-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let k3s = format!("/download/{ENCODED}/k3s");
    let sums = format!("/download/{ENCODED}/sha256sum-amd64.txt");
    let wrong = "/wrong/sha256sum-amd64.txt".to_owned();
    let get = |p: &str| format!("GET {p}");
    assert_eq!(srv.take(), [get(&sums), get(&k3s), get(&wrong), get(&k3s)]);
    // The second run changes nothing and downloads only what the refused task needs.
    let second = play(dir.path(), &srv, &["--output", "json"]);
    assert_eq!(second.code, 0, "{second:?}");
    let json: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(json["hosts"][0]["changed"], 0, "{}", second.stdout);
    assert_eq!(json["results"][1]["msg"], "file already exists");
    assert_eq!(json["results"][4]["data"]["attempts"], 3);
    assert_eq!(srv.take(), [get(&sums), get(&wrong), get(&k3s)]);
    // The token: in no output, no log line, no JSON result.
    let b64 = "SzEwYzBmZmVlOjpzZXJ2ZXI6czNjcjN0LXQwa2Vu";
    for text in [&first.stdout, &first.stderr, &second.stdout, &second.stderr] {
        assert!(
            !text.contains(TOKEN) && !text.contains(b64) && !text.contains("s3cr3t"),
            "{text}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("token.copy")).unwrap(),
        format!("{TOKEN}\n")
    );
}

#[test]
fn ansible_playbook_runs_the_k3s_modules_to_the_same_end_state() {
    if !require(&[Need::Ansible("ansible-playbook")]) {
        return;
    }
    let srv = release();
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let t = Instant::now();
    let r = play(ours.path(), &srv, &[]);
    eprintln!("platform play: {:?}", t.elapsed());
    assert_eq!(r.code, 0, "{r:?}");
    let t = Instant::now();
    let (ok, out) = ansible(theirs.path(), &srv, &[]);
    eprintln!("ansible-playbook: {:?}", t.elapsed());
    assert!(ok, "{out}");
    assert_eq!(counts(&out), counts(&r.stdout), "{out}");
    assert!(!out.contains(TOKEN), "{out}");
    assert_eq!(end_state(ours.path()), end_state(theirs.path()));
    // Each finds nothing to change where the other ran, and neither downloads k3s again
    // (only the refused task does).
    srv.take();
    let (ok, out) = ansible(ours.path(), &srv, &[]);
    assert!(ok && counts(&out) == expect(11, 0, 0), "{out}");
    let r = play(theirs.path(), &srv, &[]);
    assert_eq!(counts(&r.stdout), expect(11, 0, 0), "{r:?}");
    let k3s_gets = srv.take().iter().filter(|l| l.ends_with("/k3s")).count();
    assert_eq!(k3s_gets, 2, "one per refused download");
    // Check mode on fresh directories: the directory task cannot create `bin`, so both
    // fail the download on it, as Ansible's get_url does in check mode.
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = play(ours.path(), &srv, &["--check"]);
    let (ok, out) = ansible(theirs.path(), &srv, &["--check"]);
    assert!(!ok && r.code != 0, "{out}\n{r:?}");
    let missing = |d: &Path| format!("Destination {}/bin does not exist", d.display());
    assert!(r.stdout.contains(&missing(ours.path())), "{r:?}");
    assert!(out.contains(&missing(theirs.path())), "{out}");
    assert_eq!(
        recap(&out, "localhost")[3],
        ("failed".to_owned(), 1),
        "{out}"
    );
    assert_eq!(counts(&out), counts(&r.stdout), "{out}");
    // With `bin` there, as /usr/local/bin is on a host: the same recap, nothing downloaded
    // or written.
    for d in [ours.path(), theirs.path()] {
        std::fs::create_dir(d.join("bin")).unwrap();
    }
    srv.take();
    let r = play(ours.path(), &srv, &["--check"]);
    let (ok, out) = ansible(theirs.path(), &srv, &["--check"]);
    assert!(ok, "{out}");
    assert_eq!(counts(&r.stdout), expect(4, 1, 7), "{r:?}");
    assert_eq!(counts(&out), counts(&r.stdout), "{out}");
    assert_eq!(end_state(ours.path()), end_state(theirs.path()));
    assert_eq!(
        std::fs::read_dir(ours.path().join("bin")).unwrap().count(),
        0
    );
    let heads = srv.take().iter().filter(|l| l.starts_with("HEAD ")).count();
    assert_eq!(heads, 2, "one HEAD request per tool in check mode");
}
