//! The host's service manager: the units it has loaded (one actor each, loaded on first
//! reference as systemd does), `daemon-reload`, the units that start at boot, and the
//! control socket `systemctl` talks to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use super::service::{Cmd, Ctx, Snapshot, Svc};
use super::systemctl::{Request, Response};
use super::unit::{Load, Unit};
use super::unitfile::canonical;

/// The control socket, inside the host.
pub const SOCKET: &str = "/run/local-cloud/systemd.sock";
/// The targets whose wanted units start at boot.
const BOOT_TARGETS: &[&str] = &["multi-user.target", "graphical.target", "default.target"];

/// A unit as the manager holds it: the way to send it jobs (none for a unit that does not
/// exist) and its state.
#[derive(Debug, Clone)]
pub struct Handle {
    pub tx: Option<mpsc::UnboundedSender<Cmd>>,
    pub snap: watch::Receiver<Snapshot>,
}

impl Handle {
    /// The unit's state now.
    pub fn now(&self) -> Snapshot {
        self.snap.borrow().clone()
    }

    /// Sends a job; false if the unit cannot take jobs.
    pub fn send(&self, cmd: Cmd) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(cmd).is_ok())
    }
}

/// Every unit the manager knows, by name (aliases included).
#[derive(Debug)]
pub struct Manager {
    ctx: Ctx,
    units: Mutex<HashMap<String, Handle>>,
}

/// The host's name now (specifiers and journal lines use it).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Manager {
    pub fn new(ctx: Ctx) -> Arc<Manager> {
        Arc::new(Manager {
            ctx,
            units: Mutex::default(),
        })
    }

    fn units(&self) -> std::sync::MutexGuard<'_, HashMap<String, Handle>> {
        self.units.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Unit `name` (`.service` added if it has no type), loaded on first reference. A unit
    /// without a file is not kept: it is looked for again next time.
    pub fn unit(&self, name: &str) -> Handle {
        let name = canonical(name);
        if let Some(h) = self.units().get(&name) {
            return h.clone();
        }
        let unit = Unit::load(&name, &hostname());
        let id = unit.name.clone();
        let mut units = self.units();
        if let Some(h) = units.get(&id).cloned() {
            units.insert(name, h.clone());
            return h;
        }
        if unit.load == Load::NotFound {
            let (_, snap) = watch::channel(Snapshot::new(Arc::new(unit)));
            return Handle { tx: None, snap };
        }
        let (svc, tx, snap) = Svc::new(self.ctx.clone(), Arc::new(unit));
        tokio::spawn(svc.run());
        let h = Handle { tx: Some(tx), snap };
        units.insert(id.clone(), h.clone());
        if name != id {
            units.insert(name, h.clone());
        }
        h
    }

    /// Reads every loaded unit's files again; running processes keep running with the
    /// settings they started with, the new ones apply from the next start.
    pub fn daemon_reload(&self) {
        let host = hostname();
        let mut units = self.units();
        // Aliases are resolved afresh on the next reference.
        units.retain(|key, h| h.snap.borrow().unit.name == *key);
        for (name, h) in units.iter() {
            h.send(Cmd::Replace(Arc::new(Unit::load(name, &host))));
        }
    }

    /// The state of every loaded unit, by name.
    pub fn all(&self) -> Vec<Snapshot> {
        let mut v: Vec<Snapshot> = self
            .units()
            .iter()
            .filter(|(k, h)| h.snap.borrow().unit.name == **k)
            .map(|(_, h)| h.now())
            .collect();
        v.sort_by(|a, b| a.unit.name.cmp(&b.unit.name));
        v
    }

    /// Starts sshd (always: the cloud knows a host is up by its answer), then every unit
    /// the boot targets want, without waiting for them.
    pub fn boot(&self) {
        self.unit("ssh.service").send(Cmd::Start(None));
        let mut wanted = Vec::new();
        for dir in ["/etc/systemd/system", "/run/systemd/system"] {
            for target in BOOT_TARGETS {
                let wants = std::path::Path::new(dir).join(format!("{target}.wants"));
                for e in std::fs::read_dir(wants).into_iter().flatten().flatten() {
                    wanted.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        wanted.sort();
        wanted.dedup();
        for name in wanted.iter().filter(|n| n.ends_with(".service")) {
            let h = self.unit(name);
            if h.now().unit.name != "ssh.service" {
                h.send(Cmd::Start(None));
            }
        }
    }
}

/// Serves `systemctl` on [`SOCKET`]: one request (a JSON line with its arguments) and one
/// answer per connection, the caller's uid from the socket's peer credentials.
pub async fn serve(mgr: Arc<Manager>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = std::path::Path::new(SOCKET).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(SOCKET);
    let listener = UnixListener::bind(SOCKET)?;
    // Every user may ask; what needs root is refused by uid.
    std::fs::set_permissions(SOCKET, std::fs::Permissions::from_mode(0o666))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let mgr = mgr.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(&mgr, stream).await {
                super::log(&format!("systemctl connection: {e}"));
            }
        });
    }
}

async fn answer(mgr: &Manager, stream: UnixStream) -> std::io::Result<()> {
    let uid = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(1 << 20))
        .read_line(&mut line)
        .await?;
    let resp = match serde_json::from_str::<Request>(&line) {
        Ok(req) => super::verbs::run(mgr, &req.argv, uid).await,
        Err(e) => Response {
            out: String::new(),
            err: format!("systemctl: bad request: {e}\n"),
            code: 1,
        },
    };
    let mut text = serde_json::to_string(&resp).map_err(std::io::Error::other)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await
}
