//! The `ulvs ctl` command line: ipvsadm's flags for what ulvs supports today.

use std::net::SocketAddrV4;

use clap::Parser;

use crate::flow::Protocol;

/// ipvsadm-compatible runtime control.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(name = "ulvs ctl", disable_help_flag = false, no_binary_name = true)]
pub struct CtlArgs {
    /// List the virtual server table (-L or -l).
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    pub list: bool,
    /// Numeric output (ulvs never resolves names; accepted for compatibility).
    #[arg(short = 'n', long = "numeric")]
    pub numeric: bool,
    /// Show the Conns/InPkts/OutPkts/InBytes/OutBytes columns.
    #[arg(long)]
    pub stats: bool,
    /// Expand numbers instead of scaling them to K/M/G.
    #[arg(long)]
    pub exact: bool,
    /// List connections instead of services.
    #[arg(short = 'c', long = "connection")]
    pub connection: bool,
    /// Show the connection timeouts (tcp tcpfin udp).
    #[arg(long)]
    pub timeout: bool,
    /// Only this TCP service (VIP:port).
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT")]
    pub tcp_service: Option<SocketAddrV4>,
    /// Only this UDP service (VIP:port).
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT")]
    pub udp_service: Option<SocketAddrV4>,
    /// `status`: workers, I/O mode, drop counters by reason.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// ipvsadm commands and options ulvs does not implement yet, with what they do, so that a user who
/// types one is told so plainly instead of getting a parse error.
const NOT_YET: &[(&str, &str, &str)] = &[
    ("-A", "--add-service", "add a virtual service"),
    ("-E", "--edit-service", "edit a virtual service"),
    ("-D", "--delete-service", "delete a virtual service"),
    ("-C", "--clear", "clear the table"),
    ("-R", "--restore", "restore rules"),
    ("-S", "--save", "save rules"),
    ("-a", "--add-server", "add a real server"),
    ("-e", "--edit-server", "edit a real server"),
    ("-d", "--delete-server", "delete a real server"),
    ("-Z", "--zero", "zero the counters"),
    ("--set", "--set", "set connection timeouts"),
    ("--rate", "--rate", "show rates"),
    ("-m", "--masquerading", "NAT forwarding"),
    ("-i", "--ipip", "tunnel forwarding"),
];

/// A clear refusal for an ipvsadm command or option ulvs does not support yet, if `args` holds one.
pub fn not_yet_supported(args: &[&str]) -> Option<String> {
    args.iter().find_map(|arg| {
        NOT_YET.iter().find(|(short, long, _)| arg == short || arg == long).map(|(short, long, what)| {
            format!(
                "{short}/{long} ({what}) is not supported by ulvs yet: change the configuration file and restart ulvs\n"
            )
        })
    })
}

impl CtlArgs {
    /// The service filter, if one was given.
    pub fn service_filter(&self) -> Option<(Protocol, SocketAddrV4)> {
        match (self.tcp_service, self.udp_service) {
            (Some(addr), _) => Some((Protocol::Tcp, addr)),
            (None, Some(addr)) => Some((Protocol::Udp, addr)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipvsadm_spellings() {
        let args = CtlArgs::try_parse_from(["-Ln", "--stats"]).unwrap();
        assert!(args.list && args.numeric && args.stats);
        let args = CtlArgs::try_parse_from(["-l", "-n", "-t", "10.0.0.100:80"]).unwrap();
        assert!(args.list);
        assert_eq!(args.service_filter(), Some((Protocol::Tcp, "10.0.0.100:80".parse().unwrap())));
        let args = CtlArgs::try_parse_from(["status"]).unwrap();
        assert_eq!(args.command.as_deref(), Some("status"));
        assert!(CtlArgs::try_parse_from(["-L", "-t", "10.0.0.300:80"]).is_err());
        assert!(CtlArgs::try_parse_from(["-A", "-t", "10.0.0.100:80"]).is_err());
    }

    #[test]
    fn unsupported_ipvsadm_commands_are_named() {
        let message = not_yet_supported(&["-A", "-t", "10.0.0.100:80", "-s", "rr"]).unwrap();
        assert!(message.starts_with("-A/--add-service (add a virtual service) is not supported"), "{message}");
        assert!(not_yet_supported(&["-L", "-n", "--rate"]).unwrap().contains("--rate"));
        assert_eq!(not_yet_supported(&["-L", "-n", "--stats"]), None);
    }
}
