//! Command-line types (clap derive) and nothing else; commands convert them to library calls.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use crate::output::OutputFormat;
use crate::phase::Phase;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an operation failed (cloud, SSH, a phase); state records where it stopped
  2  bad usage or an invalid config; nothing was touched
  3  another platform command holds the state lock";

/// Provision a k3s platform on Azure end to end from one config file.
#[derive(Debug, Parser)]
#[command(name = "platform", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The config file.
    #[arg(
        short,
        long,
        global = true,
        env = "PLATFORM_CONFIG",
        default_value = "platform.yaml"
    )]
    pub config: PathBuf,
    /// The state directory (default: `state_dir` of the config, `.platform` beside it).
    #[arg(long, global = true, env = "PLATFORM_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output format of results on stdout.
    #[arg(short, long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// More detail on stderr (-v debug, -vv trace). Shows plain lines instead of spinners.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors and results.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl Global {
    /// -1 quiet, 0 normal, n verbose.
    pub fn verbosity(&self) -> i8 {
        if self.quiet {
            -1
        } else {
            self.verbose.min(3) as i8
        }
    }
}

/// Which phases a command covers.
#[derive(Debug, Args, Clone, Default)]
pub struct PhaseFlags {
    /// Run only this phase (repeatable).
    #[arg(long, value_enum, conflicts_with = "from")]
    pub only: Vec<Phase>,
    /// Run this phase and every phase after it.
    #[arg(long, value_enum)]
    pub from: Option<Phase>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented platform.yaml with every option and its default.
    Init {
        /// Which cloud the config targets.
        #[arg(long, value_enum, default_value = "azure")]
        cloud: InitCloud,
        /// The cluster name.
        #[arg(long, default_value = "demo")]
        cluster: String,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show what `up` would do, per phase and resource, without changing anything.
    Plan {
        #[command(flatten)]
        phases: PhaseFlags,
    },
    /// Create or converge the cluster: infra, inventory, nodes, gitops.
    Up {
        #[command(flatten)]
        phases: PhaseFlags,
        /// Run this phase even if its inputs are unchanged (repeatable).
        #[arg(long, value_enum)]
        force_phase: Vec<Phase>,
    },
    /// Delete everything this cluster created, in reverse order.
    Down {
        /// Do not ask for the cluster name as confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Phases from state (status, timings, input fingerprints) and live checks.
    Status {
        /// Only what state records; no cloud calls.
        #[arg(long)]
        offline: bool,
    },
    /// The cluster's hosts as an Ansible inventory (dynamic-inventory protocol).
    Inventory {
        /// All groups and hosts (`ansible-inventory` protocol).
        #[arg(long, conflicts_with = "host")]
        list: bool,
        /// The variables of one host.
        #[arg(long)]
        host: Option<String>,
        /// Format for humans; `--list`/`--host` always print JSON.
        #[arg(long, value_enum, default_value = "yaml")]
        format: InventoryFormat,
        /// Re-query the cloud instead of reading state.
        #[arg(long)]
        refresh: bool,
    },
    /// Print the path of the cluster's kubeconfig (the `nodes` phase writes it; its cluster,
    /// user and context are named after the cluster), or merge it into yours.
    Kubeconfig {
        /// Print the file's contents instead of its path. It holds the cluster's admin key,
        /// so it is never printed unless asked for, as with `kubectl config view --raw`.
        #[arg(long, conflicts_with = "merge")]
        raw: bool,
        /// Merge the cluster's entries into FILE (default: the first file of $KUBECONFIG,
        /// else ~/.kube/config): only the cluster, user and context named after the cluster
        /// are replaced, every other entry stays as it was; the old file is kept as
        /// FILE.platform-backup first, and the result is written atomically (mode 0600).
        #[arg(long, value_name = "FILE")]
        #[allow(
            clippy::option_option,
            reason = "clap's form for a flag with an optional value"
        )]
        merge: Option<Option<PathBuf>>,
        /// With --merge: make the cluster's context the current one. By default the current
        /// context is left as it was, so the next kubectl command goes where it went before
        /// (a file without a current context gets ours).
        #[arg(long, requires = "merge")]
        switch: bool,
    },
    /// Run a command on the cluster's nodes.
    Run {
        /// Hosts or groups to target (Ansible pattern).
        #[arg(long)]
        limit: Option<String>,
        /// Forget the recorded SSH host key of this host (inventory name or address) after
        /// it was really rebuilt (repeatable); the next connection records the new key.
        #[arg(long, value_name = "NAME")]
        forget_host: Vec<String>,
        /// Kill the command on a host after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
        /// The command and its arguments (joined with spaces and run by the host's shell, as
        /// ssh does).
        #[arg(last = true, required_unless_present = "forget_host")]
        command: Vec<String>,
    },
    /// Run a playbook (Ansible syntax subset) on the cluster's nodes.
    Play {
        /// The playbook file.
        playbook: PathBuf,
        /// Hosts or groups to target (Ansible pattern).
        #[arg(long)]
        limit: Option<String>,
        /// Extra variables, KEY=VALUE (repeatable).
        #[arg(short = 'e', long = "extra-vars")]
        extra_vars: Vec<String>,
        /// Report what would change without changing it.
        #[arg(long)]
        check: bool,
        /// Show file differences.
        #[arg(long)]
        diff: bool,
        /// How to reach the hosts: `local` runs the playbook on this machine as host
        /// `localhost` (like `ansible-playbook -i localhost, -c local`).
        #[arg(long, value_enum, default_value = "ssh")]
        connection: Connection,
    },
    /// The local ARM-compatible cloud.
    LocalCloud {
        #[command(subcommand)]
        command: LocalCloudCommand,
    },
    /// Check what the config's cloud kind needs on this machine; print each item found or
    /// missing, with the command that installs what is missing (exit 1 if a required one is).
    Doctor,
    /// Print a shell completion script to stdout.
    #[command(after_help = "Install, for example:\n  \
        platform completions bash > /etc/bash_completion.d/platform\n  \
        platform completions zsh > \"${fpath[1]}/_platform\"\n  \
        platform completions fish > ~/.config/fish/completions/platform.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `platform man | man -l -`; `platform man init`
    /// for the page of one command.
    Man {
        /// The command whose page to print (for example `init`, or `local-cloud serve`).
        command: Vec<String>,
    },
}

/// `platform play --connection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Connection {
    /// Over SSH to the cluster's inventory.
    Ssh,
    /// This machine, as the single host `localhost`.
    Local,
}

/// `platform init --cloud`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum InitCloud {
    Azure,
    Local,
}

/// `platform inventory --format`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum InventoryFormat {
    Yaml,
    Json,
    Ini,
}

/// `platform local-cloud ...`.
#[derive(Debug, Subcommand)]
pub enum LocalCloudCommand {
    /// Serve the local cloud over HTTPS on loopback until interrupted.
    Serve(LocalCloudServe),
    /// Stop the cluster's background local cloud (`up` starts it; `down` stops it when
    /// nothing is left). Its resources stay on disk for the next start.
    Stop,
}

/// `platform local-cloud serve` flags.
#[derive(Debug, Args)]
pub struct LocalCloudServe {
    /// Where resources, the CA and the certificate are kept.
    #[arg(long, default_value = ".platform/local-cloud")]
    pub data_dir: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one; the endpoint is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Azure-shaped latencies are multiplied by this (1.0 = Azure-like minutes).
    #[arg(long, default_value_t = 0.01)]
    pub time_factor: f64,
    /// Fraction of requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Fraction of requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Items per page of list calls.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Retry-After seconds on operations and throttled answers (default: 10 s scaled).
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// Seed for fault injection, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Make scale-set VMs real Linux hosts reachable over SSH (root, iproute2,
    /// openssh-server and sudo needed).
    #[arg(long)]
    pub hosts: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
