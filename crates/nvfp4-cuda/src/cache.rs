//! The on-disk CUBIN cache, keyed by a hash of everything that decides the CUBIN.
//!
//! The key is FNV-1a (64-bit) over the kernel source, every shared header, the full NVRTC option
//! list (which holds the architecture and the defines) and the NVRTC version, as DeepGEMM keys its
//! JIT cache. Files are `<dir>/<source>-<arch>-<key>.cubin` with the NVRTC log beside them
//! (`.log`), written to a temporary name and renamed, so a reader never sees half a file.
//!
//! The directory comes from [`KernelRegistry::with_cache_dir`](crate::KernelRegistry::with_cache_dir)
//! or the [`KERNEL_CACHE_ENV`] environment variable.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::sources::KernelSource;

/// The environment variable naming the on-disk kernel cache directory.
pub const KERNEL_CACHE_ENV: &str = "NVFP4_KERNEL_CACHE";

/// Bumped when the cache file layout changes, so old files are never read.
const FORMAT: &[u8] = b"nvfp4-cubin-v1";

/// 64-bit FNV-1a: tiny, dependency-free, and plenty for a cache key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(crate) const fn new() -> Self {
        Self(Self::OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    /// Writes the length first, so that ("ab", "c") and ("a", "bc") hash differently.
    pub(crate) fn write_field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    pub(crate) const fn finish(self) -> u64 {
        self.0
    }
}

/// The cache key of `source` compiled with `options` by NVRTC `nvrtc_version`.
pub(crate) fn cache_key(
    source: &KernelSource,
    headers: &[KernelSource],
    options: &[String],
    nvrtc_version: (u32, u32),
) -> u64 {
    let mut h = Fnv1a::new();
    h.write_field(FORMAT);
    h.write_field(source.name.as_bytes());
    h.write_field(source.text.as_bytes());
    for header in headers {
        h.write_field(header.name.as_bytes());
        h.write_field(header.text.as_bytes());
    }
    for option in options {
        h.write_field(option.as_bytes());
    }
    h.write(&nvrtc_version.0.to_le_bytes());
    h.write(&nvrtc_version.1.to_le_bytes());
    h.finish()
}

/// A directory of cached CUBINs and their NVRTC logs.
#[derive(Clone, Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The cache named by [`KERNEL_CACHE_ENV`], if it is set and not empty.
    pub(crate) fn from_env() -> Option<Self> {
        std::env::var_os(KERNEL_CACHE_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| Self::new(v.into()))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, source: &str, arch: Arch, key: u64, extension: &str) -> PathBuf {
        let stem = source.strip_suffix(".cu").unwrap_or(source);
        self.dir
            .join(format!("{stem}-{arch}-{key:016x}.{extension}"))
    }

    /// The cached CUBIN and log, or `None` if there is no entry.
    pub(crate) fn load(
        &self,
        source: &str,
        arch: Arch,
        key: u64,
    ) -> Result<Option<(Vec<u8>, String)>> {
        let cubin_path = self.path(source, arch, key, "cubin");
        let image = match fs::read(&cubin_path) {
            Ok(image) => image,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Cache {
                    path: cubin_path,
                    source,
                });
            }
        };
        // The log is written before the CUBIN, so it exists whenever the CUBIN does.
        let log_path = self.path(source, arch, key, "log");
        let log = fs::read_to_string(&log_path).map_err(|source| Error::Cache {
            path: log_path,
            source,
        })?;
        Ok(Some((image, log)))
    }

    /// Stores a CUBIN and its log.
    pub(crate) fn store(
        &self,
        source: &str,
        arch: Arch,
        key: u64,
        image: &[u8],
        log: &str,
    ) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(|source| Error::Cache {
            path: self.dir.clone(),
            source,
        })?;
        write_atomic(&self.path(source, arch, key, "log"), log.as_bytes())?;
        write_atomic(&self.path(source, arch, key, "cubin"), image)
    }
}

/// Writes `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|source| Error::Cache {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnv(bytes: &[u8]) -> u64 {
        let mut h = Fnv1a::new();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn fnv1a_reference_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn key_depends_on_every_input() {
        let a = KernelSource {
            name: "a.cu",
            text: "x",
        };
        let h = KernelSource {
            name: "h.cuh",
            text: "y",
        };
        let opts = vec!["--gpu-architecture=sm_90a".to_owned()];
        let base = cache_key(&a, &[h], &opts, (13, 0));
        assert_eq!(base, cache_key(&a, &[h], &opts, (13, 0)));
        let others = [
            cache_key(&KernelSource { text: "x ", ..a }, &[h], &opts, (13, 0)),
            cache_key(&KernelSource { name: "b.cu", ..a }, &[h], &opts, (13, 0)),
            cache_key(&a, &[KernelSource { text: "z", ..h }], &opts, (13, 0)),
            cache_key(&a, &[], &opts, (13, 0)),
            cache_key(
                &a,
                &[h],
                &["--gpu-architecture=sm_100a".to_owned()],
                (13, 0),
            ),
            cache_key(&a, &[h], &opts, (13, 1)),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        // Field boundaries count: "ab"+"c" is not "a"+"bc".
        let split = |x: &'static str, y: &'static str| {
            cache_key(&KernelSource { name: x, text: y }, &[], &[], (13, 0))
        };
        assert_ne!(split("ab", "c"), split("a", "bc"));
    }

    #[test]
    fn store_then_load() {
        let dir = std::env::temp_dir().join(format!("nvfp4-cache-test-{}", std::process::id()));
        let cache = DiskCache::new(dir.clone());
        assert!(
            cache
                .load("smoke.cu", Arch::SM90A, 7)
                .expect("readable")
                .is_none()
        );
        cache
            .store("smoke.cu", Arch::SM90A, 7, b"\x7fELF", "ptxas info")
            .expect("writable");
        let (image, log) = cache
            .load("smoke.cu", Arch::SM90A, 7)
            .expect("readable")
            .expect("stored");
        assert_eq!(
            (image.as_slice(), log.as_str()),
            (&b"\x7fELF"[..], "ptxas info")
        );
        assert!(
            cache
                .load("smoke.cu", Arch::SM100A, 7)
                .expect("readable")
                .is_none()
        );
        assert!(dir.join("smoke-sm_90a-0000000000000007.cubin").is_file());
        fs::remove_dir_all(dir).expect("cleanup");
    }
}
