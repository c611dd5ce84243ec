//! `exp_f32`, `silu` and SwiGLU, SPEC section 6 step 4: one binary32 algorithm, shared bit for bit
//! by the simulator and every kernel (`kernels/nvfp4_numerics.cuh` spells the same steps with
//! `__fmaf_rn`, `__fmul_rn` and `__fadd_rn`).
//!
//! `exp_f32(x)`:
//! 1. NaN gives NaN; `x > 89` gives `+Inf`; `x < -104` gives `+0` (the true values overflow or
//!    round to zero there).
//! 2. Range reduction: `n = rint(x * log2 e)` as `fma(x, LOG2E, 1.5*2^23) - 1.5*2^23`, then
//!    `r = fma(-n, LN2_HI, x)` and `r = fma(-n, LN2_LO, r)` (Cody-Waite with a two-part ln 2), so
//!    `|r| <= ln2/2` (plus a rounding).
//! 3. `p = e^r` by the degree-7 Taylor polynomial in Horner form, every step one `fma`; its
//!    truncation error at `|r| = ln2/2` is `r^8/8! < 6e-9`, below a tenth of an ulp.
//! 4. Scaling by `2^n` as two exact power-of-two multiplies, `(p * 2^(n/2)) * 2^(n - n/2)`, so the
//!    intermediate never overflows and a subnormal result is rounded once.
//!
//! Measured error against f64 `exp` over every finite bf16 input (the inputs SwiGLU sees):
//! 0.73 ulp at worst (at x = -17); the `exp_error_over_all_bf16` test asserts at most 1 ulp.
//!
//! ```
//! use nvfp4_core::activation::{exp_f32, silu};
//! assert_eq!(exp_f32(0.0), 1.0);
//! assert_eq!(exp_f32(-200.0), 0.0);
//! assert_eq!(silu(0.0), 0.0);
//! ```

use crate::float::{fma_f32, pow2_normal};

/// `f32(log2 e)`.
pub const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B);
/// High part of ln 2: `f32(ln 2)`.
pub const LN2_HI: f32 = f32::from_bits(0x3F31_7218);
/// Low part of ln 2: `f32(ln 2 - LN2_HI)`.
pub const LN2_LO: f32 = f32::from_bits(0xB102_E308);
/// Taylor coefficients `f32(1/k!)` for k = 7 down to 2 (the `1/1!` and `1/0!` terms are 1).
pub const EXP_POLY: [f32; 6] = [
    f32::from_bits(0x3950_0D01), // 1/7!
    f32::from_bits(0x3AB6_0B61), // 1/6!
    f32::from_bits(0x3C08_8889), // 1/5!
    f32::from_bits(0x3D2A_AAAB), // 1/4!
    f32::from_bits(0x3E2A_AAAB), // 1/3!
    0.5,                         // 1/2!
];

/// `e^x` in binary32 by the algorithm in the module docs.
pub fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    if x.is_nan() {
        return x;
    }
    if x > 89.0 {
        return f32::INFINITY;
    }
    if x < -104.0 {
        return 0.0;
    }
    let n = fma_f32(x, LOG2E, MAGIC) - MAGIC;
    let r = fma_f32(-n, LN2_HI, x);
    let r = fma_f32(-n, LN2_LO, r);
    let mut p = EXP_POLY[0];
    for &c in &EXP_POLY[1..] {
        p = fma_f32(p, r, c);
    }
    p = fma_f32(p, r, 1.0);
    p = fma_f32(p, r, 1.0);
    let ni = n as i32; // in [-150, 129]
    let n1 = ni / 2;
    (p * pow2_normal(n1)) * pow2_normal(ni - n1)
}

/// `silu(v) = v / (1 + exp_f32(-v))`, literally (so `silu(-Inf)` is NaN, as in PyTorch).
pub fn silu(v: f32) -> f32 {
    v / (1.0 + exp_f32(-v))
}

/// The SwiGLU of one gate/up pair, in binary32, before rounding to bf16.
///
/// Plain (`limit == None`): `silu(g) * u`. Clamped with limit `L` (DeepSeek-V4 style, vLLM
/// `SiluAndMulWithClamp`): `silu(min(g, L)) * min(max(u, -L), L)`. The clamps propagate NaN (as
/// `torch.clamp` does), which IEEE `minNum` would not: `g > L` and `u > L`, `u < -L` are the only
/// tests, so a NaN passes through unchanged.
pub fn swiglu(g: f32, u: f32, limit: Option<f32>) -> f32 {
    match limit {
        None => silu(g) * u,
        Some(l) => {
            let g = if g > l { l } else { g };
            let u = if u > l {
                l
            } else if u < -l {
                -l
            } else {
                u
            };
            silu(g) * u
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Distance in units in the last place of binary32 between `got` and the exact `want`.
    fn ulp_error(got: f32, want: f64) -> f64 {
        if want == 0.0 {
            return if got == 0.0 { 0.0 } else { f64::INFINITY };
        }
        let w = want.abs();
        // ulp of binary32 at w (subnormals have a fixed spacing of 2^-149).
        let e = w.log2().floor().max(-126.0);
        let ulp = 2f64.powf(e - 23.0);
        (got as f64 - want).abs() / ulp
    }

    #[test]
    fn exp_error_over_all_bf16() {
        let mut worst = (0.0f64, 0.0f32);
        for bits in 0u16..=u16::MAX {
            let x = f32::from_bits((bits as u32) << 16);
            if !x.is_finite() {
                continue;
            }
            let want = (x as f64).exp();
            let got = exp_f32(x);
            if want > f32::MAX as f64 * (1.0 + 2f64.powi(-25)) {
                assert_eq!(got, f32::INFINITY, "exp({x:e})");
                continue;
            }
            let err = ulp_error(got, want);
            if err > worst.0 {
                worst = (err, x);
            }
        }
        std::println!(
            "exp_f32 worst error over all finite bf16: {:.3} ulp at x = {:e}",
            worst.0,
            worst.1
        );
        assert!(
            worst.0 <= 1.0,
            "exp_f32 error {} ulp at {:e}",
            worst.0,
            worst.1
        );
    }

    #[test]
    fn exp_special_values() {
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-0.0), 1.0);
        let near_max = exp_f32(88.72283);
        assert!(near_max.is_finite() && near_max > 3.4e38);
        assert_eq!(exp_f32(88.8), f32::INFINITY);
        // Smallest subnormal region: e^-103.3 ~ 1.4e-45 = 2^-149.
        assert_eq!(exp_f32(-103.3), f32::from_bits(1));
    }

    #[test]
    fn silu_and_swiglu() {
        assert!(silu(f32::NEG_INFINITY).is_nan());
        assert_eq!(silu(f32::INFINITY), f32::INFINITY);
        assert_eq!(silu(-100.0), -0.0);
        assert!((silu(1.0) as f64 - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-7);
        // Clamping: g above the limit is cut, u is cut both ways, NaN passes.
        assert_eq!(swiglu(10.0, 10.0, Some(7.0)), silu(7.0) * 7.0);
        assert_eq!(swiglu(1.0, -10.0, Some(7.0)), silu(1.0) * -7.0);
        assert!(swiglu(f32::NAN, 1.0, Some(7.0)).is_nan());
        assert!(swiglu(1.0, f32::NAN, Some(7.0)).is_nan());
        assert_eq!(swiglu(2.0, 3.0, None), silu(2.0) * 3.0);
    }
}
