//! The benchmark harness keeps working: `scripts/bench.sh --smoke --family both` builds its
//! generator → director → sink topology, pushes a few thousand frames through ulvs (io = xdp and
//! packet) and the kernel, over IPv4 and over IPv6 (78-byte frames to an IPv6 VIP), and writes its
//! report. Asserts that frames went through for every subject and family and that the report is
//! complete, never a speed.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::lab::is_root;

/// Columns every results.csv has (the contract with whoever reads it).
const REQUIRED: [&str; 10] = [
    "subject",
    "family",
    "frame_bytes",
    "flows",
    "queues",
    "mpps",
    "cpu_pct",
    "ratio_to_l2fwd",
    "ratio_to_port",
    "ratio_to_ipv4",
];

fn rows(path: &PathBuf, required: &[&str]) -> Vec<HashMap<String, String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    for &column in required {
        assert!(header.contains(&column), "{} lacks column {column}: {header:?}", path.display());
    }
    lines.map(|line| header.iter().map(|h| h.to_string()).zip(line.split(',').map(str::to_owned)).collect()).collect()
}

#[test]
fn bench_smoke_forwards_frames_and_writes_the_report() {
    assert!(is_root(), "netns tests need root: run them through scripts/test.sh");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
    let _ = fs::remove_dir_all(&out);
    let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench.sh"))
        .args(["--smoke", "--family", "both"])
        .env("ULVS_BIN", env!("CARGO_BIN_EXE_ulvs"))
        .env("BENCH_OUT", &out)
        .output()
        .expect("run scripts/bench.sh");
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "bench.sh --smoke failed:\n{log}");

    let raw = rows(&out.join("raw.csv"), &["subject", "family", "frame_bytes", "received", "p99_us"]);
    for (family, frame_bytes) in [("4", "64"), ("6", "78")] {
        for subject in ["ulvs-xdp", "ulvs-packet", "kernel-forward"] {
            let row = raw
                .iter()
                .find(|r| r["subject"] == subject && r["family"] == family)
                .unwrap_or_else(|| panic!("no {subject} IPv{family} row:\n{log}"));
            assert_eq!(row["frame_bytes"], frame_bytes, "{subject} IPv{family}");
            let received: u64 = row["received"].parse().unwrap();
            assert!(received > 0, "no frame went through {subject} over IPv{family}:\n{log}");
            assert!(row["p99_us"].parse::<f64>().unwrap() > 0.0, "{subject} IPv{family} has no latency:\n{log}");
        }
    }
    let results = rows(&out.join("results.csv"), &REQUIRED);
    assert_eq!(results.len(), 6, "{results:?}");
    let ulvs6 = results.iter().find(|r| r["subject"] == "ulvs-xdp" && r["family"] == "6").expect("ulvs-xdp IPv6");
    assert!(ulvs6["ratio_to_ipv4"].parse::<f64>().unwrap() > 0.0, "IPv6 beside its IPv4 twin: {ulvs6:?}");
    assert!(
        results
            .iter()
            .any(|r| r["subject"] == "ulvs-xdp" && ["native/copy", "generic/copy"].contains(&r["xdp_mode"].as_str())),
        "{results:?}"
    );
    let json = fs::read_to_string(out.join("results.json")).unwrap();
    assert!(json.contains("\"ulvs-packet\""), "{json}");
    assert!(log.contains("ulvs-xdp"), "the table is printed:\n{log}");
}
