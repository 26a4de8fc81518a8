//! Unit-file state, as systemctl manages it with symlinks in `/etc/systemd/system`:
//! `is-enabled`, `enable`/`disable` (`[Install] WantedBy=`, `RequiredBy=`, `Alias=`),
//! `mask`/`unmask` (a symlink to `/dev/null`) and `list-unit-files`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::unit::Unit;
use super::unitfile::{self, Source, UNIT_DIRS};

/// Where `enable` and `mask` write.
const ETC: &str = "/etc/systemd/system";
/// Runtime enablement (`enabled-runtime`).
const RUN: &str = "/run/systemd/system";

/// `systemctl is-enabled` of `name` (canonical): `None` if there is no such unit file.
pub fn state(name: &str) -> Option<&'static str> {
    let (id, source) = unitfile::find(name);
    match source {
        Source::NotFound => return None,
        Source::Masked(p) => {
            return Some(if p.starts_with(RUN) {
                "masked-runtime"
            } else {
                "masked"
            });
        }
        Source::Files { .. } => {}
    }
    if id != name {
        return Some("alias");
    }
    if let Some(dir) = linked_from(name) {
        return Some(if dir.starts_with(RUN) {
            "enabled-runtime"
        } else {
            "enabled"
        });
    }
    let unit = Unit::load(name, &super::manager::hostname());
    Some(if unit.installable {
        "disabled"
    } else {
        "static"
    })
}

/// The first `*.wants`/`*.requires` link named `name` in `/etc` or `/run` (its directory).
fn linked_from(name: &str) -> Option<PathBuf> {
    links(name)
        .into_iter()
        .next()
        .and_then(|l| l.parent().map(Path::to_path_buf))
}

/// Every `*.wants/<name>` and `*.requires/<name>` link in `/etc` and `/run`.
fn links(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for base in [ETC, RUN] {
        for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let dir = e.file_name().to_string_lossy().into_owned();
            if !(dir.ends_with(".wants") || dir.ends_with(".requires")) {
                continue;
            }
            let link = e.path().join(name);
            if std::fs::symlink_metadata(&link).is_ok() {
                found.push(link);
            }
        }
    }
    found
}

/// Whether `state` counts as enabled for `is-enabled`'s exit code.
pub fn enabled(state: &str) -> bool {
    matches!(
        state,
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated" | "transient"
    )
}

/// `enable`: the links `[Install]` asks for. Messages go to `err`; false on failure.
pub fn enable(name: &str, err: &mut String) -> bool {
    let (id, source) = unitfile::find(name);
    let fragment = match source {
        Source::NotFound => {
            let _ = writeln!(
                err,
                "Failed to enable unit: Unit file {name} does not exist."
            );
            return false;
        }
        Source::Masked(p) => {
            let _ = writeln!(
                err,
                "Failed to enable unit: Unit file {} is masked.",
                p.display()
            );
            return false;
        }
        Source::Files { fragment, .. } => fragment,
    };
    let unit = Unit::load(&id, &super::manager::hostname());
    if !unit.installable {
        let _ = writeln!(
            err,
            "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n\
             Alias= settings in the [Install] section, and DefaultInstance= for template\n\
             units). This means they are not meant to be enabled or disabled using systemctl."
        );
        return true;
    }
    let mut wanted: Vec<PathBuf> = Vec::new();
    for t in &unit.wanted_by {
        wanted.push(Path::new(ETC).join(format!("{t}.wants")).join(&id));
    }
    for t in &unit.required_by {
        wanted.push(Path::new(ETC).join(format!("{t}.requires")).join(&id));
    }
    for a in &unit.alias {
        wanted.push(Path::new(ETC).join(a));
    }
    for link in wanted {
        if std::fs::read_link(&link).is_ok_and(|t| t == fragment) {
            continue;
        }
        let made = link
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&fragment, &link)
            });
        match made {
            Ok(()) => {
                let _ = writeln!(
                    err,
                    "Created symlink {} → {}.",
                    link.display(),
                    fragment.display()
                );
            }
            Err(e) => {
                let _ = writeln!(err, "Failed to enable unit: {}: {e}", link.display());
                return false;
            }
        }
    }
    true
}

/// `disable`: removes every link to `name` that `enable` could have made.
pub fn disable(name: &str, err: &mut String) -> bool {
    let (id, source) = unitfile::find(name);
    if source == Source::NotFound {
        let _ = writeln!(
            err,
            "Failed to disable unit: Unit file {name} does not exist."
        );
        return false;
    }
    let unit = Unit::load(&id, &super::manager::hostname());
    let mut remove = links(&id);
    remove.retain(|l| l.starts_with(ETC));
    remove.extend(unit.alias.iter().map(|a| Path::new(ETC).join(a)));
    for link in remove {
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            match std::fs::remove_file(&link) {
                Ok(()) => {
                    let _ = writeln!(err, "Removed \"{}\".", link.display());
                }
                Err(e) => {
                    let _ = writeln!(err, "Failed to disable unit: {}: {e}", link.display());
                    return false;
                }
            }
        }
    }
    true
}

/// `mask` (`on`) or `unmask` of `name`.
pub fn mask(name: &str, on: bool, err: &mut String) -> bool {
    let path = Path::new(ETC).join(name);
    let meta = std::fs::symlink_metadata(&path);
    let masked = std::fs::read_link(&path).is_ok_and(|t| t == Path::new("/dev/null"));
    if on {
        if masked {
            return true;
        }
        if meta.is_ok_and(|m| !m.file_type().is_symlink()) {
            let _ = writeln!(
                err,
                "Failed to mask unit: File {} already exists.",
                path.display()
            );
            return false;
        }
        let _ = std::fs::remove_file(&path);
        return match std::os::unix::fs::symlink("/dev/null", &path) {
            Ok(()) => {
                let _ = writeln!(err, "Created symlink {} → /dev/null.", path.display());
                true
            }
            Err(e) => {
                let _ = writeln!(err, "Failed to mask unit: {e}");
                false
            }
        };
    }
    if masked {
        if let Err(e) = std::fs::remove_file(&path) {
            let _ = writeln!(err, "Failed to unmask unit: {e}");
            return false;
        }
        let _ = writeln!(err, "Removed \"{}\".", path.display());
    }
    true
}

/// `list-unit-files [PATTERN...]`: service unit files with their state.
pub fn list(patterns: &[String], legend: bool) -> (String, bool) {
    let mut names: Vec<String> = UNIT_DIRS
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".service"))
        .filter(|n| patterns.is_empty() || patterns.iter().any(|p| glob(p, n)))
        .collect();
    names.sort();
    names.dedup();
    let mut out = String::new();
    if legend {
        let _ = writeln!(out, "{:<40} {:<15} PRESET", "UNIT FILE", "STATE");
    }
    for n in &names {
        let st = state(n).unwrap_or("bad");
        let _ = writeln!(out, "{n:<40} {st:<15} enabled");
    }
    if legend {
        let _ = writeln!(out, "\n{} unit files listed.", names.len());
    }
    (out, !names.is_empty())
}

/// Shell-style `*`, `?` matching (systemctl's unit patterns), in O(pattern x name) time:
/// a `*` is retried from the last one only, never by nested backtracking.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_patterns_match_like_the_shell() {
        assert!(glob("k3s*", "k3s-agent.service"));
        assert!(glob("k3s@?.service", "k3s@a.service"));
        assert!(!glob("k3s", "k3s.service"));
        assert!(enabled("static") && !enabled("disabled") && !enabled("masked"));
    }
}
