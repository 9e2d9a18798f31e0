//! Nothing steered is lost: every kind of frame the XDP filter (bpf/ulvs_filter.bpf.c, run in the
//! kernel with `BPF_PROG_TEST_RUN`) steers to ulvs is forwarded, answered, handed to HA or dropped
//! under a counted reason by the pipeline — never left "to the kernel", which on AF_XDP would lose
//! it. Frames the pipeline would leave to the kernel must not be steered. Loading BPF needs root:
//! without it this prints a note and passes (scripts/test.sh runs as root).

use super::*;
use crate::io::xdp::FilterProbe;
use crate::wire::ipv4;

/// What becomes of a frame: the filter leaves it to the kernel, or ulvs decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Kernel,
    Ulvs(Verdict),
}

struct Case {
    description: &'static str,
    frame: Vec<u8>,
    serving: bool,
    expected: Outcome,
}

fn case(description: &'static str, frame: Vec<u8>, expected: Outcome) -> Case {
    Case { description, frame, serving: true, expected }
}

/// The IPv4 header checksum filled in again after an edit.
fn refilled(mut frame: Vec<u8>) -> Vec<u8> {
    ipv4::Packet::new_unchecked(&mut frame[craft::ETHERNET_LEN..]).fill_checksum();
    frame
}

/// Four NOP option bytes put after the IPv4 header (the TCP checksum does not cover them).
fn with_ip_options(frame: Vec<u8>) -> Vec<u8> {
    let ip = craft::ETHERNET_LEN;
    let mut out = frame[..ip + 20].to_vec();
    out.extend_from_slice(&[1, 1, 1, 1]);
    out.extend_from_slice(&frame[ip + 20..]);
    out[ip] = 0x46;
    let total = u16::from_be_bytes([out[ip + 2], out[ip + 3]]) + 4;
    out[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
    refilled(out)
}

fn vlan_tagged(frame: Vec<u8>) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    out.extend_from_slice(&frame[12..]);
    out
}

fn cases() -> Vec<Case> {
    use Outcome::{Kernel, Ulvs};
    let drop = |reason| Ulvs(Verdict::Drop(reason));
    let (arp_request, _) = arp_pair();
    let mut gratuitous = craft::arp_request(CLIENT, VIP, VIP);
    gratuitous[6..12].copy_from_slice(&RS1.0);
    let mut arp_reply = arp_request.clone();
    arp_reply[21] = 2;
    let mut vrrp = craft::udp(CLIENT, DIRECTOR, client(0), SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 18), 0), b"ad");
    vrrp[craft::ETHERNET_LEN + 9] = 112;
    let ack80 = craft::tcp(CLIENT, DIRECTOR, client(40000), vip(80), tcp_flags::ACK, b"GET /");
    let mut bad_checksum = syn(40001, 80);
    bad_checksum[craft::ETHERNET_LEN + 10] ^= 0xff;
    let mut gre = syn(40002, 80);
    gre[craft::ETHERNET_LEN + 9] = 47;
    let gre = refilled(gre);
    let echo = craft::icmp(CLIENT, DIRECTOR, Ip::new(CLIENT_IP, VIP), 8, 0, [0, 1, 0, 1], b"ping");
    let timestamp = craft::icmp(CLIENT, DIRECTOR, Ip::new(CLIENT_IP, VIP), 13, 0, [0, 1, 0, 1], &[0; 12]);
    let quoted = craft::tcp(DIRECTOR, CLIENT, SocketAddrV4::new(VIP, 80), client(40003), tcp_flags::ACK, b"");
    let unreachable =
        craft::icmp(CLIENT, DIRECTOR, Ip::new(CLIENT_IP, VIP), 3, 3, [0; 4], &craft::ip_part(&quoted)[..28]);
    let later_fragment = craft::tcp_with(
        CLIENT,
        DIRECTOR,
        Ip { fragment_offset: 100, ..Ip::new(CLIENT_IP, VIP) },
        40004,
        80,
        tcp_flags::ACK,
        b"tail",
    );
    let mut cut_tcp = syn(40005, 80);
    cut_tcp[craft::ETHERNET_LEN + 2..craft::ETHERNET_LEN + 4].copy_from_slice(&30u16.to_be_bytes());
    let cut_tcp = refilled(cut_tcp);
    let other = craft::udp(CLIENT, DIRECTOR, client(5353), SocketAddrV4::new(DIRECTOR_IP, 53), b"q");
    let ipv6 = {
        let mut frame = craft::udp(CLIENT, DIRECTOR, client(5353), vip(53), b"q");
        frame[12..14].copy_from_slice(&[0x86, 0xdd]);
        frame
    };
    // VRRPv3 over IPv6 to ff02::12: header only, the HA thread checks the rest.
    let vrrp6 = {
        let mut frame = vec![0x33, 0x33, 0, 0, 0, 0x12];
        frame.extend_from_slice(&CLIENT.0);
        frame.extend_from_slice(&[0x86, 0xdd, 0x6c, 0, 0, 0, 0, 8, 112, 255]);
        frame.extend_from_slice(&std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).octets());
        frame.extend_from_slice(&crate::wire::vrrp6::GROUP.octets());
        frame.extend_from_slice(&[0x31, 51, 100, 0, 0, 100, 0, 0]);
        frame
    };
    vec![
        case("arp request for the vip", arp_request.clone(), Ulvs(Verdict::Tx)),
        case("ipv6 vrrp advert", vrrp6, Ulvs(Verdict::ToHa)),
        Case {
            serving: false,
            ..case("arp request for the vip, backup", arp_request.clone(), drop(DropReason::NotMaster))
        },
        case("gratuitous arp request for the vip", gratuitous, Kernel),
        case("arp reply naming the vip", arp_reply, Kernel),
        case("arp request for another address", craft::arp_request(CLIENT, CLIENT_IP, DIRECTOR_IP), Kernel),
        case("vrrp advert", vrrp, Ulvs(Verdict::ToHa)),
        case("tcp syn to a service", syn(40000, 80), Ulvs(Verdict::Tx)),
        Case { serving: false, ..case("tcp syn to a service, backup", syn(40000, 80), drop(DropReason::NotMaster)) },
        case("tcp ack without a connection", ack80, drop(DropReason::NoConnection)),
        case("tcp syn with ip options", with_ip_options(syn(40006, 80)), Ulvs(Verdict::Tx)),
        case("tcp syn to a port without a service", syn(40000, 81), drop(DropReason::NoService)),
        case("tcp syn to a service without a resolved real server", syn(40000, 8080), drop(DropReason::NoRealServer)),
        case("tcp header cut short", cut_tcp, drop(DropReason::Malformed)),
        case("udp to a service", craft::udp(CLIENT, DIRECTOR, client(5353), vip(53), b"q"), Ulvs(Verdict::Tx)),
        case("bad ipv4 header checksum", bad_checksum, drop(DropReason::BadChecksum)),
        case("a later fragment", later_fragment, drop(DropReason::Fragment)),
        case("gre to the vip", gre, drop(DropReason::Unsupported)),
        case("icmp echo request", echo, Ulvs(Verdict::Tx)),
        case("icmp timestamp request", timestamp, drop(DropReason::Unsupported)),
        case("icmp unreachable about no connection here", unreachable, Ulvs(Verdict::OtherWorker)),
        case("udp to another address", other, Kernel),
        case("802.1q tcp syn to a service", vlan_tagged(syn(40007, 80)), Kernel),
        case("802.1q arp request for the vip", vlan_tagged(arp_request), Kernel),
        case("ipv6", ipv6, Kernel),
    ]
}

#[test]
fn every_frame_the_filter_steers_is_forwarded_answered_or_counted() {
    if !std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("\nUid:\t0\t")) {
        eprintln!("skipping: loading the xdp filter needs root");
        return;
    }
    let probe = FilterProbe::load(&[VIP]).expect("loading the filter");
    let snapshot = snapshot();
    let mut failures = Vec::new();
    for case in cases() {
        let (mut pipeline, _) = new_pipeline(&snapshot);
        let outcome = if probe.steers(&case.frame).expect("test run") {
            let serving = if case.serving { Serving::ALL } else { Serving::NONE };
            let ctx = Context { snapshot: &snapshot, serving };
            let verdict = pipeline.process(Instant::now(), &mut case.frame.clone(), &ctx);
            if verdict == Verdict::ToKernel {
                failures.push(format!("{}: steered, then left to the kernel: lost", case.description));
            }
            Outcome::Ulvs(verdict)
        } else {
            Outcome::Kernel
        };
        if outcome != case.expected {
            failures.push(format!("{}: {outcome:?}, expected {:?}", case.description, case.expected));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
