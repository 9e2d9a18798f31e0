//! ipvsadm's listing layouts, column for column, so scripts that parse `ipvsadm -Ln` keep working.
//!
//! Pure: takes rows, returns text. Addresses are always numeric (ulvs does no name lookups; `-n` is
//! accepted and changes nothing). Services sort by protocol, address, port and real servers by
//! address, port, as ipvsadm sorts them. `-S` output ([`render_rules`]) is the command syntax
//! `ulvs ctl -R` reads back.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::conntrack::ConnState;
use crate::flow::{AnyFlowKey, Protocol};
use crate::service::ServiceKey;

/// Traffic counters as ipvsadm shows them. In direct routing the director never sees replies, so
/// the Out columns are 0, as in IPVS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealRow {
    pub ip: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub active: u64,
    pub inactive: u64,
    pub totals: Totals,
    /// Per second, for `--rate` (conns = CPS, packets = PPS, bytes = BPS).
    pub rates: Totals,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRow {
    pub key: ServiceKey,
    pub scheduler: String,
    pub persistence: Option<Duration>,
    /// ipvsadm's `-b` text (e.g. "sh-port"), if any.
    pub flags: Option<String>,
    pub totals: Totals,
    /// Per second, for `--rate`.
    pub rates: Totals,
    pub reals: Vec<RealRow>,
}

/// Which of ipvsadm's list layouts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    #[default]
    Plain,
    Stats,
    Rate,
}

/// `ipvsadm -L -n [--stats|--rate] [--exact]`. `table_size` is `None` when listing one service
/// (`-t|-u`), where ipvsadm leaves out its version line.
pub fn render(rows: &[ServiceRow], layout: Layout, exact: bool, table_size: Option<usize>) -> String {
    let mut out = String::new();
    if let Some(table_size) = table_size {
        let _ = writeln!(out, "IP Virtual Server version 1.2.1 (size={table_size})");
    }
    header(&mut out, layout);
    let mut rows: Vec<&ServiceRow> = rows.iter().collect();
    rows.sort_by_key(|row| (row.key.protocol, row.key.vip, row.key.port));
    for row in rows {
        // ipvsadm's forms: IPv6 addresses bracketed (`[2001:db8::100]:80`), as SocketAddr prints them.
        let name = format!("{}  {}", row.key.protocol, SocketAddr::new(row.key.vip, row.key.port));
        match layout {
            Layout::Plain => {
                let _ = write!(out, "{name} {}", row.scheduler);
                if let Some(flags) = &row.flags {
                    let _ = write!(out, " ({flags})");
                }
                if let Some(timeout) = row.persistence {
                    let _ = write!(out, " persistent {}", timeout.as_secs());
                }
                out.push('\n');
            }
            Layout::Stats => {
                let _ = write!(out, "{name:<33}");
                totals(&mut out, &row.totals, exact);
                out.push('\n');
            }
            Layout::Rate => {
                let _ = write!(out, "{name:<33}");
                totals(&mut out, &row.rates, exact);
                out.push('\n');
            }
        }
        let mut reals: Vec<&RealRow> = row.reals.iter().collect();
        reals.sort_by_key(|real| (real.ip, real.port));
        for real in reals {
            real_line(&mut out, real, layout, exact);
        }
    }
    out
}

/// The column headings of `layout`.
fn header(out: &mut String, layout: Layout) {
    match layout {
        Layout::Plain => {
            out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
            out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
        }
        Layout::Stats => {
            let _ = writeln!(
                out,
                "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
            );
            out.push_str("  -> RemoteAddress:Port\n");
        }
        Layout::Rate => {
            let _ = writeln!(
                out,
                "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
            );
            out.push_str("  -> RemoteAddress:Port\n");
        }
    }
}

/// One real server's line.
fn real_line(out: &mut String, real: &RealRow, layout: Layout, exact: bool) {
    let dest = SocketAddr::new(real.ip, real.port).to_string();
    match layout {
        Layout::Plain => {
            let _ = writeln!(
                out,
                "  -> {dest:<28} {:<7} {:<6} {:<10} {:<10}",
                "Route", real.weight, real.active, real.inactive
            );
        }
        Layout::Stats => {
            let _ = write!(out, "  -> {dest:<28}");
            totals(out, &real.totals, exact);
            out.push('\n');
        }
        Layout::Rate => {
            // ipvsadm prints a real server's CPS and PPS unscaled, only its BPS scaled.
            let r = &real.rates;
            let _ = write!(out, "  -> {dest:<28} {:>8} {:>8} {:>8}", r.conns, r.in_packets, r.out_packets);
            large_number(out, r.in_bytes, exact);
            large_number(out, r.out_bytes, exact);
            out.push('\n');
        }
    }
}

/// `ipvsadm -S -n`: the table as the commands that rebuild it.
pub fn render_rules(rows: &[ServiceRow]) -> String {
    let mut out = String::new();
    let mut rows: Vec<&ServiceRow> = rows.iter().collect();
    rows.sort_by_key(|row| (row.key.protocol, row.key.vip, row.key.port));
    for row in rows {
        // ipvsadm -S brackets IPv6 (`-t [2001:db8::100]:80`), as SocketAddr prints it; -R reads it back.
        let service = format!(
            "{} {}",
            match row.key.protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
            },
            SocketAddr::new(row.key.vip, row.key.port)
        );
        let _ = write!(out, "-A {service} -s {}", row.scheduler);
        if let Some(flags) = &row.flags {
            let _ = write!(out, " -b {flags}");
        }
        if let Some(timeout) = row.persistence {
            let _ = write!(out, " -p {}", timeout.as_secs());
        }
        out.push('\n');
        let mut reals: Vec<&RealRow> = row.reals.iter().collect();
        reals.sort_by_key(|real| (real.ip, real.port));
        for real in reals {
            let _ = writeln!(out, "-a {service} -r {} -g -w {}", SocketAddr::new(real.ip, real.port), real.weight);
        }
    }
    out
}

fn totals(out: &mut String, totals: &Totals, exact: bool) {
    for value in [totals.conns, totals.in_packets, totals.out_packets, totals.in_bytes, totals.out_bytes] {
        large_number(out, value, exact);
    }
}

/// ipvsadm's number column: 9 wide, scaled to K/M/G/T past 100 million unless `--exact`.
fn large_number(out: &mut String, value: u64, exact: bool) {
    let _ = if exact {
        let width = value.to_string().len().max(8) + 1;
        write!(out, "{value:>width$}")
    } else if value < 100_000_000 {
        write!(out, "{value:>9}")
    } else if value < 1_000_000_000 {
        write!(out, "{:>8}K", value / 1_000)
    } else if value < 100_000_000_000 {
        write!(out, "{:>8}M", value / 1_000_000)
    } else if value < 100_000_000_000_000 {
        write!(out, "{:>8}G", value / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", value / 1_000_000_000_000)
    };
}

/// A connection row with the real server it goes to, for `-L -c`.
#[derive(Clone, Copy, Debug)]
pub struct ConnRow {
    pub key: AnyFlowKey,
    pub state: ConnState,
    pub expires_in: Duration,
    pub real: (IpAddr, u16),
}

/// `ipvsadm -L -n -c`.
pub fn render_connections(rows: &[ConnRow]) -> String {
    let mut out = String::from("IPVS connection entries\n");
    let _ = writeln!(out, "pro expire {:<11} {:<18} {:<18} destination", "state", "source", "virtual");
    for row in rows {
        let key = row.key;
        let secs = row.expires_in.as_secs();
        let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
        let protocol = match key.protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        };
        let _ = writeln!(
            out,
            "{protocol:<3} {expire:<6} {:<11} {:<18} {:<18} {}",
            row.state.name(),
            SocketAddr::new(key.client, key.client_port).to_string(),
            SocketAddr::new(key.vip, key.vport).to_string(),
            SocketAddr::new(row.real.0, row.real.1)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn rows() -> Vec<ServiceRow> {
        let real = |last: u8, weight: u32, active: u64, inactive: u64, totals: Totals| RealRow {
            ip: Ipv4Addr::new(192, 168, 168, last).into(),
            port: 80,
            weight,
            active,
            inactive,
            totals,
            rates: Totals { conns: u64::from(last) * 1000, in_packets: 7, in_bytes: 123_456_789, ..Totals::default() },
        };
        vec![
            ServiceRow {
                key: ServiceKey { protocol: Protocol::Udp, vip: Ipv4Addr::new(192, 168, 168, 100).into(), port: 53 },
                scheduler: "rr".into(),
                persistence: None,
                flags: None,
                totals: Totals::default(),
                rates: Totals::default(),
                reals: vec![],
            },
            ServiceRow {
                key: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(192, 168, 168, 100).into(), port: 80 },
                scheduler: "wrr".into(),
                persistence: Some(Duration::from_secs(300)),
                flags: None,
                totals: Totals { conns: 8, in_packets: 132, out_packets: 0, in_bytes: 34840, out_bytes: 0 },
                rates: Totals { conns: 12, in_packets: 340, in_bytes: 56_000, ..Totals::default() },
                reals: vec![
                    real(11, 1, 0, 1, Totals { conns: 4, in_packets: 42, in_bytes: 10364, ..Totals::default() }),
                    real(10, 3, 2, 0, Totals { conns: 4, in_packets: 90, in_bytes: 24476, ..Totals::default() }),
                ],
            },
        ]
    }

    #[test]
    fn plain_listing_matches_ipvsadm_byte_for_byte() {
        let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.168.100:80 wrr persistent 300
  -> 192.168.168.10:80            Route   3      2          0         
  -> 192.168.168.11:80            Route   1      0          1         
UDP  192.168.168.100:53 rr
";
        assert_eq!(render(&rows(), Layout::Plain, false, Some(4096)), expected);
    }

    #[test]
    fn stats_listing_matches_ipvsadm_byte_for_byte() {
        let expected = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.168.100:80                  8      132        0    34840        0
  -> 192.168.168.10:80                   4       90        0    24476        0
  -> 192.168.168.11:80                   4       42        0    10364        0
UDP  192.168.168.100:53                  0        0        0        0        0
";
        assert_eq!(render(&rows(), Layout::Stats, false, Some(4096)), expected);
    }

    #[test]
    fn rate_listing_matches_ipvsadm_byte_for_byte() {
        let expected = "\
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  192.168.168.100:80                 12      340        0    56000        0
  -> 192.168.168.10:80               10000        7        0  123456K        0
  -> 192.168.168.11:80               11000        7        0  123456K        0
UDP  192.168.168.100:53                  0        0        0        0        0
";
        assert_eq!(render(&rows(), Layout::Rate, false, None), expected);
    }

    #[test]
    fn rules_are_ipvsadm_save_syntax() {
        let mut rows = rows();
        rows[0].flags = None;
        rows[1].flags = Some("sh-port".into());
        let expected = "\
-A -t 192.168.168.100:80 -s wrr -b sh-port -p 300
-a -t 192.168.168.100:80 -r 192.168.168.10:80 -g -w 3
-a -t 192.168.168.100:80 -r 192.168.168.11:80 -g -w 1
-A -u 192.168.168.100:53 -s rr
";
        assert_eq!(render_rules(&rows), expected);
    }

    #[test]
    fn ipv6_rules_are_bracketed_as_ipvsadm_saves_them() {
        let mut rows = rows();
        rows.remove(0);
        rows[0].key.vip = "2001:db8::100".parse().unwrap();
        rows[0].reals[0].ip = "2001:db8::11".parse().unwrap();
        rows[0].reals[1].ip = "2001:db8::10".parse().unwrap();
        let expected = "\
-A -t [2001:db8::100]:80 -s wrr -p 300
-a -t [2001:db8::100]:80 -r [2001:db8::10]:80 -g -w 3
-a -t [2001:db8::100]:80 -r [2001:db8::11]:80 -g -w 1
";
        let text = render_rules(&rows);
        assert_eq!(text, expected);
        // And -R reads every line of it back.
        assert_eq!(super::super::rules::parse(&text).map(|edits| edits.len()), Ok(3));
    }

    #[test]
    fn large_numbers_scale_unless_exact() {
        let mut out = String::new();
        large_number(&mut out, 1_030_000_000, false);
        large_number(&mut out, 863_494_000, false);
        assert_eq!(out, "    1030M  863494K");
        out.clear();
        large_number(&mut out, 1_030_000_123, true);
        assert_eq!(out, " 1030000123");
    }
}
