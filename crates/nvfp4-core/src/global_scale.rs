//! Per-tensor (global) scales, SPEC section 2.
//!
//! One number, two forms: the *encode* scale `gs` multiplies data on the way into the block
//! quantizer; the *decode* scale `dec = 1 / gs` is what ModelOpt checkpoints store
//! (`weight_scale_2`, `input_scale`) and what the GEMM epilogue multiplies by.
//!
//! ```
//! use nvfp4_core::global_scale::{gs_from_amax, dec_from_gs};
//! let gs = gs_from_amax(5.376).unwrap(); // 2688 / 5.376
//! assert_eq!(gs, 500.0);
//! assert_eq!(dec_from_gs(gs).unwrap(), 0.002);
//! assert_eq!(gs_from_amax(0.0).unwrap(), 1.0); // an expert that never fired
//! ```

use crate::error::{Error, Result};
use crate::float::abs_f32;

/// `448 * 6`: the largest E4M3 scale times the largest E2M1 magnitude.
pub const FP4_E4M3_RANGE: f32 = 2688.0;

/// Checks that a global scale (either form) is finite and strictly positive.
pub fn check_scale(what: &'static str, s: f32) -> Result<f32> {
    if s.is_finite() && s > 0.0 {
        Ok(s)
    } else {
        Err(Error::BadScale {
            what,
            bits: s.to_bits(),
        })
    }
}

/// The dynamic encode scale `gs = 2688 / amax` (one IEEE division).
///
/// `amax == 0` gives `gs = 1` (SPEC section 2). A NaN, infinite or negative `amax` is an error. A
/// tiny `amax` whose quotient overflows gives `f32::MAX` instead of infinity, so that `gs` stays
/// finite: this case is not fixed by SPEC, and capping keeps an all-subnormal tensor quantizable
/// (its blocks still use the full E2M1 range). The GPU amax kernel applies the same cap.
pub fn gs_from_amax(amax: f32) -> Result<f32> {
    if amax.is_nan() || amax.is_infinite() || amax < 0.0 {
        return Err(Error::BadScale {
            what: "amax",
            bits: amax.to_bits(),
        });
    }
    if amax == 0.0 {
        return Ok(1.0);
    }
    let gs = FP4_E4M3_RANGE / amax;
    Ok(if gs > f32::MAX { f32::MAX } else { gs })
}

/// The decode scale of a tensor with this encode scale: `dec = 1 / gs`, validated.
pub fn dec_from_gs(gs: f32) -> Result<f32> {
    check_scale("gs", gs)?;
    check_scale("dec", 1.0 / gs)
}

/// The encode scale of a tensor with this decode scale: `gs = 1 / dec`, validated.
pub fn gs_from_dec(dec: f32) -> Result<f32> {
    check_scale("dec", dec)?;
    check_scale("gs", 1.0 / dec)
}

/// `max |x|` over a slice of values already widened to f32, ignoring NaN (as CUDA `fmaxf` does):
/// a NaN block is still quantized to a NaN scale by the block recipe, the rest keep their scales.
/// Infinity is kept, so [`gs_from_amax`] then reports it.
pub fn amax_f32(xs: impl IntoIterator<Item = f32>) -> f32 {
    let mut m = 0.0f32;
    for x in xs {
        let a = abs_f32(x);
        if a > m {
            m = a;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_validation() {
        assert!(gs_from_amax(f32::NAN).is_err());
        assert!(gs_from_amax(f32::INFINITY).is_err());
        assert!(gs_from_amax(-1.0).is_err());
        assert_eq!(gs_from_amax(f32::from_bits(1)).unwrap(), f32::MAX);
        assert_eq!(gs_from_amax(2688.0).unwrap(), 1.0);
        assert!(dec_from_gs(0.0).is_err());
        assert!(dec_from_gs(f32::INFINITY).is_err());
        assert!(gs_from_dec(-0.5).is_err());
        // 1 / f32::MAX is subnormal but positive: allowed.
        assert!(dec_from_gs(f32::MAX).is_ok());
        assert_eq!(gs_from_dec(0.25).unwrap(), 4.0);
    }

    #[test]
    fn amax_ignores_nan_keeps_inf() {
        assert_eq!(amax_f32([1.0, -3.0, f32::NAN, 2.0]), 3.0);
        assert_eq!(amax_f32([1.0, f32::NEG_INFINITY]), f32::INFINITY);
        assert_eq!(amax_f32([-0.0, 0.0]), 0.0);
    }
}
