//! Log lines as k3s writes them (logrus's text format on stderr), so `journalctl -u k3s`
//! on a local host reads like it does on a real node.

use std::io::Write;

/// A logrus level.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

/// Writes `time="<RFC 3339>" level=<level> msg="<msg>"` (quotes escaped as logrus does).
pub fn log(level: Level, msg: &str) {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let msg = msg.replace('\\', "\\\\").replace('"', "\\\"");
    let line = format!("time=\"{stamp}\" level={} msg=\"{msg}\"\n", level.word());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// An info line.
pub fn info(msg: impl AsRef<str>) {
    log(Level::Info, msg.as_ref());
}

/// A warning line.
pub fn warn(msg: impl AsRef<str>) {
    log(Level::Warn, msg.as_ref());
}

/// An error line.
pub fn error(msg: impl AsRef<str>) {
    log(Level::Error, msg.as_ref());
}

/// A fatal line; the caller exits 1.
pub fn fatal(msg: impl AsRef<str>) {
    log(Level::Fatal, msg.as_ref());
}
