//! Checks of the `gitops` section and of `postgres.secrets` (the Secrets the gitops phase
//! writes) with `postgres.ca_bundle` (their `ca.crt`): the repository URL, the Flux release
//! and its checksum, the interval, the token's variable name, each Secret's namespace, name
//! and database, and the CA file.

use super::sections::{argocd_checksum, flux_checksum};
use super::validate::Checker;
use super::*;

/// Runs the gitops checks.
pub(super) fn check(c: &Config, k: &mut Checker<'_>) {
    pg_secrets(c, k);
    ca_bundle(c, k);
    let g = &c.gitops;
    if g.controller == Controller::None {
        return;
    }
    repository(g, k);
    if g.path.starts_with('/') || g.path.split('/').any(|s| s == "..") {
        k.fail(
            "gitops.path",
            format!(
                "{:?} must be a relative path inside the repository without '..'",
                g.path
            ),
        );
    }
    if g.branch.is_empty() || g.branch.contains(' ') || g.branch.contains("..") {
        k.fail(
            "gitops.branch",
            format!("{:?} is not a valid branch name", g.branch),
        );
    }
    k.pattern(
        "gitops.interval",
        &g.interval,
        is_duration(&g.interval),
        "use a duration such as 30s, 1m, 5m or 1h30m (at least 10s)",
    );
    for (key, file) in [("manifests", &g.manifests), ("known_hosts", &g.known_hosts)] {
        if let Some(f) = file
            && !f.is_file()
        {
            k.fail(
                &format!("gitops.{key}"),
                format!("{} does not exist", f.display()),
            );
        }
    }
    let ssh = g
        .repository
        .as_deref()
        .is_some_and(|r| r.starts_with("ssh://") || r.starts_with("git@"));
    if ssh && g.known_hosts.is_none() {
        k.fail(
            "gitops.known_hosts",
            "required for an SSH repository: a known_hosts file with the Git host's keys (for example from `ssh-keyscan HOST`, checked against the host's published fingerprints)".into(),
        );
    }
    if g.repository
        .as_deref()
        .is_some_and(|r| r.starts_with("https://"))
        && g.known_hosts.is_some()
    {
        k.fail(
            "gitops.known_hosts",
            "only applies to an SSH repository (ssh:// or git@host:path)".into(),
        );
    }
    match g.controller {
        Controller::Flux => release(g, k, &FLUX),
        Controller::Argocd => release(g, k, &ARGOCD),
        Controller::None => {}
    }
}

fn repository(g: &Gitops, k: &mut Checker<'_>) {
    match &g.repository {
        None => k.fail(
            "gitops.repository",
            "required when gitops.controller is flux or argocd: the Git URL (https://..., ssh://... or git@host:path), or set controller: none".into(),
        ),
        Some(r) => {
            let ok = r.starts_with("https://")
                || r.starts_with("ssh://")
                || (r.starts_with("git@") && r.contains(':'));
            k.pattern(
                "gitops.repository",
                r,
                ok,
                "use an https://, ssh:// or git@host:path Git URL (plain http:// would let anyone on the path change what the cluster runs)",
            );
        }
    }
    if let Some(t) = &g.token_env {
        let ok = t.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            && t.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        k.pattern(
            "gitops.token_env",
            t,
            ok,
            "use the NAME of an environment variable (letters, digits and '_'), never the token itself",
        );
        if g.repository
            .as_deref()
            .is_some_and(|r| !r.starts_with("https://"))
        {
            k.fail(
                "gitops.token_env",
                "only applies to an https:// repository (an SSH repository uses a deploy key)"
                    .into(),
            );
        }
    }
}

/// What differs between the controllers' release settings.
struct Rules {
    key: &'static str,
    name: &'static str,
    /// Accepted major versions (`v2.` for Flux).
    majors: &'static [&'static str],
    example: &'static str,
    releases: &'static str,
    checksum: fn(&str) -> Option<&'static str>,
    select: fn(&Gitops) -> &Release,
}

const FLUX: Rules = Rules {
    key: "gitops.flux",
    name: "Flux",
    majors: &["v2."],
    example: "a Flux v2 release tag such as v2.9.4",
    releases: "https://github.com/fluxcd/flux2/releases",
    checksum: flux_checksum,
    select: |g| &g.flux,
};

const ARGOCD: Rules = Rules {
    key: "gitops.argocd",
    name: "Argo CD",
    majors: &["v2.", "v3."],
    example: "an Argo CD release tag such as v3.5.1",
    releases: "https://raw.githubusercontent.com/argoproj/argo-cd",
    checksum: argocd_checksum,
    select: |g| &g.argocd,
};

/// `gitops.flux` or `gitops.argocd`: the tag, the base URL and the pinned checksum.
fn release(g: &Gitops, k: &mut Checker<'_>, r: &Rules) {
    let f = (r.select)(g);
    let key = r.key;
    let v = r
        .majors
        .iter()
        .find_map(|m| f.version.strip_prefix(m))
        .unwrap_or("");
    let ok = v.split('.').count() == 2
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    k.pattern(
        &format!("{key}.version"),
        &f.version,
        ok,
        &format!("use {}", r.example),
    );
    let url_ok = url::Url::parse(&f.manifests_url).is_ok_and(|p| {
        p.host().is_some()
            && p.username().is_empty()
            && p.password().is_none()
            && matches!(p.scheme(), "https" | "http")
    });
    k.pattern(
        &format!("{key}.manifests_url"),
        &f.manifests_url,
        url_ok,
        &format!(
            "use the base URL of the releases without credentials, such as {}",
            r.releases
        ),
    );
    match &f.sha256 {
        Some(h) => k.pattern(
            &format!("{key}.sha256"),
            h,
            h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()),
            "use the 64 hex digits of install.yaml's sha256 from the release's checksums",
        ),
        None if g.manifests.is_none() && ok && (r.checksum)(&f.version).is_none() => k.fail(
            &format!("{key}.sha256"),
            format!(
                "required: platform carries no checksum of {} {}'s install.yaml; set the sha256 from the release's published checksums (or one you computed from a copy you verified), or gitops.manifests: PATH for an offline copy",
                r.name, f.version
            ),
        ),
        None => {}
    }
}

/// Flux's duration syntax as used here: number+unit groups (`h`, `m`, `s`), at least 10 s.
fn is_duration(s: &str) -> bool {
    let mut secs = 0u64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let Ok(n) = num.parse::<u64>() else {
            return false;
        };
        num.clear();
        secs = secs.saturating_add(match ch {
            'h' => n.saturating_mul(3600),
            'm' => n.saturating_mul(60),
            's' => n,
            _ => return false,
        });
    }
    num.is_empty() && !s.is_empty() && secs >= 10
}

/// A DNS-1123 label (namespaces) when `max` is 63, a subdomain (Secret names) when 253.
fn is_dns_name(s: &str, max: usize, dots: bool) -> bool {
    (1..=max).contains(&s.len())
        && (dots || !s.contains('.'))
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn pg_secrets(c: &Config, k: &mut Checker<'_>) {
    let pg = &c.postgres;
    if !pg.secrets.is_empty() && !pg.enabled {
        k.fail(
            "postgres.secrets",
            "needs postgres.enabled: true (the Secrets describe the Flexible Server)".into(),
        );
    }
    if !pg.secrets.is_empty() && c.gitops.controller == Controller::None {
        k.fail(
            "postgres.secrets",
            "the gitops phase writes these Secrets; set gitops.controller to flux or argocd".into(),
        );
    }
    for (i, s) in pg.secrets.iter().enumerate() {
        let p = format!("postgres.secrets[{i}]");
        k.pattern(
            &format!("{p}.namespace"),
            &s.namespace,
            is_dns_name(&s.namespace, 63, false),
            "use a Kubernetes namespace name: 1-63 lowercase letters, digits and '-'",
        );
        k.pattern(
            &format!("{p}.name"),
            &s.name,
            is_dns_name(&s.name, 253, true),
            "use a Kubernetes Secret name: lowercase letters, digits, '-' and '.'",
        );
        if !pg.databases.contains(&s.database) {
            k.fail(
                &format!("{p}.database"),
                format!(
                    "{:?} is not one of postgres.databases ({})",
                    s.database,
                    pg.databases.join(", ")
                ),
            );
        }
        if pg.secrets[..i]
            .iter()
            .any(|o| o.namespace == s.namespace && o.name == s.name)
        {
            k.fail(
                &format!("{p}.name"),
                format!("{}/{} is listed twice", s.namespace, s.name),
            );
        }
    }
}

/// `postgres.ca_bundle`: only with a server, and a readable PEM file of certificates.
fn ca_bundle(c: &Config, k: &mut Checker<'_>) {
    let Some(path) = &c.postgres.ca_bundle else {
        return;
    };
    if !c.postgres.enabled {
        k.fail(
            "postgres.ca_bundle",
            "is used only with postgres.enabled: true; remove it".into(),
        );
    } else if let Err(e) = read_ca_bundle(path) {
        k.fail(
            "postgres.ca_bundle",
            format!("{e} (a PEM file of the CA certificates that sign the server's certificate)"),
        );
    }
}
