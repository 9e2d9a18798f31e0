//! The `ulvs` command: `run` the director, `ctl` a running one, `import-keepalived` a keepalived.conf,
//! and the benchmark tools (`gen`, `sink`, and the hidden baselines scripts/bench.sh uses).

mod daemon;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use ulvs::control::ctl::{self, DEFAULT_CONTROL_PATH};
use ulvs::control::import::Outcome;

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
        /// Log level: off, error, warn, info (default), debug or trace. Without it, RUST_LOG
        /// decides (module directives such as `ulvs::health=debug` work there too).
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<log::LevelFilter>,
    },
    /// Convert a keepalived.conf (virtual_server, vrrp_instance) into ulvs TOML, printed on stdout.
    /// What cannot be expressed is left out, listed on stderr with its line and marked in the
    /// output. Exit status: 0 all converted, 1 converted with omissions, 2 nothing usable.
    ImportKeepalived {
        /// The keepalived configuration file.
        #[arg(value_name = "KEEPALIVED_CONF")]
        file: PathBuf,
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
    /// Baseline for scripts/bench.sh: a plain MAC-rewrite forwarder on xsk-rs or AF_PACKET, none
    /// of ulvs's data-path code (the I/O ceiling).
    #[command(hide = true)]
    BenchL2fwd(tools::l2fwd::L2fwdArgs),
    /// Baseline for scripts/bench.sh: the same MAC rewrite on ulvs's own ports, no pipeline.
    #[command(hide = true)]
    BenchPort(tools::port::PortArgs),
    /// Baseline for scripts/bench.sh: in-kernel MAC rewrite with XDP_TX.
    #[command(hide = true)]
    BenchXdpTx(tools::xdp_tx::XdpTxArgs),
}

fn main() -> ExitCode {
    // `ulvs help ctl` and `ulvs ctl` shown by clap list ipvsadm's options too, not only --control.
    let ctl_help = <ctl::args::CtlArgs as CommandFactory>::command().render_help().to_string();
    let matches = Cli::command().mut_subcommand("ctl", |ctl| ctl.after_help(ctl_help)).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if !matches!(cli.command, Command::Run { .. } | Command::Ctl { .. }) {
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    }
    match cli.command {
        Command::Gen(args) => exit_code(tools::gen::run(&args)),
        Command::Sink(args) => exit_code(tools::sink::run(&args)),
        Command::BenchL2fwd(args) => exit_code(tools::l2fwd::run(&args)),
        Command::BenchPort(args) => exit_code(tools::port::run(&args)),
        Command::BenchXdpTx(args) => exit_code(tools::xdp_tx::run(&args)),
        Command::Run { config, check, log_level } => {
            init_logging(log_level);
            exit_code(daemon::run(&config, check))
        }
        Command::ImportKeepalived { file } => {
            let imported = ulvs::control::import::import_keepalived(&file);
            if let Some(text) = &imported.toml {
                print!("{text}");
            }
            for problem in &imported.left_out {
                eprintln!("{problem}");
            }
            let outcome = imported.outcome();
            match outcome {
                Outcome::Complete => {}
                Outcome::WithOmissions => eprintln!(
                    "ulvs import-keepalived: converted, with {} part(s) left out (marked `# left out:` in the output)",
                    imported.left_out.len()
                ),
                Outcome::Nothing => eprintln!("ulvs import-keepalived: nothing usable converted"),
            }
            ExitCode::from(outcome.exit_status())
        }
        Command::Ctl { control, args } => ctl_main(&control, args),
    }
}

/// `ulvs ctl`: help and usage errors are answered here (no daemon needed), the rest by the daemon.
/// Exit status: 0 done, 1 the daemon could not be reached, 2 refused (by the command line or the daemon).
fn ctl_main(control: &std::path::Path, args: Vec<String>) -> ExitCode {
    let args = if args.is_empty() { vec!["--help".to_string()] } else { args };
    match ctl::client::answer_locally(&args) {
        Some(ctl::client::LocalAnswer::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Some(ctl::client::LocalAnswer::Usage(text)) => {
            eprint!("ulvs ctl: {text}");
            return ExitCode::from(2);
        }
        None => {}
    }
    // Parsed here only to know whether to send standard input along; the daemon parses again.
    let restore = ctl::args::CtlArgs::try_parse_from(&args).is_ok_and(|parsed| parsed.restore);
    let input = if restore {
        let mut text = String::new();
        if let Err(err) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            eprintln!("ulvs ctl: reading the rules from standard input: {err}");
            return ExitCode::FAILURE;
        }
        Some(text)
    } else {
        None
    };
    match ctl::client::request(control, &args, input.as_deref()) {
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

/// Logs go to stderr, one line each: a UTC timestamp (ms), the level, the module, the message. The
/// data path never logs; control, health and HA log what changed, at info, and trouble at warn or
/// error.
fn init_logging(level: Option<log::LevelFilter>) {
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(level) = level {
        builder.filter_level(level);
    }
    builder.format_timestamp_millis().init();
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
