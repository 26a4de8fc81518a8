//! `platform man [COMMAND...]`: the man page of `platform` or of one of its commands, as roff
//! on stdout (clap_mangen, from the clap types). A command rather than a build step because
//! `cargo install` installs binaries only: this way every installed binary carries its own
//! pages, and they always match it.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::output::Printer;

pub fn run(path: &[String], printer: &Printer) -> Result<()> {
    // Built once, so that subcommands carry their `platform-<name>` page names.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut page = &cmd;
    for name in path {
        page = page.find_subcommand(name).ok_or_else(|| {
            let known: Vec<&str> = page.get_subcommands().map(|c| c.get_name()).collect();
            Error::Usage(format!(
                "`{}` has no command {name:?}; its commands: {}",
                page.get_display_name().unwrap_or(page.get_name()),
                known.join(", ")
            ))
        })?;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page.clone())
        .source(format!("platform {}", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
        .map_err(|e| Error::Failed(format!("cannot render the man page: {e}")))?;
    printer.data(&String::from_utf8_lossy(&roff));
    Ok(())
}
