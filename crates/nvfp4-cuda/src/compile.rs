//! Compiling a kernel source to CUBIN with NVRTC.
//!
//! This is the one place that calls NVRTC's C API (through cudarc's `nvrtc::sys` / `result`
//! layers: cudarc's safe `compile_ptx` gives PTX only and takes no in-memory headers). Every
//! compilation gets the shared headers of [`HEADERS`] in memory and the options of
//! [`compile_options`]; the result carries the CUBIN and NVRTC's log, whose ptxas report
//! [`Cubin::resources`] reads.
//!
//! ```no_run
//! use nvfp4_cuda::{compile, kernel_source, Arch};
//!
//! let cubin = compile(kernel_source("smoke.cu")?, Arch::SM90A, &[("SMOKE_ADD", "5u")])?;
//! for k in cubin.resources() {
//!     println!("{}: {} registers, {} spill stores", k.function, k.registers, k.spill_store_bytes);
//! }
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```
//!
//! A missing NVRTC is [`Error::NvrtcUnavailable`]: cudarc's loader panics when it finds no library,
//! so this module asks cudarc's fallible probe (`nvrtc::sys::is_culib_present`) first.

use std::ffi::{CString, c_char, c_int};
use std::sync::OnceLock;

use cudarc::nvrtc::{result, sys};

use crate::arch::Arch;
use crate::error::{Error, NvrtcError, Result};
use crate::ptxas::{KernelResources, parse_ptxas_log};
use crate::sources::{HEADERS, KernelSource};

/// Options every compilation gets, after `--gpu-architecture=<target>` and before the caller's
/// defines.
///
/// - `--fmad=false`: no `a * b + c` is contracted into an FMA, so kernels follow the SPEC's
///   operation order; an explicit `fmaf` / `__fmaf_rn` stays fused.
/// - `--ftz=false --prec-div=true --prec-sqrt=true`: IEEE subnormals, division and square root
///   (NVRTC's defaults, stated so the numerics never depend on them).
/// - `-default-device`: functions without an execution-space annotation are `__device__`.
/// - `-lineinfo`: source lines for compute-sanitizer and profilers; it does not change the code.
/// - `--ptxas-options=-v`: ptxas writes registers, shared memory and spills into the program log.
/// - `-DNVFP4_NVRTC`: lets headers leave out host-only code.
pub const BASE_OPTIONS: &[&str] = &[
    "-std=c++17",
    "--fmad=false",
    "--ftz=false",
    "--prec-div=true",
    "--prec-sqrt=true",
    "-default-device",
    "-lineinfo",
    "--ptxas-options=-v",
    "-DNVFP4_NVRTC",
];

/// The NVRTC version this project pins (`cargo xtask kernels` installs 13.0.88).
pub const NVRTC_PINNED: (u32, u32) = (13, 0);

/// The oldest NVRTC that [`compile`] calls into: older libraries lack symbols cudarc binds (and
/// cudarc panics on a missing symbol).
pub const NVRTC_MIN: (u32, u32) = (12, 0);

/// A compiled kernel source.
#[derive(Clone, Debug)]
pub struct Cubin {
    /// The kernel source's name, e.g. `smoke.cu`.
    pub source: &'static str,
    /// The architecture it was compiled for.
    pub arch: Arch,
    /// Every option passed to NVRTC.
    pub options: Vec<String>,
    /// The CUBIN image, ready for `cuModuleLoadData`.
    pub image: Vec<u8>,
    /// NVRTC's program log: warnings and the ptxas report.
    pub log: String,
}

impl Cubin {
    /// Registers, shared memory and spills of every entry function, from the ptxas report.
    pub fn resources(&self) -> Vec<KernelResources> {
        parse_ptxas_log(&self.log)
    }
}

/// The full NVRTC option list for `arch` and the caller's `-D` defines (`("NAME", "VALUE")`; an
/// empty value gives `-DNAME`).
///
/// # Errors
/// [`Error::InvalidDefine`] if a name is not a C identifier or a value contains a NUL byte.
pub fn compile_options(arch: Arch, defines: &[(&str, &str)]) -> Result<Vec<String>> {
    let mut options = vec![format!("--gpu-architecture={}", arch.target())];
    options.extend(BASE_OPTIONS.iter().map(|o| (*o).to_owned()));
    for &(name, value) in defines {
        let invalid = |reason| Error::InvalidDefine {
            name: name.to_owned(),
            reason,
        };
        let mut chars = name.chars();
        if !chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            return Err(invalid("a macro name starts with a letter or '_'"));
        }
        if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid("a macro name holds only letters, digits and '_'"));
        }
        if value.contains('\0') {
            return Err(invalid("the value contains a NUL byte"));
        }
        options.push(if value.is_empty() {
            format!("-D{name}")
        } else {
            format!("-D{name}={value}")
        });
    }
    Ok(options)
}

/// The version of the NVRTC library the dynamic loader finds, as `(major, minor)`.
///
/// # Errors
/// [`Error::NvrtcUnavailable`] if no NVRTC library can be loaded.
pub fn nvrtc_version() -> Result<(u32, u32)> {
    if !nvrtc_present() {
        return Err(Error::NvrtcUnavailable);
    }
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: the library is present (checked above), so cudarc's loader does not panic; both
    // pointers are to live local integers that NVRTC writes.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| nvrtc_err("nvrtcVersion", e))?;
    Ok((major.max(0) as u32, minor.max(0) as u32))
}

/// Compiles `source` for `arch` with the caller's `-D` defines and returns the CUBIN and the log.
///
/// # Errors
/// - [`Error::NvrtcUnavailable`] if NVRTC cannot be loaded, [`Error::NvrtcTooOld`] if it predates
///   [`NVRTC_MIN`];
/// - [`Error::Compile`] with NVRTC's log if it rejects the source or the options;
/// - [`Error::InvalidDefine`] as [`compile_options`].
pub fn compile(source: &KernelSource, arch: Arch, defines: &[(&str, &str)]) -> Result<Cubin> {
    let options = compile_options(arch, defines)?;
    let compile_error = |log: String| Error::Compile {
        kernel: source.name.to_owned(),
        arch: arch.target(),
        options: options.clone(),
        log,
    };
    let (major, minor) = nvrtc_version()?;
    if major < NVRTC_MIN.0 {
        return Err(Error::NvrtcTooOld { major, minor });
    }

    // NVRTC may keep pointers to these strings, so they are declared before `program` and so
    // dropped after it.
    let c_string = |text: &str| {
        CString::new(text)
            .map_err(|_| compile_error("a NUL byte in the source or a header".to_owned()))
    };
    let text = c_string(source.text)?;
    let name = c_string(source.name)?;
    let header_texts = HEADERS
        .iter()
        .map(|h| c_string(h.text))
        .collect::<Result<Vec<_>>>()?;
    let header_names = HEADERS
        .iter()
        .map(|h| c_string(h.name))
        .collect::<Result<Vec<_>>>()?;
    let header_text_ptrs: Vec<*const c_char> = header_texts.iter().map(|s| s.as_ptr()).collect();
    let header_name_ptrs: Vec<*const c_char> = header_names.iter().map(|s| s.as_ptr()).collect();

    let mut raw = std::ptr::null_mut();
    // SAFETY: every pointer is to a NUL-terminated string alive until `program` is destroyed, and
    // the two header arrays both hold `HEADERS.len()` entries.
    unsafe {
        sys::nvrtcCreateProgram(
            &mut raw,
            text.as_ptr(),
            name.as_ptr(),
            HEADERS.len() as c_int,
            header_text_ptrs.as_ptr(),
            header_name_ptrs.as_ptr(),
        )
    }
    .result()
    .map_err(|e| nvrtc_err("nvrtcCreateProgram", e))?;
    let program = Program(raw);

    // SAFETY: `program` is live; every option is NUL-free (the defines were checked above).
    let status = unsafe { result::compile_program(program.0, &options) };
    let log = program.log()?;
    if let Err(status) = status {
        return Err(compile_error(if log.trim().is_empty() {
            status.to_string()
        } else {
            log
        }));
    }
    let image = program.cubin()?;
    Ok(Cubin {
        source: source.name,
        arch,
        options,
        image,
        log,
    })
}

/// Whether the dynamic loader finds an NVRTC library (probed once).
fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: loading libnvrtc runs only NVIDIA's library initialisers; the probe tries the same
    // names, in the same order, that cudarc's loader uses for every later call.
    *PRESENT.get_or_init(|| unsafe { sys::is_culib_present() })
}

fn nvrtc_err(call: &'static str, source: NvrtcError) -> Error {
    Error::Nvrtc { call, source }
}

/// An NVRTC program, destroyed on drop.
struct Program(sys::nvrtcProgram);

impl Program {
    fn log(&self) -> Result<String> {
        // SAFETY: `self.0` is a live program.
        let raw = unsafe { result::get_program_log(self.0) }
            .map_err(|e| nvrtc_err("nvrtcGetProgramLog", e))?;
        let bytes: Vec<u8> = raw
            .iter()
            .map(|&c| c as u8)
            .take_while(|&b| b != 0)
            .collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn cubin(&self) -> Result<Vec<u8>> {
        let mut size = 0usize;
        // SAFETY: `self.0` is a live, compiled program; `size` is a live local.
        unsafe { sys::nvrtcGetCUBINSize(self.0, &mut size) }
            .result()
            .map_err(|e| nvrtc_err("nvrtcGetCUBINSize", e))?;
        let mut image = vec![0u8; size];
        // SAFETY: `image` holds the `size` bytes NVRTC said it will write.
        unsafe { sys::nvrtcGetCUBIN(self.0, image.as_mut_ptr().cast()) }
            .result()
            .map_err(|e| nvrtc_err("nvrtcGetCUBIN", e))?;
        Ok(image)
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from nvrtcCreateProgram and is destroyed only here. A failure can
        // only leak the program, so it is ignored.
        let _ = unsafe { result::destroy_program(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_in_order() {
        let options =
            compile_options(Arch::SM90A, &[("BLOCK_M", "128"), ("USE_TMA", "")]).expect("valid");
        assert_eq!(options[0], "--gpu-architecture=sm_90a");
        assert_eq!(&options[1..=BASE_OPTIONS.len()], BASE_OPTIONS);
        assert_eq!(
            &options[BASE_OPTIONS.len() + 1..],
            ["-DBLOCK_M=128", "-DUSE_TMA"]
        );
        assert!(options.iter().any(|o| o == "--fmad=false"));
        assert_eq!(
            compile_options(Arch::SM100A, &[]).expect("valid")[0],
            "--gpu-architecture=sm_100a"
        );
    }

    #[test]
    fn bad_defines_are_errors() {
        for (name, value) in [
            ("", "1"),
            ("1X", "1"),
            ("A-B", "1"),
            ("A B", ""),
            ("OK", "a\0b"),
        ] {
            assert!(
                matches!(
                    compile_options(Arch::SM90A, &[(name, value)]),
                    Err(Error::InvalidDefine { .. })
                ),
                "{name:?}={value:?}"
            );
        }
    }
}
