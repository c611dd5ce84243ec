//! The CUDA sources, embedded in the binary at build time.
//!
//! Every `kernels/*.cu` is a [`KernelSource`] in [`KERNEL_SOURCES`]; every `kernels/*.cuh` is a
//! header in [`HEADERS`], handed to NVRTC in memory so that `#include "nvfp4_numerics.cuh"` works
//! with no file on disk at run time. Adding a file is one line in the list below; a unit test fails
//! while any file in `kernels/` is missing from the lists.
//!
//! Every source must compile with no caller defines (give tuning macros `#ifndef` defaults), since
//! `cargo xtask kernels` compiles each one as it is.
//!
//! ```
//! let smoke = nvfp4_cuda::kernel_source("smoke.cu")?;
//! assert!(smoke.text.contains("smoke_fill_u32"));
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use crate::error::{Error, Result};

/// One embedded file from `kernels/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSource {
    /// The file name in `kernels/`, e.g. `smoke.cu`; also the name NVRTC reports in its log.
    pub name: &'static str,
    /// The file's text.
    pub text: &'static str,
}

/// Embeds `kernels/<file>` as a [`KernelSource`].
macro_rules! embed {
    ($file:literal) => {
        KernelSource {
            name: $file,
            text: include_str!(concat!("../../../kernels/", $file)),
        }
    };
}

/// Every kernel source (`kernels/*.cu`), one per op family.
pub const KERNEL_SOURCES: &[KernelSource] = &[
    embed!("smoke.cu"),          // runtime self-test: fill, dynamic shared memory
    embed!("quantize.cu"),       // bf16 <-> NVFP4, amax (SPEC 2-4)
    embed!("gemm.cu"),           // NVFP4-weight GEMM on mma.sync (SPEC 5): small M, any sm_80+
    embed!("gemm_wgmma.cu"),     // NVFP4-weight GEMM on wgmma (SPEC 5): large M, sm_90a
    embed!("numerics_probe.cu"), // test probe: every header function, for the GPU tests
    embed!("bandwidth.cu"),      // bench probe: the device's read bandwidth
];

/// Every shared header (`kernels/*.cuh`), passed to each compilation as an in-memory include.
pub const HEADERS: &[KernelSource] = &[
    embed!("nvfp4_numerics.cuh"), // the SPEC numerics, mirroring nvfp4-core
    embed!("nvfp4_gemm.cuh"),     // the GEMM kernels' shared pieces: weight unpacking, cp.async
    embed!("nvfp4_tma.cuh"), // the wgmma GEMM's copy pipeline: bulk copies, mbarrier ring, work items
    embed!("nvfp4_launch.cuh"), // programmatic dependent launch: pdl_launch_dependents, pdl_wait
    embed!("nvfp4_quantize.cuh"), // the quantizer's device pieces: quantize.cu and gemm.cu's m1q
];

/// The kernel source called `name` (e.g. `"smoke.cu"`).
///
/// # Errors
/// [`Error::UnknownSource`] if no entry of [`KERNEL_SOURCES`] has that name.
pub fn kernel_source(name: &str) -> Result<&'static KernelSource> {
    KERNEL_SOURCES
        .iter()
        .find(|source| source.name == name)
        .ok_or_else(|| Error::UnknownSource(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn names_on_disk(extension: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| {
                entry
                    .expect("directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| {
                Path::new(name)
                    .extension()
                    .is_some_and(|ext| ext == extension)
            })
            .collect();
        names.sort();
        names
    }

    fn names_listed(list: &[KernelSource]) -> Vec<String> {
        let mut names: Vec<String> = list.iter().map(|s| s.name.to_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn every_kernel_file_is_listed() {
        assert_eq!(
            names_listed(KERNEL_SOURCES),
            names_on_disk("cu"),
            "kernels/*.cu and sources::KERNEL_SOURCES differ: add the file there"
        );
        assert_eq!(
            names_listed(HEADERS),
            names_on_disk("cuh"),
            "kernels/*.cuh and sources::HEADERS differ: add the file there"
        );
    }

    #[test]
    fn lookup_by_name() {
        assert_eq!(
            kernel_source("smoke.cu").map(|s| s.name).ok(),
            Some("smoke.cu")
        );
        assert!(
            matches!(kernel_source("nope.cu"), Err(Error::UnknownSource(name)) if name == "nope.cu")
        );
    }
}
