//! The `ulvs` command: `run` the director, `ctl` a running one, and the benchmark tools (`gen`,
//! `sink`, and the hidden baselines scripts/bench.sh uses).

mod daemon;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ulvs::control::ctl::{self, DEFAULT_CONTROL_PATH};

#[derive(Parser, Debug)]
#[command(name = "ulvs", version, about = "Userspace Linux Virtual Server: an LVS-DR director on AF_XDP / AF_PACKET")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the director.
    Run {
        /// The TOML configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Only validate the configuration (and the interface it names), then exit.
        #[arg(long)]
        check: bool,
    },
    /// Control a running director with ipvsadm's flags, e.g. `ulvs ctl -L -n --stats`.
    #[command(disable_help_flag = true)]
    Ctl {
        /// The daemon's control socket.
        #[arg(long, env = "ULVS_CONTROL", default_value = DEFAULT_CONTROL_PATH, value_name = "PATH")]
        control: PathBuf,
        /// ipvsadm-style arguments, passed to the daemon.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Generate benchmark traffic (TX only): UDP, TCP SYN or ACK, N flows, a fixed rate or full speed.
    Gen(tools::gen::GenArgs),
    /// Receive benchmark traffic: received pps, loss from sequence numbers, one-way latency.
    Sink(tools::sink::SinkArgs),
    /// Baseline for scripts/bench.sh: MAC-rewrite forwarder on ulvs's ports, no LB logic.
    #[command(hide = true)]
    BenchBare(tools::bare::BareArgs),
    /// Baseline for scripts/bench.sh: in-kernel MAC rewrite with XDP_TX.
    #[command(hide = true)]
    BenchXdpTx(tools::xdp_tx::XdpTxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. } | Command::Ctl { .. }) {
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    }
    match cli.command {
        Command::Gen(args) => exit_code(tools::gen::run(&args)),
        Command::Sink(args) => exit_code(tools::sink::run(&args)),
        Command::BenchBare(args) => exit_code(tools::bare::run(&args)),
        Command::BenchXdpTx(args) => exit_code(tools::xdp_tx::run(&args)),
        Command::Run { config, check } => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
            match daemon::run(&config, check) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("ulvs: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Ctl { control, args } => {
            let args = if args.is_empty() { vec!["--help".to_string()] } else { args };
            match ctl::client::request(&control, &args) {
                Ok(reply) if reply.ok => {
                    print!("{}", reply.text);
                    ExitCode::SUCCESS
                }
                Ok(reply) => {
                    eprint!("{}", reply.text);
                    ExitCode::from(2)
                }
                Err(err) => {
                    eprintln!("ulvs ctl: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ulvs: {err:#}");
            ExitCode::FAILURE
        }
    }
}
