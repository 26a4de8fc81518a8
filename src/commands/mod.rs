//! One thin function per command: load config and state, call the library, print results.

mod completions;
mod doctor;
mod down;
mod init;
mod inventory;
mod kubeconfig;
mod local_cloud;
mod man;
mod plan;
mod play;
mod run;
mod status;
mod status_live;
mod up;

use std::path::Path;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::output::Printer;

/// Runs the parsed command line.
pub async fn execute(cli: Cli, printer: &Printer) -> Result<()> {
    let g = &cli.global;
    // Every command but `doctor` (which reports it) refuses a state directory others can
    // write, before reading a file in it or starting the local cloud there: a state file,
    // `local-cloud/` or a lock planted by another user would otherwise be used as ours.
    let load = || -> Result<Config> {
        let config = Config::load(&g.config, g.state_dir.as_deref())?;
        if config.state_dir.exists() {
            crate::fsutil::check_not_shared(&config.state_dir)?;
        }
        Ok(config)
    };
    let load_for_doctor = || Config::load(&g.config, g.state_dir.as_deref());
    match cli.command {
        Command::Init {
            cloud,
            cluster,
            force,
        } => init::run(&g.config, cloud, &cluster, force, printer),
        Command::Plan { phases } => plan::run(&load()?, &phases.into(), printer).await,
        Command::Up {
            phases,
            force_phase,
        } => up::run(&load()?, &phases.into(), &force_phase, printer).await,
        Command::Down { yes } => down::run(&load()?, yes, printer).await,
        Command::Status { offline } => status::run(&load()?, offline, printer).await,
        Command::Inventory {
            list,
            host,
            format,
            refresh,
        } => {
            let args = inventory::Args {
                list,
                host,
                format,
                refresh,
            };
            inventory::run(&load()?, &args, printer).await
        }
        Command::Kubeconfig { raw, merge, switch } => kubeconfig::run(
            &load()?,
            raw,
            merge.as_ref().map(Option::as_deref),
            switch,
            printer,
        ),
        Command::Run {
            limit,
            forget_host,
            timeout,
            command,
        } => {
            let args = run::RunArgs {
                limit,
                forget_host,
                timeout: timeout.map(std::time::Duration::from_secs),
                command,
            };
            run::run(&load()?, &args, printer).await
        }
        Command::Play {
            playbook,
            limit,
            extra_vars,
            check,
            diff,
            connection,
        } => {
            let args = play::PlayArgs {
                playbook,
                limit,
                extra_vars,
                check,
                diff,
                connection,
            };
            play::run(&args, load, printer).await
        }
        Command::LocalCloud {
            command: crate::cli::LocalCloudCommand::Serve(args),
        } => local_cloud::serve(&args, printer).await,
        Command::LocalCloud {
            command: crate::cli::LocalCloudCommand::Stop,
        } => local_cloud::stop(&load()?, printer),
        Command::Doctor => doctor::run(&load_for_doctor()?, printer).await,
        Command::Completions { shell } => completions::run(shell, printer),
        Command::Man { command } => man::run(&command, printer),
    }
}

impl From<crate::cli::PhaseFlags> for crate::phase::Selection {
    fn from(f: crate::cli::PhaseFlags) -> Self {
        crate::phase::Selection {
            only: f.only,
            from: f.from,
        }
    }
}

/// Loads state for reading (no lock): an empty state when there is none yet.
fn read_state(config: &Config) -> Result<crate::state::State> {
    Ok(crate::state::State::load(&config.state_dir)?
        .unwrap_or_else(|| crate::state::State::new(&config.cluster)))
}

/// Refuses to use a state directory that belongs to another cluster.
fn check_cluster(config: &Config, state: &crate::state::State, dir: &Path) -> Result<()> {
    if state.cluster != config.cluster {
        return Err(Error::Usage(format!(
            "{} holds the state of cluster {:?}, but the config names {:?}; use another --state-dir or fix `cluster`",
            dir.display(),
            state.cluster,
            config.cluster
        )));
    }
    Ok(())
}
