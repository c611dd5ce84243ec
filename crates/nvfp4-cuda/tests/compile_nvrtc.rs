//! NVRTC-only tests: compile every embedded kernel source to CUBIN, no GPU needed.
//!
//! Ignored by default, since plain `cargo test` machines may have no NVRTC; `cargo xtask kernels`
//! runs the same compilation in CI with the pinned NVRTC, and the GPU bundle runs these with
//! `--ignored`.

use nvfp4_cuda::{Arch, Error, KERNEL_SOURCES, KernelSource, compile};

#[test]
#[ignore = "needs NVRTC (run via cargo xtask kernels)"]
fn every_source_compiles_for_sm90a_and_sm100a() {
    for arch in [Arch::SM90A, Arch::SM100A] {
        for source in KERNEL_SOURCES {
            let cubin = compile(source, arch, &[]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                cubin.image.get(..4),
                Some(&b"\x7fELF"[..]),
                "{} for {arch}: not a CUBIN",
                source.name
            );
            // The pinned NVRTC 13.0.88 (`cargo xtask kernels`, CI) always writes the ptxas report;
            // some system NVRTC 13.0 builds leave the log empty for some sources. Where there is a
            // log, it must hold the report.
            let kernels = cubin.resources();
            assert!(
                !kernels.is_empty() || cubin.log.trim().is_empty(),
                "{} for {arch}: no ptxas report in\n{}",
                source.name,
                cubin.log
            );
            for k in kernels {
                assert_eq!(k.arch, arch.target(), "{}", k.function);
                assert!(k.registers > 0, "{}: {k:?}", k.function);
            }
        }
    }
}

/// `-DNVFP4_NVRTC` and the caller's defines reach the preprocessor.
#[test]
#[ignore = "needs NVRTC (run via cargo xtask kernels)"]
fn defines_reach_the_source() {
    let source = KernelSource {
        name: "defines.cu",
        text: "#if !defined(NVFP4_NVRTC) || TILE != 3\n#error defines_missing\n#endif\n\
               extern \"C\" __global__ void k(int* p) { *p = TILE; }\n",
    };
    compile(&source, Arch::SM90A, &[("TILE", "3")]).unwrap_or_else(|e| panic!("{e}"));
    match compile(&source, Arch::SM90A, &[("TILE", "4")]) {
        Err(Error::Compile {
            kernel,
            arch,
            options,
            log,
        }) => {
            assert_eq!((kernel.as_str(), arch), ("defines.cu", "sm_90a"));
            assert!(options.contains(&"-DTILE=4".to_owned()), "{options:?}");
            assert!(log.contains("defines_missing"), "{log}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}
