//! `stat`, `slurp` and `fetch` run for real on [`LocalHost`]: Ansible's return values,
//! Ansible's messages for missing files and directories, the size bound, and fetch's
//! destinations, once changed then ok.

use super::tests::Env;
use super::*;
use base64::Engine as _;
use serde_json::json;
use sha1::{Digest, Sha1};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[tokio::test]
async fn stat_returns_ansibles_fields_for_files_directories_and_links() {
    let e = Env::new();
    let f = e.path("conf");
    std::fs::write(&f, "hello\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let absent = e
        .apply(ModuleKind::Stat, json!({"path": e.path("nope")}))
        .await;
    assert_eq!(absent.data["stat"], json!({"exists": false}), "{absent:?}");
    // In check mode too: stat only reads.
    let o = e
        .run(ModuleKind::Stat, json!({"path": f}), true, false)
        .await;
    assert!(!o.changed && !o.failed && !o.skipped, "{o:?}");
    let s = &o.data["stat"];
    let meta = std::fs::metadata(&f).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(s["exists"], true);
    assert_eq!(s["isreg"], true);
    assert_eq!(
        (s["isdir"].clone(), s["islnk"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(s["mode"], "0640");
    assert_eq!(
        (s["uid"].as_u64(), s["gid"].as_u64()),
        (Some(meta.uid().into()), Some(meta.gid().into()))
    );
    assert_eq!(s["size"], 6);
    assert_eq!(s["inode"], meta.ino());
    assert_eq!(s["mtime"].as_f64().unwrap().floor() as i64, meta.mtime());
    assert_eq!(
        (s["rusr"].clone(), s["wgrp"].clone(), s["roth"].clone()),
        (json!(true), json!(false), json!(false))
    );
    assert!(s["pw_name"].is_string() && s["gr_name"].is_string(), "{s}");
    assert_eq!(s["checksum"], hex::encode(Sha1::digest(b"hello\n")));
    assert_eq!(s["path"], f.as_str());
    let sha256 = e
        .apply(
            ModuleKind::Stat,
            json!({"path": f, "checksum_algorithm": "sha256", "get_mime": false}),
        )
        .await;
    assert_eq!(
        sha256.data["stat"]["checksum"],
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    assert!(sha256.data["stat"].get("mimetype").is_none());
    let none = e
        .apply(ModuleKind::Stat, json!({"path": f, "get_checksum": false}))
        .await;
    assert!(none.data["stat"].get("checksum").is_none());
    let dir = e
        .apply(ModuleKind::Stat, json!({"path": e.dir.path()}))
        .await;
    assert_eq!(
        (
            dir.data["stat"]["isdir"].clone(),
            dir.data["stat"].get("checksum")
        ),
        (json!(true), None)
    );
    // A link: described itself, or its target with `follow`; names may hold newlines.
    let target = e.path("odd\nname");
    std::fs::write(&target, "x").unwrap();
    let link = e.path("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let l = e.apply(ModuleKind::Stat, json!({"path": link})).await;
    let s = &l.data["stat"];
    assert_eq!(
        (s["islnk"].clone(), s["isreg"].clone()),
        (json!(true), json!(false)),
        "{s}"
    );
    assert_eq!(s["lnk_target"], target.as_str());
    assert_eq!(s["lnk_source"], target.as_str());
    let followed = e
        .apply(ModuleKind::Stat, json!({"path": link, "follow": true}))
        .await;
    assert_eq!(followed.data["stat"]["isreg"], true);
    assert_eq!(followed.data["stat"]["size"], 1);
    let bad = e
        .apply(
            ModuleKind::Stat,
            json!({"path": f, "checksum_algorithm": "crc32"}),
        )
        .await;
    assert!(bad.failed && bad.msg.contains("not supported"), "{bad:?}");
    let denied = e
        .apply(ModuleKind::Stat, json!({"path": format!("{f}/below")}))
        .await;
    assert!(
        denied.failed && denied.msg.contains("Not a directory"),
        "{denied:?}"
    );
}

#[tokio::test]
async fn slurp_returns_base64_content_and_ansibles_failures() {
    let e = Env::new();
    let f = e.path("token");
    let bytes: Vec<u8> = (0..=255u8).chain(*b"K10abc::server:secret\n").collect();
    std::fs::write(&f, &bytes).unwrap();
    let o = e
        .run(ModuleKind::Slurp, json!({"src": f}), true, false)
        .await;
    assert!(!o.changed && !o.failed && !o.skipped, "{o:?}");
    let content = o.data["content"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap();
    assert_eq!(decoded, bytes);
    assert_eq!(
        (o.data["encoding"].as_str(), o.data["source"].as_str()),
        (Some("base64"), Some(f.as_str()))
    );
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "content outside the return values"
    );
    assert_eq!(o.registered()["content"], content);
    let missing = e
        .apply(ModuleKind::Slurp, json!({"path": e.path("nope")}))
        .await;
    assert_eq!(missing.msg, format!("File not found: {}", e.path("nope")));
    let dir = e
        .apply(ModuleKind::Slurp, json!({"src": e.dir.path()}))
        .await;
    assert!(
        dir.msg
            .starts_with("Source is a directory and must be a file: "),
        "{dir:?}"
    );
    // Up to 16 MiB is read; one byte more is refused, naming the file.
    let big = e.path("big");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(super::stat::SLURP_MAX as u64).unwrap();
    let ok = e.apply(ModuleKind::Slurp, json!({"src": big})).await;
    assert!(!ok.failed, "{}", ok.msg);
    assert_eq!(
        ok.data["content"].as_str().unwrap().len(),
        (16 << 20) / 3 * 4 + 4
    );
    file.set_len(super::stat::SLURP_MAX as u64 + 1).unwrap();
    let too_big = e.apply(ModuleKind::Slurp, json!({"src": big})).await;
    assert!(too_big.failed, "{too_big:?}");
    assert_eq!(
        too_big.msg,
        format!("{big} is larger than 16 MiB (16777216 bytes), the most slurp and fetch read")
    );
    assert!(too_big.data.is_empty());
}

#[tokio::test]
async fn fetch_copies_into_dest_per_host_or_flat_once() {
    let e = Env::new();
    let remote = e.path("remote/k3s.yaml");
    std::fs::create_dir(e.path("remote")).unwrap();
    std::fs::write(&remote, "apiVersion: v1\n").unwrap();
    let args = json!({"src": remote, "dest": "fetched"});
    let first = e.apply(ModuleKind::Fetch, args.clone()).await;
    assert!(first.changed && !first.failed, "{first:?}");
    let local = format!("{}/fetched/local{remote}", e.dir.path().display());
    assert_eq!(first.data["dest"], local.as_str());
    assert_eq!(std::fs::read_to_string(&local).unwrap(), "apiVersion: v1\n");
    let mode = std::fs::metadata(&local).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "fetched files are private");
    assert_eq!(
        first.data["checksum"],
        hex::encode(Sha1::digest(b"apiVersion: v1\n"))
    );
    let again = e.apply(ModuleKind::Fetch, args.clone()).await;
    assert!(!again.changed && !again.failed, "{again:?}");
    let skipped = e.run(ModuleKind::Fetch, args, true, false).await;
    assert!(skipped.skipped, "{skipped:?}");
    let flat = e.path("kubeconfig");
    let o = e
        .apply(
            ModuleKind::Fetch,
            json!({"src": remote, "dest": flat, "flat": true}),
        )
        .await;
    assert!(o.changed, "{o:?}");
    assert!(Path::new(&flat).is_file());
    let into_dir = e
        .apply(
            ModuleKind::Fetch,
            json!({"src": remote, "dest": format!("{}/", e.path("remote")), "flat": true}),
        )
        .await;
    assert!(
        !into_dir.changed && !into_dir.failed,
        "the same file: {into_dir:?}"
    );
    let missing = json!({"src": e.path("nope"), "dest": "fetched"});
    let o = e.apply(ModuleKind::Fetch, missing.clone()).await;
    assert!(
        o.failed && o.msg == "the remote file does not exist, not transferring, ignored",
        "{o:?}"
    );
    let mut tolerated = missing;
    tolerated["fail_on_missing"] = json!(false);
    let o = e.apply(ModuleKind::Fetch, tolerated).await;
    assert!(!o.failed && !o.changed, "{o:?}");
    let dir = e
        .apply(
            ModuleKind::Fetch,
            json!({"src": e.path("remote"), "dest": "fetched"}),
        )
        .await;
    assert_eq!(
        dir.msg,
        "remote file is a directory, fetch cannot work on directories"
    );
    let outside = e
        .apply(
            ModuleKind::Fetch,
            json!({"src": "/../../x", "dest": "fetched"}),
        )
        .await;
    assert!(
        outside.failed && outside.msg.contains("outside"),
        "{outside:?}"
    );
}
