//! `systemd_service` (alias `systemd`): a unit's enablement, mask and running state through
//! `systemctl`, as Ansible's module decides them, in one exec (`systemd.sh`).
//!
//! The script reads `systemctl show UNIT` (LoadState, ActiveState...), then changes only what
//! differs: `masked`, then `enabled` (`systemctl is-enabled`), then `state` (`restarted`
//! always changes; `reloaded` reloads a running unit and starts a stopped one).
//! `daemon_reload` runs first, and not in check mode. Where `show` cannot answer, the unit
//! files decide (`is-enabled`, `list-unit-files`); in a chroot or with `SYSTEMD_OFFLINE=1`
//! that is Ansible's offline mode (enable on the files, start nothing, warn). A host without
//! systemctl, or whose systemctl cannot reach systemd otherwise, fails saying so.

use serde_json::{Map, Value as Json};

use super::{ModuleCtx, Outcome, Params, from_status};
use crate::ssh::host::HostError;

const SCRIPT: &str = include_str!("systemd.sh");
const MARKER: &str = "\n__platform_result__\n";

/// The `state` values.
pub(crate) const STATES: &[&str] = &["started", "stopped", "restarted", "reloaded"];

/// Checks a unit name as systemd spells them (letters, digits, `:_.@-\`), which also keeps it
/// from being read as an option of systemctl.
pub(crate) fn check_unit(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":_.@-\\".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`name` {name:?} is not a systemd unit name (allowed: letters, digits, ':', '_', '.', '@', '-', '\\', not starting with '-'; no glob patterns)"
        ))
    }
}

/// Checks a `state` value.
pub(crate) fn check_state(state: &str) -> Result<(), String> {
    if STATES.contains(&state) {
        Ok(())
    } else {
        Err(format!(
            "`state: {state}` is not supported; use {}",
            STATES.join(", ")
        ))
    }
}

pub(super) async fn run(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    let prepared = (|| -> Result<_, String> {
        let name = match ["name", "service", "unit"]
            .iter()
            .find_map(|k| ctx.str_arg(k).transpose())
        {
            Some(n) => Some(n?),
            None => None,
        };
        let state = ctx.str_arg("state")?;
        let enabled = ctx.opt_bool_arg("enabled")?;
        let masked = ctx.opt_bool_arg("masked")?;
        let reload = ctx.bool_arg("daemon_reload")? || ctx.bool_arg("daemon-reload")?;
        if let Some(s) = &state {
            check_state(s)?;
        }
        if state.is_none() && enabled.is_none() && masked.is_none() && !reload {
            return Err("give one of `state`, `enabled`, `masked` or `daemon_reload`".into());
        }
        match &name {
            Some(n) => check_unit(n)?,
            None if state.is_some() || enabled.is_some() || masked.is_some() => {
                return Err("`name` is required with `state`, `enabled` or `masked`".into());
            }
            None => {}
        }
        Ok((
            name,
            state,
            enabled,
            masked,
            reload,
            ctx.bool_arg("no_block")?,
        ))
    })();
    let (name, state, enabled, masked, reload, no_block) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let flag = |b: Option<bool>| b.map_or(String::new(), |b| u8::from(b).to_string());
    let params = Params::default()
        .var("unit", name.clone().unwrap_or_default())
        .var("state", state.unwrap_or_default())
        .var("enabled", flag(enabled))
        .var("masked", flag(masked))
        .var("daemon_reload", u8::from(reload).to_string())
        .var("no_block", u8::from(no_block).to_string())
        .var("check", u8::from(ctx.check).to_string());
    let out = ctx.exec(SCRIPT, params, None).await?;
    let mut outcome = from_status(&out);
    let mut data = Map::new();
    data.insert("name".into(), name.map_or(Json::Null, Json::from));
    if outcome.failed {
        outcome.data = data;
        return Ok(outcome);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (show, results) = text.rsplit_once(MARKER).unwrap_or((&text, ""));
    data.insert("status".into(), Json::Object(parse_show(show)));
    let mut warnings = Vec::new();
    for line in results.lines() {
        match line.split_once('=') {
            Some(("enabled", v)) => data.insert("enabled".into(), (v == "1").into()),
            Some(("state", v)) => data.insert("state".into(), v.into()),
            // A chroot or SYSTEMD_OFFLINE=1: what Ansible's module warns about then.
            Some(("warning", v)) => {
                warnings.push(Json::from(v));
                None
            }
            _ => None,
        };
    }
    if !warnings.is_empty() {
        data.insert("warnings".into(), Json::Array(warnings));
    }
    outcome.data = data;
    Ok(outcome)
}

/// `systemctl show` output as a dictionary, as Ansible's `parse_systemctl_show` reads it:
/// only `Exec*=` values in `{ ... }` may span lines.
pub(crate) fn parse_show(text: &str) -> Map<String, Json> {
    let mut parsed = Map::new();
    let mut multi: Option<(String, Vec<String>)> = None;
    for line in text.split('\n') {
        if let Some((key, mut lines)) = multi.take() {
            lines.push(line.to_owned());
            if line.trim_end().ends_with('}') {
                parsed.insert(key, lines.join("\n").trim().into());
            } else {
                multi = Some((key, lines));
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.starts_with("Exec") && v.trim_start().starts_with('{') && !v.trim_end().ends_with('}')
        {
            multi = Some((k.to_owned(), vec![v.to_owned()]));
            continue;
        }
        parsed.insert(k.to_owned(), v.trim().into());
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_output_parses_as_ansible_parses_it() {
        let m = parse_show(
            "Id=k3s.service\nDescription={ not multi-line\nExecStart={ path=/usr/local/bin/k3s ;\n argv[]=/usr/local/bin/k3s server }\nActiveState=active\n",
        );
        assert_eq!(m["Description"], "{ not multi-line");
        assert_eq!(
            m["ExecStart"],
            "{ path=/usr/local/bin/k3s ;\n argv[]=/usr/local/bin/k3s server }"
        );
        assert_eq!(m["ActiveState"], "active");
        assert!(check_unit("k3s-agent.service").is_ok());
        assert!(check_unit("getty@tty1.service").is_ok());
        for bad in ["", "-H", "a b", "k3s*", "x;y", "a\nb", "$(id)"] {
            assert!(check_unit(bad).is_err(), "{bad:?}");
        }
    }
}
