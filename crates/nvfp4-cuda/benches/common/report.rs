//! Where benches write their results, and a small CSV writer.
//!
//! # The plot CSV
//!
//! `cargo xtask plot <csv> <out.svg>` reads a CSV whose header names (at least, in any order) the
//! columns of [`PLOT_HEADER`]:
//!
//! | column    | meaning                                                                 |
//! |-----------|-------------------------------------------------------------------------|
//! | `shape`   | the problem, e.g. `N=7168,K=2048` or `gate_up`: one panel per shape·mode |
//! | `mode`    | a variant of it, e.g. `static` / `dynamic`, `graph`, or `-`             |
//! | `m`       | M (tokens), a positive integer: the x axis (log2)                        |
//! | `impl`    | the implementation, e.g. `nvfp4`, `cublas_bf16`, `roofline`: one series |
//! | `time_us` | the time in microseconds, positive: the y axis (log10)                   |
//!
//! Extra columns are kept in the file and ignored by the plot. A later row with the same
//! shape, mode, impl and m replaces an earlier one, so [`Csv::append`] can re-run a bench.
//!
//! ```ignore
//! let mut csv = Csv::create("gemm.csv", &PLOT_HEADER)?;
//! csv.row(&[&"N=7168,K=2048", &"-", &128, &"cublas_bf16", &format!("{:.3}", t_us)])?;
//! println!("wrote {}", csv.path().display());
//! ```

use std::fmt::Display;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The columns `cargo xtask plot` reads.
pub const PLOT_HEADER: [&str; 5] = ["shape", "mode", "m", "impl", "time_us"];

/// The environment variable naming the folder benches write results to.
pub const OUT_ENV: &str = "NVFP4_BENCH_OUT";

/// The folder bench results go to: `$NVFP4_BENCH_OUT` if set; else `nvfp4-bench/` in cargo's
/// target folder (`$CARGO_TARGET_DIR`, or `target/` of the nearest ancestor of the current folder
/// holding a `Cargo.lock`, which is the workspace under `cargo bench`); else `./nvfp4-bench/` (a
/// bench executable run from the GPU bundle). Not created here; [`Csv`] creates it.
pub fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(OUT_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("nvfp4-bench");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match cwd.ancestors().find(|d| d.join("Cargo.lock").is_file()) {
        Some(root) => root.join("target").join("nvfp4-bench"),
        None => cwd.join("nvfp4-bench"),
    }
}

/// A CSV file being written row by row; each row is flushed, so an interrupted bench keeps what
/// it measured.
pub struct Csv {
    path: PathBuf,
    columns: usize,
    file: File,
}

impl Csv {
    /// Creates (or truncates) `name` under [`out_dir`] (an absolute `name` is used as is) and
    /// writes the header line.
    ///
    /// # Errors
    /// If the folder or file cannot be created or written.
    pub fn create(name: impl AsRef<Path>, header: &[&str]) -> io::Result<Self> {
        let path = resolve(name.as_ref())?;
        let mut csv = Self {
            columns: header.len(),
            file: File::create(&path)?,
            path,
        };
        csv.write_line(header)?;
        Ok(csv)
    }

    /// Opens `name` under [`out_dir`] for appending: writes the header if the file is new or
    /// empty, else checks that its first line is this header.
    ///
    /// # Errors
    /// If the file cannot be opened or written, or it starts with another header.
    pub fn append(name: impl AsRef<Path>, header: &[&str]) -> io::Result<Self> {
        let path = resolve(name.as_ref())?;
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut first = String::new();
        BufReader::new(File::open(&path)?).read_line(&mut first)?;
        let first = first.trim_end_matches(['\r', '\n']);
        if first.is_empty() {
            writeln!(file, "{}", join(header))?;
        } else if first != join(header) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} starts with header `{first}`, not `{}`",
                    path.display(),
                    join(header)
                ),
            ));
        }
        Ok(Self {
            path,
            columns: header.len(),
            file,
        })
    }

    /// Writes one row; fields are quoted where they hold a comma, quote or line break.
    ///
    /// # Errors
    /// If the row has another number of fields than the header, or the write fails.
    pub fn row(&mut self, fields: &[&dyn Display]) -> io::Result<()> {
        if fields.len() != self.columns {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: a row of {} fields under a {}-column header",
                    self.path.display(),
                    fields.len(),
                    self.columns
                ),
            ));
        }
        let fields: Vec<String> = fields.iter().map(ToString::to_string).collect();
        self.write_line(&fields)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_line<S: AsRef<str>>(&mut self, fields: &[S]) -> io::Result<()> {
        writeln!(self.file, "{}", join(fields))?;
        self.file.flush()
    }
}

fn resolve(name: &Path) -> io::Result<PathBuf> {
    let path = out_dir().join(name); // `join` keeps an absolute `name` as is
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    Ok(path)
}

/// One CSV line (RFC 4180 quoting), without the line break.
fn join<S: AsRef<str>>(fields: &[S]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            let f = f.as_ref();
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_owned()
            }
        })
        .collect();
    quoted.join(",")
}
