//! The k3s playbooks, embedded in the binary and written out into the state directory
//! (`<state_dir>/playbooks/`) before a run: the engine and `import_tasks` read files, and a
//! user who wants to run the same install with `ansible-playbook` finds the exact files the
//! last `up` ran next to the inventory it used.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fsutil::write_atomic;

/// Every file of the k3s install, by its path under `playbooks/`.
pub const FILES: &[(&str, &str)] = &[
    (
        "k3s-server.yml",
        include_str!("../../../playbooks/k3s-server.yml"),
    ),
    (
        "k3s-agent.yml",
        include_str!("../../../playbooks/k3s-agent.yml"),
    ),
    (
        "k3s-uninstall.yml",
        include_str!("../../../playbooks/k3s-uninstall.yml"),
    ),
    (
        "tasks/k3s-node.yml",
        include_str!("../../../playbooks/tasks/k3s-node.yml"),
    ),
    (
        "templates/k3s-config.yaml.j2",
        include_str!("../../../playbooks/templates/k3s-config.yaml.j2"),
    ),
    (
        "templates/k3s.service.j2",
        include_str!("../../../playbooks/templates/k3s.service.j2"),
    ),
];

/// Writes the embedded playbooks under `dir` (only the files whose contents differ, each
/// atomically) and returns `dir`.
pub fn materialize(dir: &Path) -> Result<PathBuf, Error> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        write_atomic(&path, text.as_bytes())?;
    }
    Ok(dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_k3s_playbook_file_is_embedded_and_written_once() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        let mut on_disk: Vec<String> = Vec::new();
        for sub in ["", "tasks", "templates"] {
            for e in std::fs::read_dir(repo.join(sub)).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                let rel = if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                };
                if repo.join(&rel).is_file() && rel != "prepare.yml" {
                    on_disk.push(rel);
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "a playbook file is not embedded");

        let d = tempfile::tempdir().unwrap();
        let out = materialize(d.path()).unwrap();
        for (name, text) in FILES {
            assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), *text);
        }
        let before = std::fs::metadata(out.join("k3s-server.yml"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::write(out.join("k3s-agent.yml"), "changed by hand").unwrap();
        materialize(d.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("k3s-agent.yml")).unwrap(),
            FILES[1].1,
            "a file edited by hand is put back"
        );
        let after = std::fs::metadata(out.join("k3s-server.yml"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after, "an unchanged file is not rewritten");
    }
}
