// SPDX-License-Identifier: MIT OR Apache-2.0
//
// ulvs_mac_tx: the benchmark's in-kernel baseline ("xdp-tx"), the Katran-style path. It does in
// the driver what a direct-routing director does per packet, minus the load-balancing logic:
// an IPv4 frame to the VIP gets the real server's MAC as destination and the director's as
// source and goes back out of the port it came in on (XDP_TX). Everything else passes.
// `config` (one entry) holds the two MACs and the VIP, written by `ulvs bench-xdp-tx`.
//
// ulvs_pass returns XDP_PASS for every frame. Native XDP_TX on a veth needs an XDP program on the
// peer end as well, or the frames are lost; this is that program.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct mac_tx_config {
	__u8 dst[6];
	__u8 src[6];
	__be32 vip;
};

// Kept in step with `MacTxStat` in src/io/xdp/mac_tx.rs.
enum stat {
	STAT_TX = 0,
	STAT_PASSED = 1,
	STAT_COUNT = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mac_tx_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &which);

	if (n)
		*n += 1;
}

SEC("xdp")
int ulvs_mac_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *ip = (__u8 *)(eth + 1);
	struct mac_tx_config *cfg;
	__u32 zero = 0;
	__be32 daddr;

	if ((void *)(ip + 20) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto pass;
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		goto pass;
	__builtin_memcpy(&daddr, ip + 16, sizeof(daddr));
	if (daddr != cfg->vip)
		goto pass;
	__builtin_memcpy(eth->h_dest, cfg->dst, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->src, ETH_ALEN);
	count(STAT_TX);
	return XDP_TX;
pass:
	count(STAT_PASSED);
	return XDP_PASS;
}

SEC("xdp")
int ulvs_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
