//! Replacing a file's content safely (`copy`, `template`, `lineinfile`), and the `mode`,
//! `owner` and `group` every file module checks and fixes.
//!
//! New content goes to a temp file with a random name in the destination's directory,
//! created exclusively (O_CREAT|O_EXCL through the shell's noclobber `>`, so nothing planted
//! at that path, a symlink included, is ever opened), private (umask 077) while written, and
//! renamed over the destination. The script keeps the file open as fd 3 and changes its
//! attributes through `/proc/self/fd/3`, so a name swapped in the meantime is never followed
//! (Ansible's `atomic_move` does the same with `mkstemp` in the destination directory).

use super::{ModuleCtx, Params, octal_mode};

/// The lines of [`CREATE_TEMP`] (a macro, so that [`WRITE_TEMP`] can be built with `concat!`).
macro_rules! create_temp {
    () => {
        r#"tmp="$dir/.platform-tmp.$rand"
if [ -e "$tmp" ] || [ -L "$tmp" ]; then cat >/dev/null; echo "$tmp already exists: refusing to write through it" >&2; exit 1; fi
um=$(umask); umask 077; set -C
if ! command exec 3>"$tmp"; then cat >/dev/null; echo "cannot create a temporary file in $dir" >&2; exit 1; fi
set +C; umask "$um"
trap '[ -z "$tmp" ] || rm -f -- "$tmp"' EXIT
t=/proc/self/fd/3
"#
    };
}

/// The lines of [`LIKE_DEST`].
macro_rules! like_dest {
    () => {
        r#"if [ -e "$d" ]; then
  chmod --reference="$d" "$t" || exit 1
  chown --reference="$d" "$t" 2>/dev/null
else
  chmod "$(printf %o $(( 0666 & ~0$um )))" "$t" || exit 1
fi
"#
    };
}

/// Shell lines that create the temp file for `$d` (directory `$dir`, random `$rand`) as fd 3,
/// empty and private. They set `tmp` (removed on exit unless renamed) and `t`
/// (`/proc/self/fd/3`), the path the content is written to and attributes are fixed on.
pub(super) const CREATE_TEMP: &str = create_temp!();

/// Shell lines that give the temp file `$d`'s mode and owner, or the umask's mode for a new
/// file (Ansible's `atomic_move` does the same).
pub(super) const LIKE_DEST: &str = like_dest!();

/// [`CREATE_TEMP`], stdin written to it, then [`LIKE_DEST`].
pub(super) const WRITE_TEMP: &str = concat!(create_temp!(), "cat >&3 || exit 1\n", like_dest!());

/// Shell lines that put the temp file in place (after the attributes were fixed).
pub(super) const RENAME_TEMP: &str = r#"if [ -n "$tmp" ]; then mv -fT -- "$tmp" "$d" || exit 1; tmp=; fi
"#;

/// A random temp-file suffix: 128 bits, so the name cannot be guessed before it exists.
pub(super) fn random_suffix() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `mode`, `owner` and `group` of a path, checked and fixed in the module's script.
pub(super) struct Attrs {
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

impl Attrs {
    pub(super) fn from_ctx(ctx: &ModuleCtx<'_>) -> Result<Attrs, String> {
        Ok(Attrs {
            mode: ctx.str_arg("mode")?.map(|m| octal_mode(&m)).transpose()?,
            owner: ctx
                .str_arg("owner")?
                .map(|o| account("owner", o))
                .transpose()?,
            group: ctx
                .str_arg("group")?
                .map(|g| account("group", g))
                .transpose()?,
        })
    }

    /// Whether no attribute was asked for.
    pub(super) fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// Adds the wanted values to the script's parameters.
    pub(super) fn params(&self, mut p: Params) -> Params {
        for (name, v) in [
            ("want_mode", &self.mode),
            ("want_owner", &self.owner),
            ("want_group", &self.group),
        ] {
            if let Some(v) = v {
                p = p.var(name, v);
            }
        }
        p
    }

    /// Shell lines that set `changed=1` and fix what differs on `"$var"` (only reads in check
    /// mode). A path that does not exist yet (check mode) counts as a change.
    pub(super) fn script(&self, var: &str) -> String {
        let mut s = String::new();
        let mut one = |want: &Option<String>, name: &str, fmt_name: &str, fmt_id: &str, fix| {
            let Some(w) = want else { return };
            let f = if w.chars().all(|c| c.is_ascii_digit()) {
                fmt_id
            } else {
                fmt_name
            };
            s.push_str(&format!(
                "cur=$(stat -L -c {f} -- \"{var}\" 2>/dev/null); if [ \"$cur\" != \"${name}\" ]; then changed=1; [ \"$check\" = 1 ] || {fix} -- \"${name}\" \"{var}\" || exit 1; fi\n",
            ));
        };
        // %a is octal already, so the mode is compared as text, not as a number.
        one(&self.mode, "want_mode", "%a", "%a", "chmod");
        one(&self.owner, "want_owner", "%U", "%u", "chown");
        one(&self.group, "want_group", "%G", "%g", "chgrp");
        s
    }
}

/// Checks a user or group: a name or a number, which `chown` cannot mistake for an option
/// or for `user:group`.
fn account(key: &str, v: String) -> Result<String, String> {
    let ok = !v.is_empty()
        && !v.starts_with('-')
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-$".contains(c) || !c.is_ascii());
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "`{key}` must be a user or group name or a numeric id (letters, digits, '_', '.', '-', not starting with '-'), found {v:?}"
        ))
    }
}
