//! `tracing` to stderr, routed around the progress spinners so lines do not tear them.

use indicatif::MultiProgress;
use std::io::Write;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber: warnings by default, `-v` info+debug for platform,
/// `-vv` trace; `RUST_LOG` overrides. Safe to call more than once (later calls are no-ops).
pub fn init_tracing(verbosity: i8, multi: Option<MultiProgress>) {
    let default = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn",
        1 => "warn,platform=debug",
        _ => "debug,platform=trace",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let color = multi.is_some() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr { multi })
        .with_ansi(color)
        .with_target(verbosity > 1)
        .try_init();
}

#[derive(Clone)]
struct Stderr {
    multi: Option<MultiProgress>,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.multi {
            Some(m) => m.suspend(|| std::io::stderr().lock().write_all(buf))?,
            None => std::io::stderr().lock().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
