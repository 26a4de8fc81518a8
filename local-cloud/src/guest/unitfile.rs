//! Finding and reading unit files as systemd does: the search path, aliases (a symlink
//! named differently from its target), masks (a symlink to `/dev/null`), templates
//! (`name@instance.service` from `name@.service`), drop-ins (`NAME.d/*.conf`), the INI
//! syntax (sections, `#`/`;` comments, `\` line continuation) and specifiers (`%n`, `%N`,
//! `%i`, ...).

use std::path::{Path, PathBuf};

/// Where unit files are looked for, highest priority first (systemd's system search path).
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// One `Key=Value` line of a unit file or drop-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    pub value: String,
}

/// Where a unit's definition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The unit file (`fragment`) and its drop-ins, in the order they apply.
    Files {
        fragment: PathBuf,
        dropins: Vec<PathBuf>,
    },
    /// The unit is masked (a symlink to `/dev/null` at this path).
    Masked(PathBuf),
    /// No unit file of that name.
    NotFound,
}

/// Splits `text` into entries, joining continued lines; errors name the line.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    let mut pending = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with(';') || (line.is_empty() && pending.is_empty())
        {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        let full = full.trim();
        if full.is_empty() {
            continue;
        }
        if let Some(name) = full.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: invalid section header", i + 1))?;
            section = Some(name.to_string());
            continue;
        }
        let Some((key, value)) = full.split_once('=') else {
            return Err(format!("line {}: missing '=': {full}", i + 1));
        };
        let section = section
            .clone()
            .ok_or_else(|| format!("line {}: assignment outside of a section", i + 1))?;
        entries.push(Entry {
            section,
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(entries)
}

/// Whether `name` is a well-formed unit name (`prefix[@instance].type`).
pub fn valid_name(name: &str) -> bool {
    let Some((stem, kind)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && name.len() <= 255
        && !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_lowercase())
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// `name` with `.service` appended when it names no unit type, as systemctl does.
pub fn canonical(name: &str) -> String {
    const KINDS: &[&str] = &[
        "service",
        "socket",
        "target",
        "timer",
        "mount",
        "automount",
        "swap",
        "path",
        "slice",
        "scope",
        "device",
    ];
    match name.rsplit_once('.') {
        Some((_, kind)) if KINDS.contains(&kind) => name.to_string(),
        _ => format!("{name}.service"),
    }
}

/// Finds unit `name` on the search path, following aliases; returns the name it loads as.
pub fn find(name: &str) -> (String, Source) {
    let mut name = name.to_string();
    for _ in 0..8 {
        match lookup(&name) {
            Lookup::Alias(target) => name = target,
            Lookup::Found(source) => return (name, source),
        }
    }
    (name, Source::NotFound)
}

enum Lookup {
    Alias(String),
    Found(Source),
}

fn lookup(name: &str) -> Lookup {
    let template = template_of(name);
    let candidates = std::iter::once(name.to_string()).chain(template.clone());
    for candidate in candidates {
        for dir in UNIT_DIRS {
            let path = Path::new(dir).join(&candidate);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                if target == Path::new("/dev/null") {
                    return Lookup::Found(Source::Masked(path));
                }
                let target_name = target.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if target_name != candidate && valid_name(target_name) && candidate == name {
                    return Lookup::Alias(target_name.to_string());
                }
            }
            if path.is_file() {
                return Lookup::Found(Source::Files {
                    dropins: dropins(name, template.as_deref()),
                    fragment: path,
                });
            }
        }
    }
    Lookup::Found(Source::NotFound)
}

/// `name@.service` for `name@instance.service`.
fn template_of(name: &str) -> Option<String> {
    let (prefix, rest) = name.split_once('@')?;
    let (instance, kind) = rest.rsplit_once('.')?;
    (!instance.is_empty()).then(|| format!("{prefix}@.{kind}"))
}

/// The drop-ins of `name` (and of its template): `*.conf` in `NAME.d/` of every search
/// directory, a file name in a higher-priority directory hiding the same name below, in
/// file-name order.
fn dropins(name: &str, template: Option<&str>) -> Vec<PathBuf> {
    let mut by_name: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for unit in template.into_iter().chain(std::iter::once(name)) {
        for dir in UNIT_DIRS.iter().rev() {
            let Ok(entries) = std::fs::read_dir(Path::new(dir).join(format!("{unit}.d"))) else {
                continue;
            };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if file.ends_with(".conf") {
                    by_name.insert(file, e.path());
                }
            }
        }
    }
    by_name.into_values().collect()
}

/// What specifiers expand to for one unit.
#[derive(Debug, Clone)]
pub struct Specifiers {
    pub name: String,
    pub hostname: String,
}

impl Specifiers {
    /// `value` with `%X` specifiers expanded; an unknown one is an error.
    pub fn expand(&self, value: &str) -> Result<String, String> {
        let (prefix, instance) = match self.name.rsplit_once('.') {
            Some((stem, _)) => match stem.split_once('@') {
                Some((p, i)) => (p.to_string(), i.to_string()),
                None => (stem.to_string(), String::new()),
            },
            None => (self.name.clone(), String::new()),
        };
        let stem = self
            .name
            .rsplit_once('.')
            .map_or(self.name.as_str(), |s| s.0);
        let mut out = String::with_capacity(value.len());
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let spec = chars.next().ok_or("a '%' at the end of a value")?;
            let short = self.hostname.split('.').next().unwrap_or_default();
            out.push_str(match spec {
                '%' => "%",
                'n' => &self.name,
                'N' => stem,
                'p' | 'P' => &prefix,
                'i' | 'I' => &instance,
                'H' => &self.hostname,
                'l' => short,
                't' => "/run",
                'S' => "/var/lib",
                'C' => "/var/cache",
                'L' => "/var/log",
                'E' => "/etc",
                'T' => "/tmp",
                'V' => "/var/tmp",
                'h' => "/root",
                'u' => "root",
                'U' => "0",
                other => return Err(format!("unknown specifier '%{other}'")),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continued_lines_join_with_a_space_and_comments_are_skipped() {
        let text = "# head\n[Service]\nType=notify\nExecStart=/bin/k3s server \\\n# a comment\n    --disable=traefik\n; other\n[Install]\nWantedBy = multi-user.target\n";
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].key, "ExecStart");
        assert_eq!(e[1].value, "/bin/k3s server  --disable=traefik");
        assert_eq!(
            (e[2].section.as_str(), e[2].value.as_str()),
            ("Install", "multi-user.target")
        );
        assert!(
            parse("Type=simple\n")
                .unwrap_err()
                .contains("outside of a section")
        );
        assert!(parse("[Service]\nbogus\n").unwrap_err().contains("line 2"));
    }

    #[test]
    fn names_get_a_service_suffix_and_are_checked() {
        assert_eq!(canonical("k3s"), "k3s.service");
        assert_eq!(canonical("k3s.service"), "k3s.service");
        assert_eq!(canonical("multi-user.target"), "multi-user.target");
        assert_eq!(canonical("a.b"), "a.b.service");
        assert!(valid_name("getty@tty1.service"));
        assert!(!valid_name("../x.service") && !valid_name("x y.service"));
        assert_eq!(
            template_of("getty@tty1.service").as_deref(),
            Some("getty@.service")
        );
        assert_eq!(template_of("k3s.service"), None);
    }

    #[test]
    fn specifiers_expand_like_systemd() {
        let s = Specifiers {
            name: "k3s-agent@a1.service".into(),
            hostname: "node1.example".into(),
        };
        assert_eq!(
            s.expand("-/etc/default/%N 100%% %i %p %H %l %t").unwrap(),
            "-/etc/default/k3s-agent@a1 100% a1 k3s-agent node1.example node1 /run"
        );
        assert!(s.expand("%Q").is_err());
        assert!(s.expand("50%").is_err());
    }
}
