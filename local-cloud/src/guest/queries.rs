//! The `systemctl` verbs that only look: `is-active`, `is-failed`, `is-enabled`, `status`,
//! `show`, `cat`, `list-units`, with systemctl's output and exit codes.

use std::fmt::Write as _;

use super::args::Opts;
use super::install;
use super::manager::Manager;
use super::props;
use super::systemctl::Response;
use super::unit::Load;
use super::verbs::too_few;

pub(super) fn is_state(
    mgr: &Manager,
    units: &[String],
    o: &Opts,
    r: &mut Response,
    failed: bool,
) -> i32 {
    if units.is_empty() {
        return too_few(r);
    }
    let mut any = false;
    for u in units {
        let s = mgr.unit(u).now();
        let state = if s.unit.load == Load::NotFound {
            "inactive"
        } else {
            s.phase.active()
        };
        if !o.quiet {
            let _ = writeln!(r.out, "{state}");
        }
        any |= if failed {
            state == "failed"
        } else {
            matches!(state, "active" | "reloading")
        };
    }
    match (any, failed) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 3,
    }
}

pub(super) fn is_enabled(units: &[String], o: &Opts, r: &mut Response) -> i32 {
    if units.is_empty() {
        return too_few(r);
    }
    let mut any = false;
    for u in units {
        let Some(state) = install::state(u) else {
            let _ = writeln!(
                r.err,
                "Failed to get unit file state for {u}: No such file or directory"
            );
            return 1;
        };
        if !o.quiet {
            let _ = writeln!(r.out, "{state}");
        }
        any |= install::enabled(state);
    }
    if any { 0 } else { 1 }
}

/// `status`; the journal's lines only for root, whose journal it is (0640 root), as
/// systemctl shows an unprivileged user none of the system's.
pub(super) fn status(mgr: &Manager, units: &[String], o: &Opts, uid: u32, r: &mut Response) -> i32 {
    let names: Vec<String> = if units.is_empty() {
        mgr.all().into_iter().map(|s| s.unit.name.clone()).collect()
    } else {
        units.to_vec()
    };
    let mut code = if units.is_empty() { 0 } else { 3 };
    for (i, name) in names.iter().enumerate() {
        let s = mgr.unit(name).now();
        if s.unit.load == Load::NotFound && s.phase.active() == "inactive" {
            let _ = writeln!(r.err, "Unit {name} could not be found.");
            code = code.max(4);
            continue;
        }
        if i > 0 {
            r.out.push('\n');
        }
        if s.unit.changed_on_disk() {
            let _ = writeln!(
                r.err,
                "Warning: The unit file, source configuration file or drop-ins of {} changed on disk. Run 'systemctl daemon-reload' to reload units.",
                s.unit.name
            );
        }
        r.out
            .push_str(&props::status(&s, install::state(&s.unit.name)));
        let lines = o.lines.unwrap_or(10);
        if lines > 0 && uid == 0 {
            r.out.push('\n');
            r.out.push_str(&props::journal_tail(&s.unit.name, lines));
        } else if lines > 0 && !o.quiet {
            r.out.push_str(
                "\nHint: You are currently not seeing messages from other users and the system.\n      \
                 Users in groups 'adm', 'systemd-journal' can see all messages.\n      \
                 Pass -q to turn off this notice.\n",
            );
        }
        if matches!(s.phase.active(), "active" | "reloading") && code != 4 {
            code = 0;
        }
    }
    code
}

pub(super) fn show(mgr: &Manager, units: &[String], o: &Opts, r: &mut Response) -> i32 {
    if units.is_empty() {
        let manager = [
            ("Version", "255 (local-cloud)"),
            ("Architecture", std::env::consts::ARCH),
            ("SystemState", "running"),
        ];
        for (k, v) in manager {
            if o.props.is_empty() || o.props.iter().any(|p| p == k) {
                let _ = if o.value {
                    writeln!(r.out, "{v}")
                } else {
                    writeln!(r.out, "{k}={v}")
                };
            }
        }
        return 0;
    }
    for (i, name) in units.iter().enumerate() {
        if i > 0 {
            r.out.push('\n');
        }
        let s = mgr.unit(name).now();
        for (k, v) in props::properties(&s, install::state(&s.unit.name)) {
            let wanted = if o.props.is_empty() {
                !v.is_empty() || o.all
            } else {
                o.props.iter().any(|p| p == k)
            };
            if wanted {
                let _ = if o.value {
                    writeln!(r.out, "{v}")
                } else {
                    writeln!(r.out, "{k}={v}")
                };
            }
        }
    }
    0
}

pub(super) fn cat(mgr: &Manager, units: &[String], r: &mut Response) -> i32 {
    if units.is_empty() {
        return too_few(r);
    }
    for (i, name) in units.iter().enumerate() {
        let s = mgr.unit(name).now();
        let Some(fragment) = &s.unit.fragment else {
            let _ = writeln!(r.err, "No files found for {name}.");
            return 1;
        };
        if i > 0 {
            r.out.push('\n');
        }
        for f in std::iter::once(fragment).chain(s.unit.dropins.iter()) {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            let _ = write!(
                r.out,
                "{}# {}\n{text}",
                if f == fragment { "" } else { "\n" },
                f.display()
            );
        }
    }
    0
}

pub(super) fn list_units(mgr: &Manager, o: &Opts, r: &mut Response) -> i32 {
    let shown: Vec<_> = mgr
        .all()
        .into_iter()
        .filter(|s| o.all || s.phase.active() != "inactive")
        .collect();
    if !o.no_legend {
        let _ = writeln!(
            r.out,
            "  {:<40} {:<9} {:<9} {:<9} DESCRIPTION",
            "UNIT", "LOAD", "ACTIVE", "SUB"
        );
    }
    for s in &shown {
        let _ = writeln!(
            r.out,
            "  {:<40} {:<9} {:<9} {:<9} {}",
            s.unit.name,
            props::load_state(&s.unit),
            s.phase.active(),
            s.phase.sub(),
            s.unit.description
        );
    }
    if !o.no_legend {
        let _ = writeln!(r.out, "\n{} loaded units listed.", shown.len());
    }
    0
}
