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
}
