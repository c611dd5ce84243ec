//! Per-kernel resource usage, read from the ptxas report in the NVRTC log.
//!
//! With `--ptxas-options=-v`, NVRTC's program log carries, for every entry function:
//!
//! ```text
//! ptxas info    : Compiling entry function 'smoke_fill_u32' for 'sm_90a'
//! ptxas info    : Function properties for smoke_fill_u32
//! ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//! ptxas info    : Used 8 registers, used 1 barriers, 256 bytes smem
//! ```
//!
//! [`parse_ptxas_log`] turns that into one [`KernelResources`] per entry function. Non-entry
//! (`__noinline__`) functions get "Function properties" blocks too; they are skipped.
//!
//! ```
//! let log = "ptxas info    : Compiling entry function 'k' for 'sm_90a'\n\
//!            ptxas info    : Function properties for k\n\
//!            ptxas         .     0 bytes stack frame, 4 bytes spill stores, 8 bytes spill loads\n\
//!            ptxas info    : Used 40 registers, used 1 barriers, 512 bytes smem\n";
//! let k = &nvfp4_cuda::parse_ptxas_log(log)[0];
//! assert_eq!((k.registers, k.shared_bytes, k.spill_store_bytes, k.spill_load_bytes), (40, 512, 4, 8));
//! ```

/// What ptxas reports for one entry function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelResources {
    /// The entry function's (possibly mangled) name.
    pub function: String,
    /// The target ptxas compiled it for, e.g. `sm_90a`.
    pub arch: String,
    /// Registers per thread.
    pub registers: u32,
    /// Named barriers used.
    pub barriers: u32,
    /// Static shared memory per block, in bytes (dynamic shared memory is not known to ptxas).
    pub shared_bytes: u32,
    /// Stack frame per thread, in bytes.
    pub stack_bytes: u32,
    /// Bytes of register spill stores per thread.
    pub spill_store_bytes: u32,
    /// Bytes of register spill loads per thread.
    pub spill_load_bytes: u32,
}

/// Extracts the resources of every entry function from a ptxas verbose log, in log order.
///
/// Lines it does not recognise are ignored, so a log without `-v` output gives an empty list.
pub fn parse_ptxas_log(log: &str) -> Vec<KernelResources> {
    let mut kernels: Vec<KernelResources> = Vec::new();
    // The function named by the last "Function properties for" line: the stack/spill line after
    // it belongs to that function, which may be a non-entry function.
    let mut properties_of: Option<String> = None;
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("ptxas").map(str::trim_start) else {
            continue;
        };
        if let Some(info) = rest.strip_prefix("info") {
            let info = info.trim_start().trim_start_matches(':').trim();
            if let Some(rest) = info.strip_prefix("Compiling entry function '") {
                // Compiling entry function 'NAME' for 'ARCH'
                let mut quoted = rest.split('\'');
                let function = quoted.next().unwrap_or_default().to_owned();
                let arch = quoted.nth(1).unwrap_or_default().to_owned();
                kernels.push(KernelResources {
                    function,
                    arch,
                    ..KernelResources::default()
                });
            } else if let Some(name) = info.strip_prefix("Function properties for ") {
                properties_of = Some(name.trim().to_owned());
            } else if info.starts_with("Used ") {
                // Used N registers, used N barriers, N bytes smem, N bytes cmem[0]
                let Some(k) = kernels.last_mut() else {
                    continue;
                };
                k.registers = field(info, "registers").unwrap_or(0);
                k.barriers = field(info, "barriers").unwrap_or(0);
                k.shared_bytes = field(info, "bytes smem").unwrap_or(0);
            }
        } else if let Some(frame) = rest.strip_prefix('.') {
            // .     N bytes stack frame, N bytes spill stores, N bytes spill loads
            let owner = properties_of.take();
            if let Some(k) = kernels
                .iter_mut()
                .rev()
                .find(|k| owner.as_ref() == Some(&k.function))
            {
                k.stack_bytes = field(frame, "bytes stack frame").unwrap_or(0);
                k.spill_store_bytes = field(frame, "bytes spill stores").unwrap_or(0);
                k.spill_load_bytes = field(frame, "bytes spill loads").unwrap_or(0);
            }
        }
    }
    kernels
}

/// The number before `unit` in a comma-separated list such as
/// `Used 8 registers, used 1 barriers, 256 bytes smem`.
fn field(text: &str, unit: &str) -> Option<u32> {
    text.split(',')
        .map(str::trim)
        .find_map(|part| part.strip_suffix(unit))
        .and_then(|number| number.trim().rsplit(' ').next())
        .and_then(|number| number.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from NVRTC 13.0.88 (`--ptxas-options=-v`, sm_90a) on a two-kernel source.
    const LOG_TWO_KERNELS: &str = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'other' for 'sm_90a'
ptxas info    : Function properties for other
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 13 registers, used 0 barriers
ptxas info    : Compile time = 4.807 ms
ptxas info    : Compiling entry function 'smoke_fill_u32' for 'sm_90a'
ptxas info    : Function properties for smoke_fill_u32
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 8 registers, used 1 barriers, 256 bytes smem
ptxas info    : Compile time = 2.195 ms
";

    /// Captured from NVRTC 13.0.88 with `--maxrregcount=32`: a spilling template kernel and a
    /// `__noinline__` device function whose properties come after the entry's.
    const LOG_SPILLS: &str = "\
ptxas info    : Overriding maximum register limit 256 for '_Z6spillyILi64EEvPfPKf' with  32 of maxrregcount option
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z6spillyILi64EEvPfPKf' for 'sm_90a'
ptxas info    : Function properties for _Z6spillyILi64EEvPfPKf
ptxas         .     9728 bytes stack frame, 18444 bytes spill stores, 22372 bytes spill loads
ptxas info    : Used 32 registers, used 1 barriers, 9728 bytes cumulative stack size
ptxas info    : Compile time = 3062.308 ms
ptxas info    : Function properties for _Z6helperPfi
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
";

    /// Captured from NVRTC 13.0.88 for sm_80, where the "Used" line also reports constant memory.
    const LOG_SM80: &str = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'smoke_fill_u32' for 'sm_80'
ptxas info    : Function properties for smoke_fill_u32
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 8 registers, used 1 barriers, 256 bytes smem, 368 bytes cmem[0]
ptxas info    : Compile time = 0.999 ms
";

    fn kernel(function: &str, arch: &str, regs: u32, barriers: u32, smem: u32) -> KernelResources {
        KernelResources {
            function: function.into(),
            arch: arch.into(),
            registers: regs,
            barriers,
            shared_bytes: smem,
            ..KernelResources::default()
        }
    }

    #[test]
    fn two_kernels() {
        assert_eq!(
            parse_ptxas_log(LOG_TWO_KERNELS),
            [
                kernel("other", "sm_90a", 13, 0, 0),
                kernel("smoke_fill_u32", "sm_90a", 8, 1, 256)
            ]
        );
    }

    #[test]
    fn spills_belong_to_the_entry_not_the_helper() {
        let spilly = KernelResources {
            stack_bytes: 9728,
            spill_store_bytes: 18444,
            spill_load_bytes: 22372,
            ..kernel("_Z6spillyILi64EEvPfPKf", "sm_90a", 32, 1, 0)
        };
        assert_eq!(parse_ptxas_log(LOG_SPILLS), [spilly]);
    }

    #[test]
    fn constant_memory_is_not_shared_memory() {
        assert_eq!(
            parse_ptxas_log(LOG_SM80),
            [kernel("smoke_fill_u32", "sm_80", 8, 1, 256)]
        );
    }

    #[test]
    fn logs_without_ptxas_output() {
        assert!(parse_ptxas_log("").is_empty());
        assert!(
            parse_ptxas_log("smoke.cu(3): warning #177-D: variable \"x\" was declared").is_empty()
        );
    }
}
