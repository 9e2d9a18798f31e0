// SPDX-License-Identifier: MIT OR Apache-2.0
//
// ulvs_filter: the XDP program ulvs attaches to each interface it serves.
//
// It steers to the AF_XDP socket of the receiving queue (the `xsks` XSKMAP, indexed by
// rx_queue_index) only what the userspace data path must see:
//   - ARP requests (Ethernet/IPv4, op 1) whose target protocol address is a VIP, unless gratuitous
//     (sender address = target address: an announcement, which ulvs never answers);
//   - IPv4 protocol 112 (VRRP and CARP share it), whatever the destination;
//   - IPv4 packets whose destination is a VIP.
// Everything else returns XDP_PASS, so the director's own traffic (ssh, ping, health checks,
// ARP for its own addresses) keeps the kernel path. bpf_redirect_map is called with XDP_PASS as
// its fallback, so a queue without a registered socket also hands its frames to the kernel.
//
// Steer only what the pipeline handles: a frame taken from the kernel here and left "to the
// kernel" by the pipeline would be lost (an AF_XDP socket cannot give it back). So a frame with a
// VLAN tag, which the pipeline does not parse, passes (a NIC with VLAN RX offload strips the tag
// before XDP sees it), and so does a gratuitous ARP for a VIP. ulvs counts anything steered that
// it leaves to the kernel as dropped (kernel_unreachable); a test feeds every kind of frame the
// filter steers through the pipeline and expects none.
//
// The VIP set (`vips`, keyed by the IPv4 address in network byte order) is filled by ulvs.
// `stats` is a per-CPU array of counters indexed by `enum stat`; userspace sums the CPUs.
//
// A frame ulvs would take that is longer than `limits[0]` (the interface MTU plus an Ethernet
// header, set by ulvs; 0 = no limit) is dropped and counted as oversize: only a
// receive-side aggregate (GRO, or GSO from a sender on this host, which generic XDP sees whole) can
// be that long, and ulvs could not forward it intact.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 256
#define MAX_VIPS 4096
#define IPPROTO_VRRP 112

#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1

// Kept in step with `Stat` in src/io/xdp/program.rs.
enum stat {
	STAT_REDIRECTED = 0, // handed to an AF_XDP socket
	STAT_PASSED = 1,     // not ours: to the kernel
	STAT_NO_SOCKET = 2,  // ours, but no socket on this queue: to the kernel
	STAT_OVERSIZE = 3,   // ours, but longer than limits[0]: dropped
	STAT_COUNT = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VIPS);
	__type(key, __be32);
	__type(value, __u8);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

// The fixed part of an Ethernet/IPv4 ARP packet (RFC 826), as laid out on the wire.
struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

// The part of the IPv4 header the filter reads.
struct ipv4_head {
	__u8 version_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
} __attribute__((packed));

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &which);

	if (n)
		*n += 1;
}

static __always_inline int is_vip(__be32 addr)
{
	return bpf_map_lookup_elem(&vips, &addr) != NULL;
}

static __always_inline int wanted_arp(void *l3, void *end)
{
	struct arp_eth_ipv4 *arp = l3;
	__be32 spa, tpa;

	if ((void *)(arp + 1) > end)
		return 0;
	if (arp->htype != bpf_htons(ARPHRD_ETHER) || arp->ptype != bpf_htons(ETH_P_IP) ||
	    arp->hlen != 6 || arp->plen != 4 || arp->op != bpf_htons(ARPOP_REQUEST))
		return 0;
	// spa and tpa sit at odd 2-byte boundaries; copy them instead of loading through a cast.
	__builtin_memcpy(&spa, arp->spa, sizeof(spa));
	__builtin_memcpy(&tpa, arp->tpa, sizeof(tpa));
	return spa != tpa && is_vip(tpa);
}

static __always_inline int wanted_ipv4(void *l3, void *end)
{
	struct ipv4_head *ip = l3;
	__be32 daddr;

	if ((void *)(ip + 1) > end)
		return 0;
	if ((ip->version_ihl >> 4) != 4 || (ip->version_ihl & 0x0f) < 5)
		return 0;
	if (ip->protocol == IPPROTO_VRRP)
		return 1;
	__builtin_memcpy(&daddr, &ip->daddr, sizeof(daddr));
	return is_vip(daddr);
}

SEC("xdp")
int ulvs_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3;
	__be16 proto;
	int wanted = 0;

	if ((void *)(eth + 1) > end)
		goto pass;
	proto = eth->h_proto;
	l3 = eth + 1;

	if (proto == bpf_htons(ETH_P_ARP))
		wanted = wanted_arp(l3, end);
	else if (proto == bpf_htons(ETH_P_IP))
		wanted = wanted_ipv4(l3, end);

	if (wanted) {
		__u32 queue = ctx->rx_queue_index;
		__u32 zero = 0;
		__u32 *max_len = bpf_map_lookup_elem(&limits, &zero);
		long action;

		if (max_len && *max_len && end - data > *max_len) {
			count(STAT_OVERSIZE);
			return XDP_DROP;
		}
		action = bpf_redirect_map(&xsks, queue, XDP_PASS);

		count(action == XDP_REDIRECT ? STAT_REDIRECTED : STAT_NO_SOCKET);
		return (int)action;
	}
pass:
	count(STAT_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
