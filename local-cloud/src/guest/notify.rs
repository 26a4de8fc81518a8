//! `sd_notify` for the hosts' services: a datagram socket per unit, given to its
//! processes as `NOTIFY_SOCKET`, that receives `READY=1`, `STATUS=...` and the like with
//! the sender's credentials (`SO_PASSCRED`), so `NotifyAccess=main` can be enforced as
//! systemd does. One socket per unit tells which unit a message is for without looking
//! the sender up (it may be gone by then); systemd uses one socket and the cgroup.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// Where the per-unit notify sockets are, inside the host.
pub const NOTIFY_DIR: &str = "/run/local-cloud/notify";

/// One unit's notify socket.
#[derive(Debug)]
pub struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

/// A message and the pid that sent it (as the kernel vouches for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub pid: Option<u32>,
    pub fields: Vec<(String, String)>,
}

impl NotifySocket {
    /// Binds the socket of `unit` (replacing a stale one), writable by every user, since a
    /// service may run as any of them.
    pub fn bind(unit: &str) -> std::io::Result<NotifySocket> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(NOTIFY_DIR)?;
        let path = Path::new(NOTIFY_DIR).join(unit);
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path)?;
        rustix::net::sockopt::set_socket_passcred(&sock, true)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
        Ok(NotifySocket { sock, path })
    }

    /// The path to give as `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next message.
    pub async fn recv(&self) -> std::io::Result<Message> {
        loop {
            self.sock.readable().await?;
            let got = self.sock.try_io(Interest::READABLE, || {
                let mut buf = [0u8; 4096];
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
                let mut control = RecvAncillaryBuffer::new(&mut space);
                let mut iov = [IoSliceMut::new(&mut buf)];
                let msg =
                    rustix::net::recvmsg(&self.sock, &mut iov, &mut control, RecvFlags::empty())?;
                let mut pid = None;
                for m in control.drain() {
                    if let RecvAncillaryMessage::ScmCredentials(c) = m {
                        pid = Some(c.pid.as_raw_nonzero().get().unsigned_abs());
                    }
                }
                Ok(Message {
                    pid,
                    fields: fields(&String::from_utf8_lossy(&buf[..msg.bytes])),
                })
            });
            match got {
                Ok(m) => return Ok(m),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `KEY=VALUE` lines of a notification.
fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_key_value_lines() {
        assert_eq!(
            fields("READY=1\nSTATUS=up and running\nbogus\n"),
            [
                ("READY".to_string(), "1".to_string()),
                ("STATUS".to_string(), "up and running".to_string())
            ]
        );
    }
}
