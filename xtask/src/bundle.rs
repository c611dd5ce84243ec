//! `cargo xtask gpu-bundle`: package the GPU tests and benches for a machine without Rust.
//!
//! Builds the workspace's test executables (`cargo test --release --workspace --no-run`) and bench
//! executables (the same with `--benches`), reads their paths from cargo's JSON messages, and
//! copies them into `gpu-bundle/tests/` and `gpu-bundle/benches/` as `<package>--<target>`, next to
//! `run.sh` (see `xtask/src/run.sh`). The release profile strips debug info (symbols stay, for
//! readable backtraces); the task fails if the bundle would not fit the 64 MiB transfer limit
//! with room to spare.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{Result, repo_root};

/// The runner script placed at the bundle's root.
const RUN_SH: &str = include_str!("run.sh");
/// The most the bundle may weigh (the GPU machine takes 64 MiB in all).
const MAX_BYTES: u64 = 48 << 20;

/// One executable cargo built.
struct Executable {
    /// `<package>--<target>`, e.g. `nvfp4-cuda--smoke_gpu`.
    name: String,
    path: PathBuf,
    bench: bool,
}

pub(crate) fn run() -> Result<()> {
    let root = repo_root();
    let mut executables = build(&root, &[])?;
    executables.extend(build(&root, &["--benches"])?);
    // `--benches` also selects lib unit tests (libs have `bench = true`): keep each name once.
    executables.sort_by(|a, b| a.name.cmp(&b.name));
    executables.dedup_by(|a, b| a.name == b.name);

    let out = root.join("gpu-bundle");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::create_dir_all(out.join("tests"))?;
    fs::create_dir_all(out.join("benches"))?;
    let mut total = 0;
    for exe in &executables {
        let dest = out
            .join(if exe.bench { "benches" } else { "tests" })
            .join(&exe.name);
        total += fs::copy(&exe.path, &dest)?;
        println!(
            "{:>8} KiB  {}",
            fs::metadata(&dest)?.len() >> 10,
            dest.strip_prefix(&root)?.display()
        );
    }
    let run_sh = out.join("run.sh");
    fs::write(&run_sh, RUN_SH)?;
    set_executable(&run_sh)?;
    println!(
        "gpu-bundle/: {} test and {} bench executables, {:.1} MiB; on the GPU machine: ./run.sh [--sanitize] [--bench] [LOG_DIR]",
        executables.iter().filter(|e| !e.bench).count(),
        executables.iter().filter(|e| e.bench).count(),
        total as f64 / f64::from(1 << 20),
    );
    if total > MAX_BYTES {
        return Err(format!("the bundle is {total} bytes, over the {MAX_BYTES}-byte limit").into());
    }
    Ok(())
}

/// Runs `cargo test --release --workspace --no-run <extra>` and returns the executables built.
fn build(root: &Path, extra: &[&str]) -> Result<Vec<Executable>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "--release",
            "--workspace",
            "--exclude",
            "xtask",
            "--no-run",
        ])
        .args(["--message-format=json-render-diagnostics"])
        .args(extra)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("cargo test --no-run {extra:?} failed ({})", output.status).into());
    }
    let mut executables = Vec::new();
    for line in String::from_utf8(output.stdout)?.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let target = &message["target"];
        let kinds = target["kind"].as_array().cloned().unwrap_or_default();
        let bench = kinds.iter().any(|k| k == "bench");
        // Test harnesses, and benches whatever their harness; not build scripts or plain bins.
        if message["reason"] != "compiler-artifact"
            || !(bench || message["profile"]["test"] == true)
        {
            continue;
        }
        let Some(path) = message["executable"].as_str() else {
            continue;
        };
        // Unit tests of a lib are named after the kind, integration tests and benches after the target.
        let target_name = if kinds.iter().any(|k| k == "lib") {
            "lib"
        } else {
            target["name"].as_str().unwrap_or("unknown")
        };
        let package = Path::new(message["manifest_path"].as_str().unwrap_or_default())
            .parent()
            .and_then(Path::file_name)
            .map_or_else(|| "unknown".into(), |n| n.to_string_lossy().into_owned());
        executables.push(Executable {
            name: format!("{package}--{target_name}"),
            path: path.into(),
            bench,
        });
    }
    Ok(executables)
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}
