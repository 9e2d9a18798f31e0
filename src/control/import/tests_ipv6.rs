//! The importer on IPv6: keepalived's family rules (an instance is of one family: that of its first
//! address, or IPv6 with `native_ipv6`), IPv6 VRRP instances (VRRPv3 over IPv6), addresses of the
//! other family beside an instance's, and the IPv6 samples.

use super::tests::{assert_parses, complete, import, left_out, tables};

/// A service for the IPv4 instances below to hold.
const SERVICE: &str =
    "virtual_server 10.0.0.100 80 {\n  lb_algo rr\n  lb_kind DR\n  real_server 10.0.0.11 80 {\n  }\n}\n";

#[test]
fn an_ipv6_vrrp_instance_converts_to_vrrp3_over_ipv6_beside_an_ipv4_one_with_the_same_vrid() {
    let imported = import(&format!(
        "{SERVICE}virtual_server 2001:db8::100 80 {{\n  lb_algo rr\n  lb_kind DR\n  real_server 2001:db8::11 80 {{\n  }}\n}}
vrrp_instance VI_4 {{
  interface eth0
  virtual_router_id 61
  virtual_ipaddress {{
    10.0.0.100/24
  }}
}}
vrrp_instance VI_6 {{
  interface eth0
  native_ipv6
  virtual_router_id 61
  unicast_src_ip 2001:db8::2
  unicast_peer {{
    2001:db8::3
    10.0.0.3
  }}
  virtual_ipaddress {{
    2001:db8::100/64
    2001:db8::50/64 dev eth0
    10.0.0.60/24
  }}
}}
vrrp_instance VI_6B {{
  interface eth0
  virtual_router_id 61
  virtual_ipaddress {{
    2001:db8::200
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
    assert_eq!(
        left_out(&imported),
        [
            "27: 10.0.0.3: unicast peers of this instance are IPv6 addresses".to_string(),
            "35: vrrp_instance VI_6B: virtual_router_id 61 is also instance VI_6's on the same interface; the vrrp_instance is left out".into(),
        ]
    );
    let text = imported.toml.unwrap();
    for note in [
        "an IPv6 instance of VRRP version 2 (keepalived's default): keepalived 2.2 sends it as a non-standard VRRPv2 over IPv6",
        "10.0.0.60/24: an address of the other family than the instance's: keepalived ignores it",
    ] {
        assert!(text.contains(note), "{note}\n{text}");
    }
    let vrrp = &text[text.find("[[vrrp]]\nname = \"VI_6\"").unwrap()..];
    assert!(
        vrrp.starts_with(
            "[[vrrp]]\nname = \"VI_6\"\nprotocol = \"vrrp3\"\nvrid = 61\npriority = 100\ninterval = \"1s\"\npreempt = true\n\
             unicast_src_ip = \"2001:db8::2\"\nunicast_peers = [\"2001:db8::3\"]\nvips = [\"2001:db8::100\"]\n\
             addresses = [{ address = \"2001:db8::50/64\", dev = \"eth0\" }]\n"
        ),
        "{vrrp}"
    );
    assert!(text.contains("group = [\"VI_4\", \"VI_6\"]"), "{text}");
    assert_parses(&text);
}

#[test]
fn addresses_of_the_other_family_are_ignored_as_keepalived_does_or_left_out() {
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
        ["16: fd00:10::53/64: an address of the other family than the instance's: a ulvs instance holds addresses of its own family only (a virtual_server of it converts on its own, without failover)"]
    );
    let text = imported.toml.unwrap();
    for note in [
        "# note: k.conf:12: fd00:10::53/64: an address of the other family than the instance's: keepalived ignores it",
        "# note: k.conf:15: 10.0.0.54/24: excluded from keepalived's adverts; ulvs lists it in its own",
    ] {
        assert!(text.contains(note), "{note}\n{text}");
    }
    assert!(text.contains("vips = [\"10.0.0.100\"]\naddresses = [\"10.0.0.54/24\"]\n"), "{text}");
    assert_parses(&text);
}

#[test]
fn an_instance_whose_first_address_is_ipv6_is_an_ipv6_one_as_in_keepalived() {
    // keepalived sets the family from the first address; the IPv4 one after it is ignored, and an
    // IPv6 address held by the kernel is /128 unless it says otherwise.
    let imported = import(&format!(
        "{SERVICE}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 7\n  version 3\n  virtual_ipaddress {{\n    2001:db8::7\n    10.0.0.100\n  }}\n}}\n"
    ));
    assert!(left_out(&imported).is_empty(), "{:?}", left_out(&imported));
    let text = imported.toml.unwrap();
    assert!(text.contains("protocol = \"vrrp3\"") && text.contains("addresses = [\"2001:db8::7/128\"]"), "{text}");
    assert!(text.contains("10.0.0.100: an address of the other family than the instance's"), "{text}");
    assert_parses(&text);
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
