//! Compiles the XDP programs in bpf/ — the filter (ulvs_filter.bpf.c, embedded by
//! src/io/xdp/object.rs) and the benchmark's MAC-rewrite XDP_TX baseline (ulvs_mac_tx.bpf.c,
//! embedded by src/io/xdp/mac_tx.rs) — into BPF objects in OUT_DIR, for `include_bytes!`. Needs clang with the BPF target and the
//! libbpf headers (Debian: `clang libbpf-dev`; asm/types.h comes from the multiarch include
//! directory, or `gcc-multilib`). `CLANG` overrides the compiler.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCES: [&str; 2] = ["bpf/ulvs_filter.bpf.c", "bpf/ulvs_mac_tx.bpf.c"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
        let name = source.trim_start_matches("bpf/").trim_end_matches(".c");
        let object = out.join(format!("{name}.o"));
        let status = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-I{}", multiarch_include()))
            .args(["-c", source, "-o"])
            .arg(&object)
            .status()
            .unwrap_or_else(|e| panic!("cannot run `{clang}` to build {source}: {e} (install clang and libbpf-dev)"));
        assert!(status.success(), "`{clang}` failed to compile {source}");
    }
}

/// Debian keeps asm/types.h under /usr/include/<triple>; `-target bpf` does not look there.
fn multiarch_include() -> String {
    let triple = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
            format!("{arch}-linux-gnu")
        });
    format!("/usr/include/{triple}")
}
