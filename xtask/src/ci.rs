//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.
//!
//! | step      | command                                                      | what it proves                    |
//! |-----------|--------------------------------------------------------------|-----------------------------------|
//! | `fmt`     | `cargo fmt --all -- --check`                                 | the code is formatted             |
//! | `clippy`  | `cargo clippy --workspace --all-targets -- -D warnings`      | no lint in code, tests, benches   |
//! | `no_std`  | `cargo build -p nvfp4-core --target x86_64-unknown-none`     | nvfp4-core builds without `std`   |
//! | `doc`     | `RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps` | the docs build without a warning  |
//! | `test`    | `cargo test --workspace`                                     | every test and doctest passes     |
//! | `kernels` | `cargo xtask kernels`                                        | every kernel compiles with NVRTC  |
//!
//! Each step prints a header line, then the command's own output (cargo's `test result:` lines
//! stay on stdout); the task ends with a one-line summary of the step times. Before the `no_std`
//! step the task checks that the target's `core` library is installed (`rustc --print
//! target-libdir`) and, if not, runs `rustup target add x86_64-unknown-none`. The `kernels` step
//! runs this executable again as `xtask kernels`, which installs the pinned NVRTC wheel into
//! `.cache/` on first use. `.ci/run` installs the toolchain components, then calls this task.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, repo_root};

/// The bare-metal target that proves `nvfp4-core` needs no `std`.
const NO_STD_TARGET: &str = "x86_64-unknown-none";

/// What runs a step.
enum Program {
    /// `cargo` with these arguments.
    Cargo(&'static [&'static str]),
    /// This executable with this task (`cargo xtask <task>`, without rebuilding).
    Xtask(&'static str),
}

/// One check.
struct Step {
    name: &'static str,
    program: Program,
    /// An environment variable the command needs, shown in the header.
    env: Option<(&'static str, &'static str)>,
    /// A target whose standard library must be installed before the command runs.
    target: Option<&'static str>,
}

const STEPS: [Step; 6] = [
    Step {
        name: "fmt",
        program: Program::Cargo(&["fmt", "--all", "--", "--check"]),
        env: None,
        target: None,
    },
    Step {
        name: "clippy",
        program: Program::Cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        env: None,
        target: None,
    },
    Step {
        name: "no_std",
        program: Program::Cargo(&["build", "-p", "nvfp4-core", "--target", NO_STD_TARGET]),
        env: None,
        target: Some(NO_STD_TARGET),
    },
    Step {
        name: "doc",
        program: Program::Cargo(&["doc", "--workspace", "--no-deps"]),
        env: Some(("RUSTDOCFLAGS", "-D warnings")),
        target: None,
    },
    Step {
        name: "test",
        program: Program::Cargo(&["test", "--workspace"]),
        env: None,
        target: None,
    },
    Step {
        name: "kernels",
        program: Program::Xtask("kernels"),
        env: None,
        target: None,
    },
];

impl Step {
    /// The command as a person would type it.
    fn display(&self) -> String {
        let env = self
            .env
            .map(|(k, v)| format!("{k}=\"{v}\" "))
            .unwrap_or_default();
        match self.program {
            Program::Cargo(args) => format!("{env}cargo {}", args.join(" ")),
            Program::Xtask(task) => format!("{env}cargo xtask {task}"),
        }
    }

    fn command(&self, root: &Path) -> Result<Command> {
        let mut cmd = match self.program {
            Program::Cargo(args) => {
                let mut cmd = Command::new(cargo());
                cmd.args(args);
                cmd
            }
            Program::Xtask(task) => {
                let mut cmd = Command::new(env::current_exe()?);
                cmd.arg(task);
                cmd
            }
        };
        if let Some((k, v)) = self.env {
            cmd.env(k, v);
        }
        cmd.current_dir(root).stdin(Stdio::null());
        Ok(cmd)
    }
}

pub(crate) fn run() -> Result<()> {
    let root = repo_root();
    let total = STEPS.len();
    let start = Instant::now();
    let mut times: Vec<(&str, Duration)> = Vec::with_capacity(total);
    for (i, step) in STEPS.iter().enumerate() {
        let n = i + 1;
        println!("==> ci {n}/{total} {}: {}", step.name, step.display());
        let step_start = Instant::now();
        if let Err(e) = run_step(step, &root) {
            return Err(format!(
                "ci FAILED at step {n}/{total} ({}) after {}: {e}",
                step.name,
                secs(start.elapsed())
            )
            .into());
        }
        times.push((step.name, step_start.elapsed()));
    }
    let steps: Vec<String> = times
        .iter()
        .map(|(name, t)| format!("{name} {}", secs(*t)))
        .collect();
    println!(
        "ci passed: {total} of {total} steps in {} ({})",
        secs(start.elapsed()),
        steps.join(", ")
    );
    Ok(())
}

/// Runs one step: installs its target if it names one, then runs its command.
fn run_step(step: &Step, root: &Path) -> Result<()> {
    if let Some(target) = step.target {
        ensure_target(target)?;
    }
    let status = step
        .command(root)?
        .status()
        .map_err(|e| format!("could not start `{}`: {e}", step.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", step.display()).into())
    }
}

/// The cargo that runs this task (cargo sets `CARGO` for `cargo run`), else `cargo` on the path.
fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn secs(t: Duration) -> String {
    format!("{:.1}s", t.as_secs_f64())
}

/// Makes sure the standard library of `target` is installed: it is when the folder that
/// `rustc --print target-libdir --target <target>` names holds a `libcore-*.rlib`. If not, installs
/// it with `rustup target add`.
fn ensure_target(target: &str) -> Result<()> {
    if target_installed(target)? {
        return Ok(());
    }
    println!("{target} is not installed: rustup target add {target}");
    let status = Command::new("rustup")
        .args(["target", "add", target])
        .stdin(Stdio::null())
        .status()
        .map_err(|e| {
            format!("the {target} target is missing and rustup could not be run to add it: {e}")
        })?;
    if !status.success() {
        return Err(format!("rustup target add {target} failed ({status})").into());
    }
    if !target_installed(target)? {
        return Err(format!("rustup added {target}, but rustc still finds no core library").into());
    }
    Ok(())
}

fn target_installed(target: &str) -> Result<bool> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running rustc --print target-libdir: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustc does not know the target {target} ({})",
            output.status
        )
        .into());
    }
    let dir = String::from_utf8(output.stdout)?;
    let Ok(entries) = fs::read_dir(dir.trim()) else {
        return Ok(false);
    };
    Ok(entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("libcore-") && name.ends_with(".rlib")
    }))
}
