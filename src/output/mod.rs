//! The one place that writes to the terminal: data to stdout, logs and progress to stderr.
//!
//! Workers never print; they return results or log with `tracing`. The [`Printer`] decides
//! between indicatif spinners (stderr is a TTY) and plain timestamped lines (CI, pipes, `-v`),
//! honours `NO_COLOR`, and renders `--output json` for every command.

mod logging;
pub mod progress;
mod style;
pub mod table;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use logging::init_tracing;
pub use progress::{Monitor, Progress, StepHandle};
pub use style::Style;

/// How results are written to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text and tables.
    Text,
    /// One JSON document per command, for scripts.
    Json,
}

/// Owns stdout, stderr and the progress draw target.
#[derive(Clone, Debug)]
pub struct Printer {
    format: OutputFormat,
    /// -1 quiet, 0 normal, 1+ verbose.
    verbosity: i8,
    style: Style,
    /// Spinners are drawn only on a TTY, in text mode, and when not verbose.
    multi: Option<MultiProgress>,
    /// Set once anything went to stdout, so a failed command adds no second JSON document.
    wrote_data: Arc<AtomicBool>,
}

impl Printer {
    /// A printer for the given format and verbosity (`-q` = -1, `-v` = 1, `-vv` = 2).
    pub fn new(format: OutputFormat, verbosity: i8) -> Printer {
        let tty = std::io::stderr().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let multi = (tty && verbosity == 0)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Printer {
            format,
            verbosity,
            style: Style { color },
            multi,
            wrote_data: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The output format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Text styling (plain when colour is off).
    pub fn style(&self) -> Style {
        self.style
    }

    /// The progress target, for routing log lines around spinners.
    pub fn multi(&self) -> Option<&MultiProgress> {
        self.multi.as_ref()
    }

    /// Whether anything was written to stdout yet.
    pub fn wrote_data(&self) -> bool {
        self.wrote_data.load(Ordering::Relaxed)
    }

    /// Writes data (a table, a listing) to stdout.
    pub fn data(&self, text: &str) {
        self.wrote_data.store(true, Ordering::Relaxed);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Writes a JSON document to stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        self.data(&text);
    }

    fn line(&self, text: &str) {
        let plain = self.multi.is_none();
        let line = if plain && !std::io::stderr().is_terminal() {
            format!("{} {text}", crate::clock::timestamp())
        } else {
            text.to_owned()
        };
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }

    /// A progress message on stderr (hidden with `-q`).
    pub fn info(&self, text: &str) {
        if self.verbosity >= 0 {
            self.line(text);
        }
    }

    /// A warning on stderr (always shown).
    pub fn warn(&self, text: &str) {
        self.line(&format!("{} {text}", self.style.yellow("warning:")));
    }

    /// An error on stderr (always shown).
    pub fn error(&self, text: &str) {
        self.line(&format!("{} {text}", self.style.red("error:")));
    }

    /// A `hint:` line on stderr.
    pub fn hint(&self, text: &str) {
        self.line(&format!("{} {text}", self.style.bold("hint:")));
    }

    /// Asks `question` on the terminal and returns the line typed (without its newline).
    /// Refuses (`None`) when stdin is not a terminal: nothing may hang waiting for input.
    pub fn prompt(&self, question: &str) -> Option<std::io::Result<String>> {
        use std::io::BufRead;
        if !std::io::stdin().is_terminal() {
            return None;
        }
        let ask = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(question.as_bytes());
            let _ = err.flush();
        };
        match &self.multi {
            Some(m) => m.suspend(ask),
            None => ask(),
        }
        let mut line = String::new();
        Some(
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map(|_| line.trim_end_matches(['\n', '\r']).to_owned()),
        )
    }

    /// Starts a step: a spinner on a TTY, a plain "name: started" line otherwise.
    pub(in crate::output) fn step(&self, name: &str, message: &str) -> Step {
        let bar = self.multi.as_ref().map(|m| {
            let pb = m.add(ProgressBar::new_spinner());
            pb.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_prefix(name.to_owned());
            pb.set_message(message.to_owned());
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        });
        if bar.is_none() {
            self.info(&format!("{name}: {message}"));
        }
        Step {
            printer: self.clone(),
            name: name.to_owned(),
            bar,
            started: Instant::now(),
        }
    }
}

/// A running step shown by the [`Printer`].
#[derive(Debug)]
pub struct Step {
    printer: Printer,
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Step {
    /// Updates the step's message.
    pub fn message(&self, text: &str) {
        match &self.bar {
            Some(b) => b.set_message(text.to_owned()),
            None => self.printer.info(&format!("{}: {text}", self.name)),
        }
    }

    /// Ends the step with a success line.
    pub fn done(self, text: &str) {
        let elapsed = format_duration(self.started.elapsed());
        let s = self.printer.style;
        let line = format!(
            "{} {} {text} ({elapsed})",
            s.green("ok"),
            s.bold(&self.name)
        );
        self.end(&line);
    }

    /// Ends the step with a failure line.
    pub fn failed(self, text: &str) {
        let s = self.printer.style;
        let line = format!("{} {} {text}", s.red("failed"), s.bold(&self.name));
        self.end(&line);
    }

    fn end(self, line: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.printer.info(line);
    }
}

/// `1h 2m`, `3m 4s`, `5.6s`, `78ms`: short durations for humans.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {}s", s / 60, s % 60)
    } else if d.as_millis() >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(78)), "78ms");
        assert_eq!(format_duration(Duration::from_millis(5600)), "5.6s");
        assert_eq!(format_duration(Duration::from_secs(184)), "3m 4s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h 2m");
    }
}
