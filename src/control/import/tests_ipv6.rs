//! The importer on IPv6: keepalived's family rules (an instance is of one family: that of its first
//! address, or IPv6 with `native_ipv6`), IPv6 VRRP instances (left out until ulvs runs VRRP over
//! IPv6), IPv6 addresses beside an IPv4 instance's, and the IPv6 samples.

use super::tests::{assert_parses, complete, import, left_out, tables};
use super::Outcome;

/// A service for the IPv4 instances below to hold.
const SERVICE: &str =
    "virtual_server 10.0.0.100 80 {\n  lb_algo rr\n  lb_kind DR\n  real_server 10.0.0.11 80 {\n  }\n}\n";

#[test]
fn an_ipv6_vrrp_instance_is_left_out_whole_with_why_and_the_ipv4_one_beside_it_converts() {
    let imported = import(&format!(
        "{SERVICE}vrrp_instance VI_4 {{
  interface eth0
  virtual_router_id 61
  virtual_ipaddress {{
    10.0.0.100/24
  }}
}}
vrrp_instance VI_6 {{
  state MASTER
  interface eth0
  native_ipv6
  virtual_router_id 61
  unicast_peer {{
    2001:db8::3
  }}
  virtual_ipaddress {{
    2001:db8::100/64
  }}
}}
vrrp_instance VI_6B {{
  interface eth0
  virtual_router_id 62
  virtual_ipaddress {{
    2001:db8::200/64
  }}
}}
vrrp_sync_group VG {{
  group {{
    VI_4
    VI_6
  }}
}}
"
    ));
    let why = "an IPv6 instance (VRRPv3 over IPv6): ulvs does not run VRRP over IPv6 yet; the vrrp_instance is left out (a virtual_server of its addresses converts on its own, without failover)";
    assert_eq!(
        left_out(&imported),
        [
            format!("14: vrrp_instance VI_6: {why}"),
            format!("26: vrrp_instance VI_6B: {why}"),
            "33: vrrp_sync_group VG: fewer than two converted instances in its `group { }`; the sync group is left out"
                .into(),
            "36: VI_6: no converted vrrp_instance of that name".into(),
        ]
    );
    assert_eq!(imported.outcome(), Outcome::WithOmissions);
    let text = imported.toml.unwrap();
    // One line for the whole instance: none for its peers, addresses or `state`.
    assert!(!text.contains("k.conf:15:") && !text.contains("k.conf:19:"), "{text}");
    let vrrp = &text[text.find("[[vrrp]]").unwrap()..];
    assert_eq!(
        tables(vrrp),
        "[[vrrp]]\nname = \"VI_4\"\nprotocol = \"vrrp2\"\nvrid = 61\npriority = 100\ninterval = \"1s\"\npreempt = true\nvips = [\"10.0.0.100\"]"
    );
    assert_parses(&text);
}

#[test]
fn ipv6_addresses_beside_an_ipv4_instance_are_ignored_as_keepalived_does_or_left_out() {
    let imported = import(&format!(
        "{SERVICE}vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 53
  virtual_ipaddress {{
    10.0.0.100/24
    fd00:10::53/64
  }}
  virtual_ipaddress_excluded {{
    10.0.0.54/24
    fd00:10::53/64
  }}
  native_ipv6
}}
"
    ));
    assert_eq!(
        left_out(&imported),
        ["16: fd00:10::53/64: an IPv6 address following an IPv4 instance: a ulvs instance holds addresses of its own family, and none of IPv6 until VRRP over IPv6 (a virtual_server of it converts on its own, without failover)"]
    );
    let text = imported.toml.unwrap();
    for note in [
        "# note: k.conf:12: fd00:10::53/64: an IPv6 address in an IPv4 instance: keepalived ignores it",
        "# note: k.conf:15: 10.0.0.54/24: excluded from keepalived's adverts; ulvs lists it in its own",
    ] {
        assert!(text.contains(note), "{note}\n{text}");
    }
    assert!(text.contains("vips = [\"10.0.0.100\"]\naddresses = [\"10.0.0.54/24\"]\n"), "{text}");
    assert_parses(&text);
}

#[test]
fn an_instance_whose_first_address_is_ipv6_is_an_ipv6_one_as_in_keepalived() {
    // keepalived sets the family from the first address; the IPv4 one after it is ignored.
    let imported = import(&format!(
        "{SERVICE}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 7\n  virtual_ipaddress {{\n    2001:db8::7\n    10.0.0.100\n  }}\n}}\n"
    ));
    assert_eq!(left_out(&imported).len(), 1);
    assert!(left_out(&imported)[0].starts_with("7: vrrp_instance VI_1: an IPv6 instance"), "{:?}", left_out(&imported));
    // And an IPv4 one is IPv4 whatever follows.
    let text = complete(&format!(
        "{SERVICE}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 7\n  unicast_src_ip 10.0.0.2\n  virtual_ipaddress {{\n    10.0.0.100\n  }}\n}}\n"
    ));
    assert_parses(&text);
}

/// The reader takes IPv6 services, so an IPv6 virtual_server converts as an IPv4 one does, with a
/// note that ulvs does not serve it yet; what keepalived would refuse under DR (a real server or
/// sorry server of the other family) is left out; a check keeps its IPv6 addresses, and one whose
/// script names its IPv6 real server stays on it.
#[test]
fn an_ipv6_virtual_server_converts_with_a_note_and_its_other_family_parts_are_left_out() {
    let imported = import(
        "virtual_server 2001:db8::100 80 {
  lb_algo rr
  lb_kind DR
  sorry_server 10.0.0.50 80
  real_server 2001:db8::11 80 {
    MISC_CHECK {
      misc_path \"/usr/bin/probe [2001:DB8::11]:80\"
    }
  }
  real_server 2001:db8::12 80 {
    TCP_CHECK {
      bindto 2001:db8::2
    }
  }
  real_server 10.0.0.13 80 {
  }
}
",
    );
    assert_eq!(
        left_out(&imported),
        [
            "4: sorry_server 10.0.0.50 80: sorry server 10.0.0.50 is an IPv4 address but the service's VIP 2001:db8::100 is IPv6: a service and its real servers share one address family",
            "15: real_server 10.0.0.13 80: real server 10.0.0.13 is an IPv4 address but the service's VIP 2001:db8::100 is IPv6: a service and its real servers share one address family",
        ]
    );
    let text = imported.toml.unwrap();
    // Served, checked and synced as an IPv4 service: nothing to note.
    assert!(!text.contains("# note: k.conf:1:"), "{text}");
    // The script names 2001:db8::11 (in another spelling): the service's check is the TCP one.
    assert_eq!(
        tables(&text),
        "[director]\ninterface = \"eth0\"   # CHECK: keepalived.conf names no interface; set the director's LAN port\ncontrol = \"/run/ulvs.sock\"   # ulvs ctl --control PATH; the path is host-wide: each director on a host needs its own\n[[service]]\nvip = \"2001:db8::100\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\ncheck = { type = \"tcp\", interval = \"60s\", timeout = \"5s\", rise = 1, fall = 2, bindto = \"2001:db8::2\" }\n  [[service.real]]\n  ip = \"2001:db8::11\"\n  check = { type = \"script\", interval = \"60s\", timeout = \"5s\", rise = 1, fall = 1, command = \"/usr/bin/probe [2001:DB8::11]:80\" }\n  [[service.real]]\n  ip = \"2001:db8::12\""
    );
    assert_parses(&text);
}
