//! GPU architectures and their NVRTC targets.
//!
//! A CUBIN is built for the exact device it runs on, so the arch-specific targets (`sm_90a`,
//! `sm_100a`, ...) are used wherever they exist: they unlock wgmma / tcgen05 and cost nothing here.
//! The mapping is a pure table, so it is tested without a GPU.
//!
//! ```
//! use nvfp4_cuda::Arch;
//!
//! assert_eq!(Arch::from_compute_capability(9, 0)?.target(), "sm_90a");
//! assert_eq!(Arch::from_compute_capability(8, 6)?.target(), "sm_86");
//! assert_eq!(Arch::SM100A.to_string(), "sm_100a");
//! # Ok::<(), nvfp4_cuda::Error>(())
//! ```

use std::fmt;

use crate::error::{Error, Result};

/// Every supported compute capability and its `--gpu-architecture` value.
///
/// sm_80 and newer; from sm_90 on, the arch-specific (`a`) target.
const TARGETS: &[(u32, u32, &str)] = &[
    (8, 0, "sm_80"),
    (8, 6, "sm_86"),
    (8, 7, "sm_87"),
    (8, 8, "sm_88"),
    (8, 9, "sm_89"),
    (9, 0, "sm_90a"),
    (10, 0, "sm_100a"),
    (10, 3, "sm_103a"),
    (11, 0, "sm_110a"),
    (12, 0, "sm_120a"),
    (12, 1, "sm_121a"),
];

/// A supported GPU architecture (compute capability `major.minor`, sm_80 or newer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arch {
    major: u32,
    minor: u32,
    target: &'static str,
}

impl Arch {
    /// Hopper (H100, H200): `sm_90a`.
    pub const SM90A: Arch = Arch {
        major: 9,
        minor: 0,
        target: "sm_90a",
    };
    /// Blackwell datacenter (B200, GB200): `sm_100a`.
    pub const SM100A: Arch = Arch {
        major: 10,
        minor: 0,
        target: "sm_100a",
    };

    /// The architecture of a device with this compute capability.
    ///
    /// # Errors
    /// [`Error::UnsupportedArch`] for anything older than 8.0 or not in the table of known
    /// architectures (which matches what NVRTC 13.0 can target).
    pub fn from_compute_capability(major: u32, minor: u32) -> Result<Self> {
        TARGETS
            .iter()
            .find(|&&(ma, mi, _)| (ma, mi) == (major, minor))
            .map(|&(major, minor, target)| Arch {
                major,
                minor,
                target,
            })
            .ok_or(Error::UnsupportedArch { major, minor })
    }

    /// Compute capability major version.
    pub fn major(self) -> u32 {
        self.major
    }

    /// Compute capability minor version.
    pub fn minor(self) -> u32 {
        self.minor
    }

    /// The NVRTC `--gpu-architecture` value: `sm_90a` for 9.0, `sm_100a` for 10.0, `sm_86` for 8.6.
    pub fn target(self) -> &'static str {
        self.target
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.target())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_of_known_arches() {
        let cases = [
            ((8, 0), "sm_80"),
            ((8, 6), "sm_86"),
            ((8, 9), "sm_89"),
            ((9, 0), "sm_90a"),
            ((10, 0), "sm_100a"),
            ((12, 0), "sm_120a"),
        ];
        for ((major, minor), target) in cases {
            let arch = Arch::from_compute_capability(major, minor).expect("supported");
            assert_eq!(arch.target(), target, "{major}.{minor}");
            assert_eq!((arch.major(), arch.minor()), (major, minor));
        }
        assert_eq!(Arch::from_compute_capability(9, 0).ok(), Some(Arch::SM90A));
        assert_eq!(
            Arch::from_compute_capability(10, 0).ok(),
            Some(Arch::SM100A)
        );
    }

    #[test]
    fn every_table_entry_round_trips() {
        for &(major, minor, target) in TARGETS {
            let arch = Arch::from_compute_capability(major, minor).expect("in table");
            assert_eq!(arch.target(), target);
            let digits = format!("sm_{major}{minor}");
            assert!(target.starts_with(&digits), "{target} vs {digits}");
        }
    }

    #[test]
    fn old_and_unknown_arches_are_errors() {
        for (major, minor) in [(7, 5), (7, 0), (6, 1), (9, 1), (13, 0), (0, 0)] {
            assert!(matches!(
                Arch::from_compute_capability(major, minor),
                Err(Error::UnsupportedArch { major: ma, minor: mi }) if (ma, mi) == (major, minor)
            ));
        }
    }
}
