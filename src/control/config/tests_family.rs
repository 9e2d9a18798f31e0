//! Address families: IPv6 services beside IPv4 ones, and every family mistake refused at its line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::*;
use crate::control::runtime;

const FILE: &str = "family.toml";
const HEAD: &str = "[director]\ninterface = \"eth0\"\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE))
}

fn v6(text: &str) -> IpAddr {
    text.parse::<Ipv6Addr>().unwrap().into()
}

/// An IPv4 service on lines 3 to 7 and an IPv6 one on lines 8 to 14, with a sorry server and a check.
const DUAL: &str = "[director]\ninterface = \"eth0\"\n\
    [[service]]\nvip = \"10.0.0.100\"\nport = 80\n[[service.real]]\nip = \"10.0.0.11\"\n\
    [[service]]\nvip = \"2001:db8::100\"\nport = 80\nsorry_server = \"2001:db8::13\"\n\
    check = { type = \"tcp\", bindto = \"2001:db8::2\" }\n[[service.real]]\nip = \"2001:DB8:0::11\"\n";

#[test]
fn ipv4_and_ipv6_services_share_a_file() {
    let config = parse(DUAL).unwrap();
    let [v4_service, v6_service] = &config.services[..] else { panic!("two services: {config:?}") };
    assert_eq!(v4_service.vip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100)));
    assert_eq!(v6_service.vip, v6("2001:db8::100"));
    assert_eq!(v6_service.reals[0].ip, v6("2001:db8::11"), "any spelling of the address");
    assert_eq!(v6_service.sorry_server, Some(v6("2001:db8::13")));
    assert_eq!(v6_service.reals[0].check.as_ref().and_then(|check| check.bindto), Some(v6("2001:db8::2")));
    // The model reaches the runtime whole: both services in the registry's specs.
    let specs = runtime::service_specs(&config);
    assert_eq!(specs.iter().map(|spec| spec.key.vip).collect::<Vec<_>>(), [v4_service.vip, v6_service.vip]);

    // Each address is checked against the interface's subnets of its own family.
    let subnets = [(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 24), (v6("fe80::2"), 64), (v6("2001:db8::2"), 64)];
    config.check_interface(Path::new(FILE), &subnets).unwrap();
    let err = config.check_interface(Path::new(FILE), &subnets[..2]).unwrap_err();
    assert_eq!(err.location(), Some(Location { line: 9, column: 7 }), "{err}");
    assert!(
        err.reason().contains("VIP 2001:db8::100 is not in any IPv6 subnet of interface eth0 (fe80::/64)"),
        "{err}"
    );
    let err = config.check_interface(Path::new(FILE), &subnets[..1]).unwrap_err();
    assert!(err.reason().contains("has no IPv6 address"), "{err}");
}

#[test]
fn family_mistakes_name_the_line_and_the_reason() {
    let service = |vip: &str, rest: &str| format!("{HEAD}[[service]]\nvip = \"{vip}\"\nport = 80\n{rest}");
    let real = |vip: &str, ip: &str| service(vip, &format!("[[service.real]]\nip = \"{ip}\"\n"));
    let check = |real_ip: &str, check: &str| {
        service("2001:db8::100", &format!("[[service.real]]\nip = \"{real_ip}\"\ncheck = {check}\n"))
    };
    let vrrp = |vips: &str| {
        format!(
            "{HEAD}[[service]]\nvip = \"10.0.0.100\"\nport = 80\n[[service]]\nvip = \"2001:db8::100\"\nport = 80\n\
             [[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = {vips}\n"
        )
    };
    let cases: Vec<(String, usize, &str)> = vec![
        // A service and its real servers share one family.
        (real("2001:db8::100", "10.0.0.11"), 7, "real server 10.0.0.11 is an IPv4 address but the service's VIP 2001:db8::100 is IPv6"),
        (real("10.0.0.100", "2001:db8::11"), 7, "real server 2001:db8::11 is an IPv6 address but the service's VIP 10.0.0.100 is IPv4"),
        (service("2001:db8::100", "sorry_server = \"10.0.0.13\"\n"), 6, "sorry server 10.0.0.13 is an IPv4 address"),
        // An IPv4 address written as IPv6.
        (service("::ffff:10.0.0.100", ""), 4, "an IPv4-mapped IPv6 address (write the IPv4 address as it is)"),
        (real("10.0.0.100", "::ffff:10.0.0.11"), 7, "IPv4-mapped"),
        // Addresses that are no VIP and no real server in IPv6 either.
        (service("fe80::100", ""), 4, "VIP fe80::100 is a link-local address"),
        (service("ff02::12", ""), 4, "VIP ff02::12 is a multicast address"),
        (service("::", ""), 4, "VIP :: is the unspecified address"),
        (real("2001:db8::100", "::1"), 7, "real server address ::1 is a loopback address"),
        (real("2001:db8::100", "2001:db8::100"), 7, "is the service's own VIP"),
        // Duplicates are found whatever the spelling.
        (
            format!("{}[[service]]\nvip = \"2001:DB8:0::100\"\nport = 80\n", service("2001:db8::100", "")),
            7,
            "duplicate service TCP [2001:db8::100]:80",
        ),
        (
            service("2001:db8::100", "[[service.real]]\nip = \"2001:db8::11\"\n[[service.real]]\nip = \"2001:db8:0:0::11\"\n"),
            9,
            "duplicate real server 2001:db8::11",
        ),
        // A check leaves from an address of the family it probes.
        (check("2001:db8::11", "{ type = \"tcp\", bindto = \"10.0.0.2\" }"), 8, "bindto 10.0.0.2 is IPv4 but the check probes 2001:db8::11, an IPv6 address"),
        (check("2001:db8::11", "{ type = \"tcp\", connect_ip = \"10.0.0.50\", bindto = \"2001:db8::2\" }"), 8, "the check probes 10.0.0.50"),
        (
            service("2001:db8::100", "check = { type = \"tcp\", bindto = \"10.0.0.2\" }\n[[service.real]]\nip = \"2001:db8::11\"\n"),
            6,
            "bindto 10.0.0.2 is IPv4",
        ),
        // An instance is of one family (its VIPs, addresses, group and peers), and over IPv6 it is VRRPv3.
        (vrrp("[\"10.0.0.100\", \"2001:db8::100\"]"), 12, "VIP 2001:db8::100 is not of the family of 10.0.0.100"),
        (
            format!("{HEAD}[[service]]\nvip = \"2001:db8::100\"\nport = 80\n[[vrrp]]\nname = \"V\"\nprotocol = \"vrrp2\"\nvrid = 1\nvips = [\"2001:db8::100\"]\n"),
            8,
            "2001:db8::100 is IPv6, and only vrrp3 runs over IPv6",
        ),
        (
            format!("{HEAD}[[service]]\nvip = \"10.0.0.100\"\nport = 80\n[[vrrp]]\nname = \"V\"\nvrid = 1\nvips = [\"10.0.0.100\"]\nunicast_peers = [\"2001:db8::3\"]\n"),
            10,
            "unicast peer 2001:db8::3 is not IPv4, the family of this instance's addresses",
        ),
        (
            format!("{HEAD}[[service]]\nvip = \"2001:db8::100\"\nport = 80\n[[vrrp]]\nname = \"V\"\nvrid = 1\nvips = [\"2001:db8::100\"]\nunicast_src_ip = \"10.0.0.2\"\n"),
            10,
            "unicast_src_ip 10.0.0.2 is not IPv6",
        ),
        (
            format!("{HEAD}[[service]]\nvip = \"2001:db8::100\"\nport = 80\n[[vrrp]]\nname = \"V\"\nvrid = 1\nvips = [\"2001:db8::100\"]\ngroup = \"224.0.0.18\"\n"),
            10,
            "group 224.0.0.18 is not IPv6",
        ),
        (
            format!("{HEAD}[[service]]\nvip = \"2001:db8::100\"\nport = 80\n[[vrrp]]\nname = \"V\"\nvrid = 1\nvips = [\"2001:db8::100\"]\naddresses = [\"10.0.0.50/24\"]\n"),
            10,
            "address 10.0.0.50 is not of the family of 2001:db8::100",
        ),
    ];
    let mut failures = Vec::new();
    for (text, line, reason) in &cases {
        match parse(text) {
            Ok(_) => failures.push(format!("accepted, expected {reason:?} at line {line}:\n{text}")),
            Err(err) => {
                let shown = err.to_string();
                if err.location().map(|at| at.line) != Some(*line)
                    || !err.reason().contains(reason)
                    || !shown.starts_with(&format!("{FILE}:{line}:"))
                {
                    failures.push(format!("expected line {line} with {reason:?}, got {shown}\n{text}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn an_ipv6_vrrp_instance_parses_with_ipv6_defaults_peers_and_floating_addresses() {
    use crate::ha::spec::FloatingAddress;
    let text = format!(
        "{HEAD}[[service]]\nvip = \"2001:db8::100\"\nport = 80\n[[service.real]]\nip = \"2001:db8::11\"\n\
         [[vrrp]]\nname = \"VI_6\"\nvrid = 51\nvmac = true\nvips = [\"2001:db8::100\"]\n\
         unicast_src_ip = \"2001:db8::2\"\nunicast_peers = [\"2001:db8::3\"]\n\
         addresses = [\"2001:db8::50/64\", \"2001:db8::51\"]\n\
         [[vrrp]]\nname = \"VI_4\"\nvrid = 51\naddresses = [\"10.0.0.50/24\"]\n"
    );
    let config = parse(&text).unwrap();
    let instance = &config.vrrp[0].instance;
    let ip = |text: &str| text.parse::<std::net::IpAddr>().unwrap();
    assert!(instance.is_ipv6());
    assert_eq!(instance.group, ip("ff02::12"), "RFC 5798's IPv6 group by default");
    assert_eq!(
        (instance.unicast_src_ip, instance.unicast_peers.as_slice()),
        (Some(ip("2001:db8::2")), &[ip("2001:db8::3")][..])
    );
    assert_eq!(
        instance.addresses,
        [
            FloatingAddress { ip: ip("2001:db8::50"), prefix_len: 64, dev: None, label: None },
            FloatingAddress { ip: ip("2001:db8::51"), prefix_len: 128, dev: None, label: None },
        ]
    );
    // An IPv4 instance may share the VRID on the link (keepalived's rule is per family).
    assert_eq!((config.vrrp[1].instance.vrid, config.vrrp[1].instance.is_ipv6()), (51, false));
    // vmac answers Neighbour Solicitations for the VIP with IPv6's virtual MAC, 00:00:5e:00:02:VRID.
    assert_eq!(crate::control::runtime::gated_vips(&config), [(ip("2001:db8::100"), Some([0, 0, 0x5e, 0, 2, 51]))]);
}
