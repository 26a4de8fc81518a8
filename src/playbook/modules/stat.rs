//! `stat` and `slurp`: read-only looks at one path, each in one exec, so both run in check
//! mode too and are never `changed`.
//!
//! `stat` returns Ansible's `stat` dictionary (mode as a string such as "0644", owner and
//! group names, times with their fractions, a checksum of regular files); `slurp` returns a
//! file's content in base64, bounded at [`SLURP_MAX`] bytes. The content goes only into the
//! result's return values, which `no_log` hides from every output.

use serde_json::{Map, Value as Json, json};

use super::{ModuleCtx, Outcome, Params, digest_tool, from_status};
use crate::ssh::host::HostError;

/// The largest file `slurp` (and `fetch`) reads: its content crosses the connection whole.
pub(crate) const SLURP_MAX: usize = 16 << 20;

/// `stat -c` fields, one a line: raw mode (hex), uid, gid, size, inode, device, links,
/// access/modify/change times with nanoseconds, 512-byte blocks, I/O block size, device
/// major and minor (hex), owner and group names.
const STAT_FORMAT: &str = "%f\n%u\n%g\n%s\n%i\n%d\n%h\n%.9X\n%.9Y\n%.9Z\n%b\n%o\n%t\n%T\n%U\n%G";

const STAT_SCRIPT: &str = r#"LC_ALL=C; export LC_ALL
if [ "$follow" = 1 ]; then s=$(stat -L -c "$format" -- "$p" 2>&1); else s=$(stat -c "$format" -- "$p" 2>&1); fi || {
  case $s in *"No such file or directory"*) echo absent; exit 0;; esac
  printf '%s\n' "${s#stat: }" >&2; exit 1
}
echo present
printf '%s\n' "$s"
r=0; w=0; x=0
[ -r "$p" ] && r=1; [ -w "$p" ] && w=1; [ -x "$p" ] && x=1
echo "$r $w $x"
m=$(printf %s "$s" | head -n 1)
isreg=0; [ $(( 0x$m & 0170000 )) -eq $(( 0100000 )) ] && isreg=1
sum=
if [ "$isreg" = 1 ] && [ "$r" = 1 ] && [ -n "$tool" ]; then sum=$("$tool" < "$p") || exit 1; sum=${sum%% *}; fi
echo "$sum"
mime=unknown
if [ "$mime_wanted" = 1 ] && command -v file >/dev/null 2>&1; then mime=$(file -b --mime-type --mime-encoding -- "$p" 2>/dev/null) || mime=unknown; fi
echo "$mime"
if [ -L "$p" ] && [ "$follow" != 1 ]; then printf '\0%s\0%s\0' "$(realpath -m -- "$p")" "$(readlink -- "$p")"; fi
"#;

/// `stat`: `path` (`dest`, `name`), `follow`, `get_checksum` (default true),
/// `checksum_algorithm` (`checksum`, `checksum_algo`; default sha1), `get_mime`.
pub(super) async fn stat(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    let prepared = (|| -> Result<_, String> {
        let alg = match ["checksum_algorithm", "checksum", "checksum_algo"]
            .iter()
            .find_map(|k| ctx.str_arg(k).transpose())
        {
            Some(a) => a?,
            None => "sha1".into(),
        };
        let tool = digest_tool(&alg)?;
        let checksum = ctx.opt_bool_arg("get_checksum")?.unwrap_or(true);
        Ok((
            ctx.path_arg()?,
            ctx.bool_arg("follow")?,
            checksum.then_some(tool),
            ctx.opt_bool_arg("get_mime")?.unwrap_or(true),
        ))
    })();
    let (path, follow, tool, mime) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let params = Params::default()
        .var("p", &path)
        .var("follow", u8::from(follow).to_string())
        .var("format", STAT_FORMAT)
        .var("tool", tool.unwrap_or(""))
        .var("mime_wanted", u8::from(mime).to_string());
    let out = ctx.exec(STAT_SCRIPT, params, None).await?;
    if out.status != 0 {
        return Ok(from_status(&out));
    }
    let stat = match parse_stat(&path, &out.stdout, mime) {
        Ok(s) => s,
        Err(e) => return Ok(Outcome::fail(format!("stat {path}: {e}"))),
    };
    let mut data = Map::new();
    data.insert("stat".into(), Json::Object(stat));
    Ok(Outcome {
        data,
        ..Outcome::default()
    })
}

/// The `stat` dictionary from the script's output, with Ansible's keys.
fn parse_stat(path: &str, out: &[u8], mime: bool) -> Result<Map<String, Json>, String> {
    let mut m = Map::new();
    let text = String::from_utf8_lossy(out);
    // A symlink's source and target come last, after NULs (they may hold newlines).
    let mut parts = text.split('\0');
    let head = parts.next().unwrap_or("");
    let link = parts
        .next()
        .map(|source| (source, parts.next().unwrap_or("")));
    let mut lines = head.split('\n');
    if lines.next() == Some("absent") {
        m.insert("exists".into(), false.into());
        return Ok(m);
    }
    let f: Vec<&str> = lines.by_ref().take(20).collect();
    if f.len() < 19 {
        return Err(format!("the output of stat is cut short: {head:?}"));
    }
    let int = |i: usize, radix: u32| -> Result<u64, String> {
        u64::from_str_radix(f[i], radix).map_err(|_| format!("stat printed {:?}", f[i]))
    };
    let time = |i: usize| -> Result<Json, String> {
        let t: f64 = f[i]
            .parse()
            .map_err(|_| format!("stat printed {:?}", f[i]))?;
        Ok(serde_json::Number::from_f64(t).map_or(Json::Null, Json::Number))
    };
    let raw = int(0, 16)? as u32;
    let kind = raw & 0o170000;
    let bit = |b: u32| Json::Bool(raw & b != 0);
    m.insert("exists".into(), true.into());
    m.insert("path".into(), path.into());
    m.insert("mode".into(), format!("{:04o}", raw & 0o7777).into());
    for (k, v) in [
        ("isdir", 0o040000),
        ("ischr", 0o020000),
        ("isblk", 0o060000),
        ("isreg", 0o100000),
        ("isfifo", 0o010000),
        ("islnk", 0o120000),
        ("issock", 0o140000),
    ] {
        m.insert(k.into(), (kind == v).into());
    }
    for (k, i) in [
        ("uid", 1),
        ("gid", 2),
        ("size", 3),
        ("inode", 4),
        ("dev", 5),
        ("nlink", 6),
        ("blocks", 10),
        ("block_size", 11),
    ] {
        m.insert(k.into(), int(i, 10)?.into());
    }
    m.insert("atime".into(), time(7)?);
    m.insert("mtime".into(), time(8)?);
    m.insert("ctime".into(), time(9)?);
    let (major, minor) = (int(12, 16)?, int(13, 16)?);
    // glibc's makedev, which Python's st_rdev reports.
    let rdev = ((major & 0xfff) << 8)
        | ((major & !0xfff) << 32)
        | (minor & 0xff)
        | ((minor & !0xff) << 12);
    m.insert("device_type".into(), rdev.into());
    for (k, b) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ] {
        m.insert(k.into(), bit(b));
    }
    // stat prints UNKNOWN for an id without a name; Ansible then leaves the key out.
    if f[14] != "UNKNOWN" {
        m.insert("pw_name".into(), f[14].into());
    }
    if f[15] != "UNKNOWN" {
        m.insert("gr_name".into(), f[15].into());
    }
    let access: Vec<&str> = f[16].split(' ').collect();
    for (i, k) in ["readable", "writeable", "executable"].iter().enumerate() {
        m.insert((*k).into(), (access.get(i) == Some(&"1")).into());
    }
    if !f[17].is_empty() {
        m.insert("checksum".into(), f[17].into());
    }
    if mime {
        let (t, charset) = f[18].split_once(';').map_or((f[18], "unknown"), |(t, c)| {
            (t.trim(), c.trim().trim_start_matches("charset=").trim())
        });
        m.insert("mimetype".into(), t.into());
        m.insert("charset".into(), charset.into());
    }
    if let Some((source, target)) = link {
        m.insert("lnk_source".into(), source.into());
        m.insert("lnk_target".into(), target.into());
    }
    Ok(m)
}

/// `slurp`: `src` (`path`); the content in base64, at most [`SLURP_MAX`] bytes.
pub(super) async fn slurp(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    let src = match src_arg(ctx) {
        Ok(s) => s,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    match read_file(ctx, &src).await? {
        Ok(content) => {
            let mut data = Map::new();
            data.insert("content".into(), Json::String(content));
            data.insert("encoding".into(), json!("base64"));
            data.insert("source".into(), Json::String(src));
            Ok(Outcome {
                data,
                ..Outcome::default()
            })
        }
        Err(failed) => Ok(failed),
    }
}

/// `src` (or its alias `path`): an absolute path.
pub(super) fn src_arg(ctx: &ModuleCtx<'_>) -> Result<String, String> {
    let src = match ctx.str_arg("src")? {
        Some(s) => s,
        None => ctx.str_arg("path")?.ok_or("`src` is required")?,
    };
    if !src.starts_with('/') {
        return Err(format!("`src` must be an absolute path, found {src:?}"));
    }
    Ok(src)
}

/// Reads a file on the host in one exec: its content in base64, or the failed outcome
/// with Ansible's messages (`File not found: PATH`...).
pub(super) async fn read_file(
    ctx: &ModuleCtx<'_>,
    path: &str,
) -> Result<Result<String, Outcome>, HostError> {
    let script = r#"if [ ! -e "$p" ] && [ ! -L "$p" ]; then printf 'File not found: %s\n' "$p" >&2; exit 1; fi
if [ -d "$p" ]; then printf 'Source is a directory and must be a file: %s\n' "$p" >&2; exit 1; fi
if ! command exec 4<"$p"; then printf 'File is not readable: %s\n' "$p" >&2; exit 1; fi
head -c "$max" <&4 | base64 -w 0
"#;
    // One byte more than allowed tells a file at the limit from a larger one.
    let params = Params::default()
        .var("p", path)
        .var("max", (SLURP_MAX + 1).to_string());
    let limit = (SLURP_MAX + 1).div_ceil(3) * 4 + 1024;
    let out = ctx
        .exec_with(script, params, None, ctx.timeout, Some(limit))
        .await?;
    if out.status != 0 {
        return Ok(Err(from_status(&out)));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count();
    let size = (text.len() / 4 * 3).saturating_sub(padding);
    if out.stdout_dropped > 0 || size > SLURP_MAX {
        return Ok(Err(Outcome::fail(format!(
            "{path} is larger than {} MiB ({SLURP_MAX} bytes), the most slurp and fetch read",
            SLURP_MAX >> 20
        ))));
    }
    Ok(Ok(text))
}
