//! `platform completions SHELL`: the shell's completion script, generated from the clap
//! types so it always matches this binary.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;
use crate::output::Printer;

pub fn run(shell: clap_complete::Shell, printer: &Printer) -> Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "platform", &mut script);
    printer.data(&String::from_utf8_lossy(&script));
    Ok(())
}
