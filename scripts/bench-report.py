#!/usr/bin/env python3
"""Turns scripts/bench.sh's raw.csv (one row per repetition) into the report: medians per cell,
the ratios that split ulvs's cost — to the independent forwarder of the same I/O kind (l2fwd: the
I/O ceiling) and to ulvs's port without the pipeline (port) — rate and CPU per packet, whether the
generator was the limit; printed as a table and written to results.csv, results.json and (with
gnuplot) results.svg. Rows are per IP family (the `family` column, 4 or 6); ratios are taken within
a family, and an IPv6 row's rate is also given against the same subject's IPv4 row of the matching
cell (ratio_to_ipv4; IPv6's 78 B cell matches IPv4's 64 B one, the smallest frame of each).

    scripts/bench-report.py OUT_DIR
"""
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys

SUBJECTS = ["generator", "ulvs-xdp", "port-xdp", "l2fwd-xdp", "ulvs-packet", "port-packet", "l2fwd-packet",
            "kernel-forward", "xdp-tx"]
# Each forwarder's I/O ceiling (a plain forwarder sharing no code with ulvs), and ulvs's port alone.
L2FWD = {"ulvs-xdp": "l2fwd-xdp", "port-xdp": "l2fwd-xdp", "ulvs-packet": "l2fwd-packet", "port-packet": "l2fwd-packet"}
PORT = {"ulvs-xdp": "port-xdp", "ulvs-packet": "port-packet"}
METRICS = ["mpps", "gbps", "cpu_pct", "cpu_user", "cpu_sys", "cpu_softirq", "host_cpu_pct",
           "fwd_cpu_ns_per_pkt", "fwd_user_ns_per_pkt", "p50_us", "p99_us", "loss_pct", "gen_mpps"]
# A subject within this fraction of the generator's own ceiling may be held back by the generator.
GEN_LIMIT = 0.9
# The IPv4 frame size an IPv6 cell is compared with: the smallest frame of each family.
IPV4_TWIN_FRAME = {78: 64}


def median(values):
    values = [float(v) for v in values if v not in ("", None)]
    return statistics.median(values) if values else None


def load(out):
    cells = {}
    with open(os.path.join(out, "raw.csv")) as f:
        for row in csv.DictReader(f):
            # raw.csv from before the family column is IPv4.
            family = int(row.get("family") or 4)
            key = (row["subject"], family, int(row["frame_bytes"]), int(row["flows"]), int(row["queues"]))
            cells.setdefault(key, []).append(row)
    results = []
    for key, rows in cells.items():
        r = dict(zip(["subject", "family", "frame_bytes", "flows", "queues"], key))
        for m in METRICS:
            r[m] = median(row.get(m) for row in rows)
        # The forwarder's own share of a core: packets/s x its CPU per packet.
        r["fwd_cpu_pct"] = median(float(row["mpps"]) * float(row["fwd_cpu_ns_per_pkt"]) / 10
                                  for row in rows if row["fwd_cpu_ns_per_pkt"])
        r["xdp_mode"] = rows[0]["xdp_mode"]
        r["reps"] = len(rows)
        results.append(r)
    index = {(r["subject"], r["family"], r["frame_bytes"], r["flows"], r["queues"]): r for r in results}
    def ratio(a, b):
        return a / b if a and b else None

    for r in results:
        cell = (r["family"], r["frame_bytes"], r["flows"], r["queues"])
        l2fwd = index.get((L2FWD.get(r["subject"]),) + cell) or {}
        port = index.get((PORT.get(r["subject"]),) + cell) or {}
        twin = {}
        if r["family"] == 6:
            frame = IPV4_TWIN_FRAME.get(r["frame_bytes"], r["frame_bytes"])
            twin = index.get((r["subject"], 4, frame, r["flows"], r["queues"])) or {}
        r["ratio_to_ipv4"] = ratio(r["mpps"], twin.get("mpps"))
        r["ratio_to_l2fwd"] = ratio(r["mpps"], l2fwd.get("mpps"))
        r["ratio_to_port"] = ratio(r["mpps"], port.get("mpps"))
        r["cpu_ratio_to_l2fwd"] = ratio(r["fwd_cpu_ns_per_pkt"], l2fwd.get("fwd_cpu_ns_per_pkt"))
        r["user_cpu_ratio_to_l2fwd"] = ratio(r["fwd_user_ns_per_pkt"], l2fwd.get("fwd_user_ns_per_pkt"))
        gen = index.get(("generator",) + cell)
        r["gen_limited"] = bool(gen and gen["mpps"] and r["subject"] != "generator"
                               and r["mpps"] >= GEN_LIMIT * gen["mpps"])
    order = {s: i for i, s in enumerate(SUBJECTS)}
    # An IPv6 row right under its IPv4 twin.
    results.sort(key=lambda r: (r["queues"], IPV4_TWIN_FRAME.get(r["frame_bytes"], r["frame_bytes"]), r["flows"],
                                order.get(r["subject"], 99), r["family"]))
    return results


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(results):
    head = (f"{'subject':<15}{'IP':>3}{'frame':>6}{'flows':>9}{'q':>3}{'Mpps':>8}{'Gbit/s':>8}{'dirCPU%':>8}"
            f"{'usr/sys/si %':>16}{'fwd ns/pkt':>11}{'usr ns':>7}{'fwd%':>6}{'p50 us':>8}{'p99 us':>9}{'loss%':>7}"
            f"{'/l2fwd':>7}{'/port':>6}{'usr/l2':>7}{'/IPv4':>7}  mode")
    lines = [head, "-" * len(head)]
    for r in results:
        split = "/".join(fmt(r[k], ".0f") for k in ("cpu_user", "cpu_sys", "cpu_softirq"))
        mark = " (gen-limited)" if r["gen_limited"] else ""
        lines.append(
            f"{r['subject']:<15}{'v' + str(r['family']):>3}{r['frame_bytes']:>6}{r['flows']:>9}{r['queues']:>3}{fmt(r['mpps'], '.3f'):>8}"
            f"{fmt(r['gbps'], '.2f'):>8}{fmt(r['cpu_pct'], '.0f'):>8}{split:>16}{fmt(r['fwd_cpu_ns_per_pkt'], '.0f'):>11}"
            f"{fmt(r['fwd_user_ns_per_pkt'], '.0f'):>7}{fmt(r['fwd_cpu_pct'], '.0f'):>6}"
            f"{fmt(r['p50_us'], '.0f'):>8}{fmt(r['p99_us'], '.0f'):>9}{fmt(r['loss_pct'], '.1f'):>7}"
            f"{fmt(r['ratio_to_l2fwd'], '.2f'):>7}{fmt(r['ratio_to_port'], '.2f'):>6}{fmt(r['user_cpu_ratio_to_l2fwd'], '.2f'):>7}"
            f"{fmt(r['ratio_to_ipv4'], '.2f'):>7}  {r['xdp_mode']}{mark}")
    return "\n".join(lines)


# The targets the harness reports on (never asserted: these machines are noisy).
RATE_TARGET = 0.95
USER_CPU_TARGET = 1.5


def targets(results):
    """One line per ulvs cell: its rate against the independent forwarder's, and its own user CPU
    per packet against that forwarder's, with whether each target is met."""
    lines = []
    for r in results:
        if not r["subject"].startswith("ulvs-"):
            continue
        cell = f"IPv{r['family']}, {r['frame_bytes']} B, {r['flows']} flow(s), {r['queues']} q"
        rate, user = r["ratio_to_l2fwd"], r["user_cpu_ratio_to_l2fwd"]
        verdict = lambda v, ok: "-" if v is None else f"{v:.2f} ({'met' if ok(v) else 'missed'})"
        lines.append(f"{r['subject']:<12} {cell:<32} rate/l2fwd {verdict(rate, lambda v: v >= RATE_TARGET):<14}"
                     f" user CPU/l2fwd {verdict(user, lambda v: v <= USER_CPU_TARGET)}")
    if lines:
        lines.insert(0, f"targets: rate ≥ {RATE_TARGET}× the independent forwarder's, own user CPU per packet "
                        f"≤ {USER_CPU_TARGET}× its")
    return "\n".join(lines)


def conn_metrics(out):
    path = os.path.join(out, "conn.csv")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return {row["metric"]: float(row["value"]) for row in csv.DictReader(f)}


def plot(out, results):
    if not shutil.which("gnuplot"):
        print("bench: gnuplot not found; no SVG", file=sys.stderr)
        return
    cells = sorted({(r["queues"], r["family"], r["frame_bytes"], r["flows"]) for r in results})
    subjects = [s for s in SUBJECTS if any(r["subject"] == s for r in results)]
    index = {(r["subject"], r["queues"], r["family"], r["frame_bytes"], r["flows"]): r for r in results}
    data = os.path.join(out, "plot.dat")
    with open(data, "w") as f:
        f.write("cell " + " ".join(subjects) + "\n")
        for q, family, fb, fl in cells:
            flows = {1: "1", 1000: "1k", 1000000: "1M"}.get(fl, str(fl))
            label = f'"{"v6 " if family == 6 else ""}{fb}B/{flows}fl/{q}q"'
            vals = [index.get((s, q, family, fb, fl)) for s in subjects]
            f.write(label + " " + " ".join(fmt(v and v["mpps"], ".4f").replace("-", "0") for v in vals) + "\n")
    script = f"""
set terminal svg size 1100,560 dynamic noenhanced font 'sans,11' background '#ffffff'
set output '{os.path.join(out, "results.svg")}'
set title 'ulvs end to end beside its baselines: median Mpps (veth, AF_XDP copy mode, 2 vCPUs)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel 'Mpps received by the sink'
set yrange [0:*]
set grid ytics
set key outside right top
set xtics rotate by -35 right offset 0,-0.2 nomirror
set bmargin 6
plot for [i=2:{len(subjects) + 1}] '{data}' using i:xtic(1) title columnheader(i)
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
    results = load(out)
    columns = ["subject", "family", "frame_bytes", "flows", "queues", "mpps", "gbps", "cpu_pct", "cpu_user", "cpu_sys",
               "cpu_softirq", "host_cpu_pct", "fwd_cpu_ns_per_pkt", "fwd_cpu_pct", "p50_us", "p99_us", "loss_pct",
               "fwd_user_ns_per_pkt", "ratio_to_l2fwd", "ratio_to_port", "cpu_ratio_to_l2fwd", "user_cpu_ratio_to_l2fwd",
               "gen_mpps", "gen_limited", "ratio_to_ipv4", "xdp_mode", "reps"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in results:
            w.writerow(["" if r[c] is None else (f"{r[c]:.4f}" if isinstance(r[c], float) else r[c]) for c in columns])
    conn = conn_metrics(out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"results": results, "connections": conn}, f, indent=1)
    print(table(results))
    summary = targets(results)
    if summary:
        print("\n" + summary)
    if conn:
        print(f"\nconnections: {conn.get('new_connections_per_s', 0):.0f} new/s; "
              f"{conn.get('tracked_connections', 0):.0f} tracked, VmRSS {conn.get('rss_before_kib', 0):.0f} -> "
              f"{conn.get('rss_after_kib', 0):.0f} KiB = {conn.get('bytes_per_connection', 0):.0f} B/connection")
        if "sync_on_connections_per_s" in conn:
            print(f"sync: {conn['sync_off_connections_per_s']:.0f} connections/s without, "
                  f"{conn['sync_on_connections_per_s']:.0f} with (x{conn.get('sync_on_off_ratio', 0):.3f}, target ≥ 0.8); "
                  f"{conn.get('sync_wire_bytes_per_connection', 0):.1f} sync bytes on the wire per connection")
    if results:
        plot(out, results)
    print(f"\nwritten: {out}/results.csv, results.json, raw.csv" + (", conn.csv" if conn else "")
          + (", results.svg" if os.path.exists(os.path.join(out, "results.svg")) else ""))


if __name__ == "__main__":
    main()
