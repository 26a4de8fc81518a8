//! A state directory that the group or others can write is refused by every command that
//! uses it, before a file in it is read or written and before the local cloud starts there:
//! another user could plant a state file, a lock or the local cloud's data directory.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use support::Cluster;

/// Every path below `dir` with its mode, size and modification time, sorted.
fn tree(dir: &Path) -> Vec<(String, u32, u64, i64, i64)> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, u32, u64, i64, i64)>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            out.push((rel, m.mode(), m.len(), m.mtime(), m.mtime_nsec()));
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_state_dir_others_can_write_is_refused_and_nothing_is_written() {
    let c = Cluster::local("shared")
        .yaml("postgres: {enabled: false}\n")
        .build();
    c.ok(&["up", "--only", "infra"]);
    // With the local cloud stopped, a command that starts it would write `serve.json`.
    c.ok(&["local-cloud", "stop"]);
    let state = std::fs::read(c.state_dir().join("state.json")).unwrap();
    for mode in [0o777, 0o770] {
        std::fs::set_permissions(c.state_dir(), std::fs::Permissions::from_mode(mode)).unwrap();
        let before = tree(c.path());
        for args in [
            &["up", "--only", "infra"][..],
            &["status"],
            &["plan"],
            &["inventory", "--list", "--refresh"],
            &["down", "--yes"],
        ] {
            let r = c.run(args);
            assert_eq!(r.code, 1, "{args:?} with mode {mode:o}: {r:?}");
            let want = format!(
                "error: refusing to use {}: it is writable by other users (mode {mode:o}); run `chmod go-w {}`",
                c.state_dir().display(),
                c.state_dir().display()
            );
            assert!(r.stderr.contains(&want), "{args:?}: {r:?}");
            assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
            // Refused, not tightened: the mode, every file and the local cloud stay as they were.
            assert_eq!(tree(c.path()), before, "{args:?} with mode {mode:o}");
        }
    }
    assert_eq!(
        std::fs::read(c.state_dir().join("state.json")).unwrap(),
        state
    );
    assert!(!c.state_dir().join("local-cloud/serve.json").exists());
    // The same commands work once the directory is private again.
    std::fs::set_permissions(c.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let r = c.ok(&["status"]);
    assert!(r.stdout.contains("infra      succeeded"), "{r:?}");
}
