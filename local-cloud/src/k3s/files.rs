//! The files a k3s server writes besides its certificates, in k3s's layout: `cred/passwd`
//! (the `server` and `node` users' passwords), `cred/ipsec.psk`, `server/token` with its
//! `node-token` and `agent-token` links, the admin kubeconfig, and the node password.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::log;
use super::pki::{ServerPki, write_private};
use super::settings::Settings;
use super::supervisor::Passwd;
use super::token::{Token, random_password};

/// `cred/passwd`: `password,user,user,group` lines; made once, kept across restarts.
pub fn passwd(s: &Settings, token: Option<&Token>) -> Result<Passwd, String> {
    let path = s.server_dir().join("cred").join("passwd");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let find = |user: &str| {
            text.lines()
                .find(|l| l.split(',').nth(1) == Some(user))
                .and_then(|l| l.split(',').next())
                .map(str::to_owned)
        };
        if let (Some(server), Some(node)) = (find("server"), find("node")) {
            if let Some(t) = token
                && t.password != server
            {
                return Err(
                    "bootstrap data already found and encrypted with different token".into(),
                );
            }
            return Ok(Passwd { server, node });
        }
    }
    let server = token
        .map(|t| t.password.clone())
        .unwrap_or_else(random_password);
    let node = match &s.agent_token {
        Some(a) => Token::parse(a)
            .map(|t| t.password)
            .map_err(|e| e.to_string())?,
        None => server.clone(),
    };
    let text = format!("{server},server,server,k3s:server\n{node},node,node,k3s:agent\n");
    write_private(&path, text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Passwd { server, node })
}

/// Writes `server/token`, the `node-token` link and `agent-token` as k3s lays them out.
pub fn token_files(s: &Settings, cacerts: &[u8], pw: &Passwd) -> Result<(), String> {
    let dir = s.server_dir();
    let token = format!("{}\n", Token::secure(cacerts, "server", &pw.server));
    write_private(&dir.join("token"), token.as_bytes()).map_err(|e| e.to_string())?;
    for (link, target) in [("node-token", "token"), ("agent-token", "token")] {
        let p = dir.join(link);
        let _ = std::fs::remove_file(&p);
        if link == "agent-token" && s.agent_token.is_some() {
            let t = format!("{}\n", Token::secure(cacerts, "node", &pw.node));
            write_private(&p, t.as_bytes()).map_err(|e| e.to_string())?;
        } else {
            std::os::unix::fs::symlink(dir.join(target), &p).map_err(|e| e.to_string())?;
        }
    }
    let ip = s
        .node_ips
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "127.0.0.1".into());
    for (role, file, var) in [
        ("server", "token", "SERVER_NODE_TOKEN"),
        ("agent", "agent-token", "AGENT_NODE_TOKEN"),
    ] {
        let path = dir.join(file);
        log::info(format!(
            "{}{} node token is available at {}",
            role[..1].to_ascii_uppercase(),
            &role[1..],
            path.display()
        ));
        log::info(format!(
            "To join {role} node to cluster: k3s {role} -s https://{ip}:{} -t ${{{var}}}",
            s.https_port
        ));
    }
    Ok(())
}

/// Writes the admin kubeconfig (`default` names, server on loopback) with its mode.
pub fn kubeconfig(s: &Settings, pki: &ServerPki) -> Result<(), String> {
    let host = match s.bind_address {
        Some(a) if !a.is_unspecified() => a.to_string(),
        _ => "127.0.0.1".into(),
    };
    let url = format!("https://{host}:{}", s.https_port);
    let text = kube_standin::pki::kubeconfig(&url, pki.server_ca.cert_pem(), &pki.admin);
    let path = &s.write_kubeconfig;
    write_private(path, text.as_bytes()).map_err(|e| e.to_string())?;
    if let Some(mode) = s.write_kubeconfig_mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
    }
    log::info(format!("Wrote kubeconfig {}", path.display()));
    log::info("Run: k3s kubectl");
    Ok(())
}

/// This node's password (`/etc/rancher/node/password`, made on first use).
pub fn node_password(path: &Path) -> Result<String, String> {
    if let Ok(p) = std::fs::read_to_string(path)
        && !p.trim().is_empty()
    {
        return Ok(p.trim().to_owned());
    }
    let pw = random_password();
    write_private(path, format!("{pw}\n").as_bytes()).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    }
    Ok(pw)
}

/// `cred/ipsec.psk`: a random key made once (k3s shares it with joining servers).
pub fn ipsec_psk(s: &Settings) -> Result<(), String> {
    let path = s.server_dir().join("cred").join("ipsec.psk");
    if path.exists() {
        return Ok(());
    }
    write_private(&path, format!("{}\n", random_password()).as_bytes()).map_err(|e| e.to_string())
}
