//! `cargo xtask kernels`: compile every embedded kernel source with the pinned NVRTC.
//!
//! 1. Find NVRTC 13.0.88: `NVFP4_NVRTC_LIB_DIR` if set, else `.cache/nvrtc-13.0.88/`, which is
//!    filled on first use with `pip install --target` of the PyPI wheel `nvidia-cuda-nvrtc==13.0.88`
//!    (it holds `nvidia/cu13/lib/libnvrtc.so.13` and `libnvrtc-builtins.so.13.0`).
//! 2. cudarc opens NVRTC with `dlopen` by name, and NVRTC opens its builtins library the same way,
//!    so the task re-runs itself with that directory first on `LD_LIBRARY_PATH`. The cache also
//!    gets a `libnvrtc.so` link, the first name cudarc tries, so no other NVRTC on the system wins.
//! 3. The child checks that the loaded NVRTC is 13.0, compiles every source in
//!    `nvfp4_cuda::KERNEL_SOURCES` for every architecture of [`CAPABILITIES`] through
//!    `nvfp4_cuda::compile` (the runtime's own code path) and prints the ptxas report as a table.
//!    Any failure exits non-zero.
//! 4. With `--cubins DIR`, it also writes each CUBIN to
//!    `DIR/<source>-<arch>[-<define>=<value>].cubin`, for reading the SASS (`cuobjdump -sass`, from the PyPI wheel `nvidia-cuda-cuobjdump`).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nvfp4_cuda::linear::SMALL_SHARED_GEMM_DEFINES;
use nvfp4_cuda::{
    Arch, KERNEL_SOURCES, KernelResources, KernelSource, NVRTC_PINNED, compile, kernel_source,
    nvrtc_version,
};

use crate::{Result, repo_root};

/// The pinned NVRTC wheel.
const WHEEL: &str = "nvidia-cuda-nvrtc==13.0.88";
/// Where the wheel is installed, relative to the repository root (git-ignored).
const CACHE: &str = ".cache/nvrtc-13.0.88";
/// The libraries' folder inside the installed wheel.
const WHEEL_LIB: &str = "nvidia/cu13/lib";
/// The libraries the wheel must provide.
const LIBS: [&str; 2] = ["libnvrtc.so.13", "libnvrtc-builtins.so.13.0"];
/// Set by the user to use an NVRTC 13.0 library folder instead of the wheel.
const LIB_DIR_ENV: &str = "NVFP4_NVRTC_LIB_DIR";
/// Set on the re-executed child: the folder its `LD_LIBRARY_PATH` starts with.
const CHILD_ENV: &str = "NVFP4_XTASK_NVRTC_DIR";
/// The compute capabilities CI compiles for: Hopper and Blackwell (sm_90a, sm_100a), and for the
/// portable mma.sync path the oldest it supports and the common inference GPUs with 99 KB of
/// shared memory per block (sm_80: A100; sm_89: L4, L40S; sm_120a: RTX Blackwell).
const CAPABILITIES: [(u32, u32); 5] = [(9, 0), (10, 0), (8, 0), (8, 9), (12, 0)];
/// The devices of 99 KB per block among them, for which the runtime compiles `gemm.cu` with
/// `nvfp4_cuda::linear::SMALL_SHARED_GEMM_DEFINES`: compiled that way too.
const SMALL_SHARED: [(u32, u32); 2] = [(8, 9), (12, 0)];

/// `args`: the task's arguments after `kernels`: none, or `--cubins DIR`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let cubin_dir = match args {
        [] => None,
        [flag, dir] if flag == "--cubins" => Some(PathBuf::from(dir)),
        _ => {
            return Err(
                format!("kernels: expected no arguments or --cubins DIR, got {args:?}").into(),
            );
        }
    };
    if let Some(dir) = env::var_os(CHILD_ENV) {
        return compile_all(Path::new(&dir), cubin_dir.as_deref());
    }
    let lib_dir = match env::var_os(LIB_DIR_ENV) {
        Some(dir) if Path::new(&dir).join(LIBS[0]).is_file() => PathBuf::from(dir),
        Some(dir) => {
            return Err(format!("{LIB_DIR_ENV}={} holds no {}", dir.display(), LIBS[0]).into());
        }
        None => install_wheel(&repo_root())?,
    };
    let mut search_path = OsString::from(&lib_dir);
    if let Some(old) = env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
        search_path.push(":");
        search_path.push(old);
    }
    let status = Command::new(env::current_exe()?)
        .args(env::args_os().skip(1))
        .env("LD_LIBRARY_PATH", search_path)
        .env(CHILD_ENV, &lib_dir)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kernel compilation failed ({status})").into())
    }
}

/// The wheel's library folder, installing the wheel first if the cache does not hold it.
fn install_wheel(root: &Path) -> Result<PathBuf> {
    let cache = root.join(CACHE);
    let lib_dir = cache.join(WHEEL_LIB);
    if !LIBS.iter().all(|lib| lib_dir.join(lib).is_file()) {
        eprintln!("installing {WHEEL} into {}", cache.display());
        // Install next to the cache and rename, so an interrupted install leaves no half cache.
        let partial = cache.with_extension("partial");
        let _ = fs::remove_dir_all(&partial);
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
            ])
            .args(["--disable-pip-version-check", "--no-input", "--target"])
            .arg(&partial)
            .arg(WHEEL)
            .status()
            .map_err(|e| format!("running python3 -m pip (needed to fetch {WHEEL}): {e}"))?;
        if !status.success() {
            return Err(format!("pip install {WHEEL} failed ({status})").into());
        }
        if let Some(missing) = LIBS
            .iter()
            .find(|lib| !partial.join(WHEEL_LIB).join(lib).is_file())
        {
            return Err(format!("the {WHEEL} wheel has no {WHEEL_LIB}/{missing}").into());
        }
        let _ = fs::remove_dir_all(&cache);
        fs::rename(&partial, &cache)?;
    }
    // cudarc tries `libnvrtc.so` before `libnvrtc.so.13`: make that name resolve here too.
    let link = lib_dir.join("libnvrtc.so");
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(LIBS[0], &link)?;
    }
    Ok(lib_dir)
}

/// Compiles every kernel source for every CI architecture and prints the resource table; writes
/// the CUBINs into `cubin_dir` if given.
fn compile_all(lib_dir: &Path, cubin_dir: Option<&Path>) -> Result<()> {
    let version = nvrtc_version()?;
    if version != NVRTC_PINNED {
        return Err(format!(
            "expected NVRTC {}.{} from {}, but the loader found {}.{}",
            NVRTC_PINNED.0,
            NVRTC_PINNED.1,
            lib_dir.display(),
            version.0,
            version.1
        )
        .into());
    }
    println!(
        "NVRTC {}.{} from {}",
        version.0,
        version.1,
        lib_dir.display()
    );

    let arches = CAPABILITIES
        .iter()
        .map(|&(major, minor)| Arch::from_compute_capability(major, minor))
        .collect::<Result<Vec<_>, _>>()?;
    let gemm = kernel_source("gemm.cu")?;
    let small_shared = SMALL_SHARED
        .iter()
        .map(|&(major, minor)| Arch::from_compute_capability(major, minor))
        .collect::<Result<Vec<_>, _>>()?;
    let defines = SMALL_SHARED_GEMM_DEFINES;
    // Every source as it is, then the defined variants.
    let builds: Vec<Build> = arches
        .iter()
        .flat_map(|&arch| KERNEL_SOURCES.iter().map(move |s| (arch, s, &[][..])))
        .chain(small_shared.iter().map(|&arch| (arch, gemm, defines)))
        .collect();
    if let Some(dir) = cubin_dir {
        fs::create_dir_all(dir)?;
    }
    let mut rows: Vec<(String, KernelResources)> = Vec::new();
    let mut failures = 0;
    for &(arch, source, defines) in &builds {
        let label = defines
            .iter()
            .fold(source.name.to_owned(), |label, (name, value)| {
                format!("{label} {name}={value}")
            });
        match compile(source, arch, defines) {
            Ok(cubin) => {
                // Compiler warnings: everything in the log that is not the ptxas report.
                for line in cubin
                    .log
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with("ptxas"))
                {
                    eprintln!("{label} for {arch}: {line}");
                }
                if let Some(dir) = cubin_dir {
                    let stem = source.name.trim_end_matches(".cu");
                    let name = defines
                        .iter()
                        .fold(format!("{stem}-{arch}"), |name, (define, value)| {
                            format!("{name}-{define}={value}")
                        });
                    fs::write(dir.join(format!("{name}.cubin")), &cubin.image)?;
                }
                let kernels = cubin.resources();
                if kernels.is_empty() {
                    eprintln!("warning: {label} for {arch}: no ptxas report in the log");
                }
                rows.extend(kernels.into_iter().map(|k| (label.clone(), k)));
            }
            Err(e) => {
                eprintln!("{e}\n");
                failures += 1;
            }
        }
    }
    print_table(&rows);
    println!(
        "{} of {} compilations succeeded",
        builds.len() - failures,
        builds.len()
    );
    if failures > 0 {
        return Err(format!("{failures} kernel compilation(s) failed").into());
    }
    Ok(())
}

/// One compilation: the architecture, the source and its defines.
type Build<'a> = (Arch, &'a KernelSource, &'a [(&'a str, &'a str)]);

fn print_table(rows: &[(String, KernelResources)]) {
    let header = [
        "source",
        "kernel",
        "arch",
        "regs",
        "smem B",
        "stack B",
        "spill st B",
        "spill ld B",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|(source, k)| {
            [
                source.clone(),
                k.function.clone(),
                k.arch.clone(),
                k.registers.to_string(),
                k.shared_bytes.to_string(),
                k.stack_bytes.to_string(),
                k.spill_store_bytes.to_string(),
                k.spill_load_bytes.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |row: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            // Text columns align left, numbers right.
            if i < 3 {
                out += &format!("{cell:<w$}  ");
            } else {
                out += &format!("{cell:>w$}  ");
            }
        }
        out.trim_end().to_owned()
    };
    println!("{}", line(&header.map(str::to_owned)));
    println!("{}", line(&widths.map(|w| "-".repeat(w))));
    for row in &cells {
        println!("{}", line(row));
    }
}
