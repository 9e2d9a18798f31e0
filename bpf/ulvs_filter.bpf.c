// SPDX-License-Identifier: MIT OR Apache-2.0
//
// ulvs_filter: the XDP program ulvs attaches to each interface it serves.
//
// It steers to the AF_XDP socket of the receiving queue (the `xsks` XSKMAP, indexed by
// rx_queue_index) only what the userspace data path must see:
//   - ARP requests (Ethernet/IPv4, op 1) whose target protocol address is a VIP, unless gratuitous
//     (sender address = target address: an announcement, which ulvs never answers);
//   - IPv4 protocol 112 (VRRP and CARP share it), whatever the destination;
//   - IPv6 next header 112 (VRRPv3 over IPv6) right after the fixed header, whatever the destination
//     (ff02::12, or the director's own address for a unicast peer);
//   - IPv4 packets whose destination is a VIP;
//   - IPv6 packets whose destination is a VIP (any next header: the data path walks extension
//     headers, answers a unicast solicitation, forwards ICMPv6 errors);
//   - ICMPv6 Neighbour Solicitations (right after the fixed header) whose target is a VIP: sent to
//     the solicited-node multicast address, they name the VIP only in their target field.
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
// The VIP sets (`vips`, keyed by the IPv4 address in network byte order, and `vips6`, by the 16
// bytes of the IPv6 address) are filled by ulvs. The director's own IPv6 — link-local, its own
// NDP, router advertisements, ssh — is not in them and stays with the kernel.
// `stats` is a per-CPU array of counters indexed by `enum stat`; userspace sums the CPUs.
//
// A frame ulvs would take that is longer than `limits[0]` (the interface MTU plus an Ethernet
// header, set by ulvs; 0 = no limit) is dropped and counted as oversize: only a
// receive-side aggregate (GRO, or GSO from a sender on this host, which generic XDP sees whole) can
// be that long, and ulvs could not forward it intact.
//
// Defences (docs/defences.md), for packets to a VIP only (never ARP, a Neighbour Solicitation for
// a VIP, or VRRP/CARP over either family): the source is looked up in an LPM trie of allow/deny rules (`rules4`, or
// `rules6` for IPv6); the longest prefix decides, else `filter.default_deny`. Each rule's hits are
// counted in `rule_hits` at its index. A TCP SYN (without ACK) then takes a token from its source
// prefix's bucket (`buckets`, an LRU hash keyed by the source masked to `per_v4` or `per_v6` bits);
// with none left it is dropped. Buckets are shared by the CPUs and updated without a lock: two CPUs
// refilling one bucket at the same moment may let one extra SYN through.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 256
#define MAX_VIPS 4096
#define MAX_RULES 1024
#define MAX_BUCKETS 65536
#define IPPROTO_VRRP 112
#define NEXTHDR_ICMPV6 58
#define ICMPV6_NEIGHBOUR_SOLICIT 135
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1

// Kept in step with `Stat` in src/io/xdp/program.rs.
enum stat {
	STAT_REDIRECTED = 0, // handed to an AF_XDP socket
	STAT_PASSED = 1,     // not ours: to the kernel
	STAT_NO_SOCKET = 2,  // ours, but no socket on this queue: to the kernel
	STAT_OVERSIZE = 3,   // ours, but longer than limits[0]: dropped
	STAT_DENIED = 4,     // to a VIP from a source a deny rule names: dropped
	STAT_NOT_ALLOWED = 5, // to a VIP from a source no rule names, with an allow list: dropped
	STAT_RATE_LIMITED = 6, // a SYN over its source prefix's rate: dropped
	STAT_COUNT = 7,
};

// Kept in step with src/io/xdp/defence.rs.
#define RULE_ALLOW 1
#define RULE_DENY 2

struct lpm_v4 {
	__u32 prefixlen;
	__be32 addr;
};

struct lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct rule {
	__u32 index;
	__u32 action;
};

struct filter_config {
	__u32 default_deny; // a source no rule names is dropped (there is an allow list)
	__u32 rate_on;
	__u32 per_v4; // sources are grouped by this many leading bits (1..32)
	__u32 per_v6; // and IPv6 ones by this many (1..128)
	__u64 token_ns; // one SYN's worth of refill: 1e9 / rate
	__u64 full_ns;  // a full bucket: token_ns * burst
};

struct bucket_key {
	__u32 family; // 4 or 6
	__u8 addr[16];
};

struct bucket {
	__u64 level_ns;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, struct rule);
} rules4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6);
	__type(value, struct rule);
} rules6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_config);
} filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_BUCKETS);
	__type(key, struct bucket_key);
	__type(value, struct bucket);
} buckets SEC(".maps");

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

// An IPv6 address as on the wire.
struct addr6 {
	__u8 bytes[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VIPS);
	__type(key, struct addr6);
	__type(value, __u8);
} vips6 SEC(".maps");

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

// The fixed IPv6 header (RFC 8200).
struct ipv6_head {
	__be32 version_class_flow;
	__be16 payload_len;
	__u8 next_header;
	__u8 hop_limit;
	struct addr6 saddr;
	struct addr6 daddr;
} __attribute__((packed));

// The fixed part of a Neighbour Solicitation (RFC 4861 section 4.3).
struct neighbour_solicit {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be32 reserved;
	struct addr6 target;
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

// Counts a hit on `r`, and says whether its verdict (or, with no rule, the default) drops.
static __always_inline int denied(struct rule *r, struct filter_config *cfg)
{
	if (r) {
		__u32 index = r->index;
		__u64 *hits = bpf_map_lookup_elem(&rule_hits, &index);

		if (hits)
			*hits += 1;
		if (r->action == RULE_DENY) {
			count(STAT_DENIED);
			return 1;
		}
		return 0;
	}
	if (cfg->default_deny) {
		count(STAT_NOT_ALLOWED);
		return 1;
	}
	return 0;
}

// Takes a token from `key`'s bucket: 1 when there was none (the SYN is over the rate).
static __always_inline int over_rate(struct bucket_key *key, struct filter_config *cfg)
{
	__u64 now = bpf_ktime_get_ns();
	struct bucket *b = bpf_map_lookup_elem(&buckets, key);
	__u64 level;

	if (!b) {
		struct bucket fresh = { .level_ns = cfg->full_ns - cfg->token_ns, .last_ns = now };

		bpf_map_update_elem(&buckets, key, &fresh, BPF_ANY);
		return 0;
	}
	level = b->level_ns + (now - b->last_ns);
	if (level > cfg->full_ns)
		level = cfg->full_ns;
	b->last_ns = now;
	if (level >= cfg->token_ns) {
		b->level_ns = level - cfg->token_ns;
		return 0;
	}
	b->level_ns = level;
	count(STAT_RATE_LIMITED);
	return 1;
}

// Whether a TCP segment at `l4` opens a connection (SYN without ACK).
static __always_inline int is_syn(void *l4, void *end)
{
	__u8 *flags = l4 + 13;

	if ((void *)(flags + 1) > end)
		return 0;
	return (*flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

// The defences for an IPv4 packet to a VIP: 1 when it is dropped (and counted).
static __always_inline int defend_v4(struct ipv4_head *ip, void *end)
{
	__u32 zero = 0;
	struct filter_config *cfg = bpf_map_lookup_elem(&filter, &zero);
	struct lpm_v4 key = { .prefixlen = 32 };
	struct bucket_key group = { .family = 4 };
	__be32 saddr, mask;
	__u32 ihl;

	if (!cfg)
		return 0;
	__builtin_memcpy(&saddr, &ip->saddr, sizeof(saddr));
	key.addr = saddr;
	if (denied(bpf_map_lookup_elem(&rules4, &key), cfg))
		return 1;
	if (!cfg->rate_on || ip->protocol != IPPROTO_TCP)
		return 0;
	ihl = (ip->version_ihl & 0x0f) * 4;
	if (!is_syn((void *)ip + ihl, end))
		return 0;
	// per_v4 is 1..32 (userspace checks): the shift stays within 0..31.
	mask = cfg->per_v4 >= 32 ? ~0U : bpf_htonl(~0U << ((32 - cfg->per_v4) & 31));
	saddr &= mask;
	__builtin_memcpy(group.addr, &saddr, sizeof(saddr));
	return over_rate(&group, cfg);
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

// What the filter does with a frame.
enum verdict {
	NOT_OURS = 0,
	OURS = 1,
	DROPPED = 2, // by a defence, already counted
};

static __always_inline int wanted_ipv4(void *l3, void *end)
{
	struct ipv4_head *ip = l3;
	__be32 daddr;

	if ((void *)(ip + 1) > end)
		return NOT_OURS;
	if ((ip->version_ihl >> 4) != 4 || (ip->version_ihl & 0x0f) < 5)
		return NOT_OURS;
	if (ip->protocol == IPPROTO_VRRP)
		return OURS;
	__builtin_memcpy(&daddr, &ip->daddr, sizeof(daddr));
	if (!is_vip(daddr))
		return NOT_OURS;
	return defend_v4(ip, end) ? DROPPED : OURS;
}

static __always_inline int is_vip6(const struct addr6 *addr)
{
	struct addr6 key;

	__builtin_memcpy(&key, addr, sizeof(key));
	return bpf_map_lookup_elem(&vips6, &key) != NULL;
}

// The defences for an IPv6 packet to a VIP: 1 when it is dropped (and counted). Only a SYN right
// after the fixed header is rate-limited (one behind extension headers is let through).
static __always_inline int defend_v6(struct ipv6_head *ip, void *end)
{
	__u32 zero = 0;
	struct filter_config *cfg = bpf_map_lookup_elem(&filter, &zero);
	struct lpm_v6 key = { .prefixlen = 128 };
	struct bucket_key group = { .family = 6 };
	__u32 words[4];
	int i;

	if (!cfg)
		return 0;
	__builtin_memcpy(key.addr, &ip->saddr, sizeof(key.addr));
	if (denied(bpf_map_lookup_elem(&rules6, &key), cfg))
		return 1;
	if (!cfg->rate_on || ip->next_header != IPPROTO_TCP || !is_syn((void *)(ip + 1), end))
		return 0;
	// per_v6 is 1..128 (userspace checks): keep that many leading bits, word by word.
	__builtin_memcpy(words, &ip->saddr, sizeof(words));
#pragma unroll
	for (i = 0; i < 4; i++) {
		__u32 keep = cfg->per_v6 > 32 * i ? cfg->per_v6 - 32 * i : 0;

		if (keep == 0)
			words[i] = 0;
		else if (keep < 32)
			words[i] &= bpf_htonl(~0U << ((32 - keep) & 31));
	}
	__builtin_memcpy(group.addr, words, sizeof(words));
	return over_rate(&group, cfg);
}

// A solicitation for a VIP is ours whatever its source, as an ARP request is: the defences would
// refuse a router outside an allow list its unicast reachability probes, and break the path.
static __always_inline int wanted_ipv6(void *l3, void *end)
{
	struct ipv6_head *ip = l3;
	struct neighbour_solicit *ns = (void *)(ip + 1);

	if ((void *)(ip + 1) > end)
		return NOT_OURS;
	if ((*(__u8 *)ip >> 4) != 6)
		return NOT_OURS;
	if (ip->next_header == IPPROTO_VRRP)
		return OURS;
	if (ip->next_header == NEXTHDR_ICMPV6 && (void *)(ns + 1) <= end && ns->type == ICMPV6_NEIGHBOUR_SOLICIT &&
	    is_vip6(&ns->target))
		return OURS;
	if (!is_vip6(&ip->daddr))
		return NOT_OURS;
	return defend_v6(ip, end) ? DROPPED : OURS;
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
	else if (proto == bpf_htons(ETH_P_IPV6))
		wanted = wanted_ipv6(l3, end);

	if (wanted == DROPPED)
		return XDP_DROP;
	if (wanted == OURS) {
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
