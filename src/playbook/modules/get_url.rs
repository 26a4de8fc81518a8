//! `get_url`: download a file on the host with curl (else wget), as Ansible's module does.
//!
//! One exec runs `get_url.sh`: it fetches a checksum file when `checksum` is
//! `ALGO:URL` (and finds the line naming the URL's file, as in k3s's `sha256sum-amd64.txt`),
//! skips the download when `dest` already has that checksum, downloads to a temp file beside
//! `dest` (created exclusively, as `write.rs` does), verifies it, and renames it into place
//! only when it differs from `dest`. A checksum mismatch leaves `dest` untouched. Headers go
//! to curl on stdin, never on a command line. In check mode a HEAD request stands in for the
//! download, as in Ansible.

use serde_json::{Map, Value as Json};
use std::time::Instant;

use super::write::{Attrs, CREATE_TEMP, LIKE_DEST, RENAME_TEMP, random_suffix};
use super::{ModuleCtx, Outcome, Params, digest_tool, from_status};
use crate::ssh::host::HostError;

const SCRIPT: &str = include_str!("get_url.sh");

/// What `checksum` asks for.
#[derive(Debug, PartialEq)]
pub(crate) struct Checksum {
    /// The digest program (`sha256sum`).
    pub tool: &'static str,
    /// The expected digest (lowercase hex), or empty when it comes from `url`.
    pub digest: String,
    /// A checksum file to fetch on the host.
    pub url: Option<String>,
}

/// Parses Ansible's `ALGO:HEX` or `ALGO:URL` (an empty string is no checksum).
pub(crate) fn parse_checksum(s: &str) -> Result<Option<Checksum>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let (alg, value) = s.split_once(':').ok_or(
        "The checksum parameter has to be in format <algorithm>:<checksum> (such as sha256:<hex> or sha256:https://.../sha256sum-amd64.txt)",
    )?;
    let tool = digest_tool(alg)?;
    if value.contains("://") {
        check_url(value)?;
        return Ok(Some(Checksum {
            tool,
            digest: String::new(),
            url: Some(value.to_owned()),
        }));
    }
    // Ansible drops non-word characters (`re.sub(r'\W+', '', checksum)`) and lowercases.
    let digest: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase();
    if digest.is_empty() || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "The checksum format is invalid: {value:?} is not hexadecimal"
        ));
    }
    Ok(Some(Checksum {
        tool,
        digest,
        url: None,
    }))
}

/// Checks that a URL is http(s) with a host: curl and wget get nothing else.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!(
            "URL {url:?}: the scheme {:?} is not supported; use http:// or https://",
            u.scheme()
        )),
        Err(e) => Err(format!("URL {url:?} is not valid: {e}")),
    }
}

/// The file name a URL names (Ansible's `url_filename`: the basename of its path, or
/// `index.html`), which a checksum file's line must name.
pub(crate) fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['#', '?']).next().unwrap_or("");
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => "index.html".into(),
    }
}

/// `headers` as `Name: value` lines, checked so that each stays one header.
fn header_lines(v: Option<&Json>) -> Result<Option<String>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Json::Object(m) = v else {
        return Err(format!("`headers` must be a mapping, found {v}"));
    };
    let mut lines = String::new();
    for (k, v) in m {
        let value = match v {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            other => {
                return Err(format!(
                    "header {k}: the value must be a string, found {other}"
                ));
            }
        };
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if k.is_empty() || !k.chars().all(token) {
            return Err(format!("header name {k:?} is not a valid HTTP header name"));
        }
        if value.contains(['\r', '\n', '\0']) {
            return Err(format!("header {k}: the value holds a line break"));
        }
        lines.push_str(&format!("{k}: {value}\n"));
    }
    Ok((!lines.is_empty()).then_some(lines))
}

pub(super) async fn run(ctx: &ModuleCtx<'_>) -> Result<Outcome, HostError> {
    let prepared = (|| -> Result<_, String> {
        let url = ctx.str_arg("url")?.ok_or("`url` is required")?;
        check_url(&url)?;
        let dest = ctx.str_arg("dest")?.ok_or("`dest` is required")?;
        if !dest.starts_with('/') {
            return Err(format!("`dest` must be an absolute path, found {dest:?}"));
        }
        let checksum = parse_checksum(&ctx.str_arg("checksum")?.unwrap_or_default())?;
        let timeout = ctx.u64_arg("timeout", 10)?.max(1);
        let headers = header_lines(ctx.args.get("headers"))?;
        Ok((url, dest, checksum, timeout, headers, Attrs::from_ctx(ctx)?))
    })();
    let (url, dest, checksum, timeout, headers, attrs) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let force = match ctx.bool_arg("force") {
        Ok(f) => f,
        Err(e) => return Ok(ctx.invalid(e)),
    };
    let script = SCRIPT
        .replace("@CREATE_TEMP@", CREATE_TEMP)
        .replace("@LIKE_DEST@", LIKE_DEST)
        .replace("@RENAME_TEMP@", RENAME_TEMP)
        .replace("@ATTRS_DEST@", &attrs.script("$d"))
        .replace("@ATTRS_T@", &attrs.script("$t"));
    let (tool, want, sum_url) = match &checksum {
        Some(c) => (c.tool, c.digest.as_str(), c.url.as_deref().unwrap_or("")),
        None => ("", "", ""),
    };
    let params = Params::default()
        .var("url", &url)
        .var("d", &dest)
        .var("check", u8::from(ctx.check).to_string())
        .var("force", u8::from(force).to_string())
        .var("timeout", timeout.to_string())
        .var("sum_tool", tool)
        .var("want", want)
        .var("sum_url", sum_url)
        .var("base", url_filename(&url))
        .var("has_headers", u8::from(headers.is_some()).to_string())
        .var("rand", random_suffix());
    let started = Instant::now();
    let out = ctx
        .exec(
            &script,
            attrs.params(params),
            headers.as_deref().map(str::as_bytes),
        )
        .await?;
    let mut outcome = from_status(&out);
    let mut data = Map::new();
    data.insert("url".into(), url.into());
    data.insert("dest".into(), dest.into());
    data.insert("elapsed".into(), started.elapsed().as_secs().into());
    data.insert("checksum_src".into(), Json::Null);
    data.insert("checksum_dest".into(), Json::Null);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let value = match k {
            "status_code" => v.parse::<u16>().map_or(Json::Null, Json::from),
            "checksum_src" | "checksum_dest" if v.is_empty() => Json::Null,
            "checksum_src" | "checksum_dest" | "md5sum" => v.into(),
            "info" => {
                path_info(v, &mut data);
                continue;
            }
            "msg" if !outcome.failed => {
                outcome.msg = v.to_owned();
                continue;
            }
            _ => continue,
        };
        data.insert(k.into(), value);
    }
    if !outcome.failed && !data.contains_key("state") {
        data.insert("state".into(), "absent".into());
    }
    outcome.data = data;
    Ok(outcome)
}

/// What Ansible adds about a path it returns (`add_path_info`): mode, owner, size...
fn path_info(line: &str, data: &mut Map<String, Json>) {
    let f: Vec<&str> = line.split(' ').collect();
    let [mode, uid, gid, owner, group, size] = f[..] else {
        return;
    };
    let num = |s: &str| s.parse::<u64>().map_or(Json::Null, Json::from);
    let mode = u32::from_str_radix(mode, 8).map_or(Json::Null, |m| format!("{m:04o}").into());
    data.insert("state".into(), "file".into());
    data.insert("mode".into(), mode);
    data.insert("uid".into(), num(uid));
    data.insert("gid".into(), num(gid));
    data.insert("owner".into(), owner.into());
    data.insert("group".into(), group.into());
    data.insert("size".into(), num(size));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_urls_and_file_names_parse_as_ansible_reads_them() {
        let c = parse_checksum("sha256:AB:cd-EF").unwrap().unwrap();
        assert_eq!(
            (c.tool, c.digest.as_str(), c.url),
            ("sha256sum", "abcdef", None)
        );
        let c = parse_checksum("sha256:https://h/v1/sha256sum-amd64.txt")
            .unwrap()
            .unwrap();
        assert_eq!(c.url.as_deref(), Some("https://h/v1/sha256sum-amd64.txt"));
        assert_eq!(parse_checksum("").unwrap(), None);
        assert!(
            parse_checksum("deadbeef")
                .unwrap_err()
                .contains("<algorithm>:<checksum>")
        );
        assert!(
            parse_checksum("sha256:xyz")
                .unwrap_err()
                .contains("checksum format is invalid")
        );
        assert!(
            parse_checksum("crc32:00")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_checksum("sha256:file:///etc/passwd").is_err());
        assert_eq!(url_filename("https://h/releases/v1.2/k3s?x=1#y"), "k3s");
        assert_eq!(url_filename("https://h/"), "index.html");
        assert_eq!(url_filename("https://h"), "index.html");
        assert!(check_url("ftp://h/x").is_err());
        assert!(check_url("-o/etc/passwd").is_err());
        assert!(check_url("http://127.0.0.1:8080/k3s").is_ok());
        assert_eq!(
            header_lines(Some(
                &serde_json::json!({"Authorization": "Bearer x", "X-N": 1})
            ))
            .unwrap()
            .unwrap(),
            "Authorization: Bearer x\nX-N: 1\n"
        );
        assert!(header_lines(Some(&serde_json::json!({"A": "x\r\nB: y"}))).is_err());
        assert!(header_lines(Some(&serde_json::json!({"A B": "x"}))).is_err());
    }
}
