//! Project tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! | task         | what it does                                                                 |
//! |--------------|------------------------------------------------------------------------------|
//! | `ci`         | every CI check in order, stopping at the first failure: fmt, clippy, the     |
//! |              | `no_std` build of nvfp4-core, docs, tests, then `kernels` (see `ci.rs`)      |
//! | `kernels`    | fetches the pinned NVRTC 13.0.88 if needed, compiles every embedded kernel    |
//! |              | source for sm_90a, sm_100a, sm_80, sm_89 and sm_120a, prints registers /     |
//! |              | shared memory / spills; `--cubins DIR` also writes the CUBINs there          |
//! | `gpu-bundle` | builds the test and bench executables in release and packs them, with        |
//! |              | `run.sh`, into `gpu-bundle/` for a GPU machine without Rust                  |
//! | `plot`       | draws a bench CSV (`shape,mode,m,impl,time_us`) as an SVG: time against M,   |
//! |              | one panel per shape and mode, one line per impl (see `plot.rs`)              |

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bundle;
mod ci;
mod kernels;
mod plot;

/// Errors are reported as text and end the task.
type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci           run every CI check, stopping at the first failure: cargo fmt --check, clippy
               -D warnings, nvfp4-core built for x86_64-unknown-none (no_std), cargo doc
               -D warnings, cargo test --workspace, then the kernels task (.ci/run calls this)
  kernels [--cubins DIR]
               compile every kernel source for sm_90a, sm_100a, sm_80, sm_89 and sm_120a with
               NVRTC 13.0.88 and print each kernel's registers, shared memory and spills
               (installs the NVRTC wheel into .cache/ on first use; NVFP4_NVRTC_LIB_DIR=<dir>
               uses another NVRTC instead); --cubins DIR also writes each CUBIN into DIR
               (for cuobjdump -sass)
  gpu-bundle   build the release test and bench executables into gpu-bundle/ with run.sh
  plot <csv> <out.svg> [--title TEXT]
               draw a bench CSV with columns shape,mode,m,impl,time_us as an SVG: one panel
               per (shape, mode), x = M (log2), y = time in us (log10), one line per impl";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("kernels") => kernels::run(&args[1..]),
        Some("gpu-bundle") => bundle::run(),
        Some("plot") => plot::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of `xtask/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
