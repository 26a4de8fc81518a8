//! `sd_notify(READY=1)`: a datagram on the unix socket systemd (or the local hosts' service
//! manager) names in `NOTIFY_SOCKET`, sent when real k3s sends it.

use std::os::unix::net::UnixDatagram;

/// Sends `READY=1` when `NOTIFY_SOCKET` is set (a leading `@` names an abstract socket).
/// Returns whether a message was sent.
pub fn ready() -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(b"READY=1", &addr))
    } else {
        sock.send_to(b"READY=1", std::path::Path::new(&path))
    };
    sent.is_ok()
}
