//! The block quantizer, SPEC section 3: 16 values and an encode scale in, one E4M3 scale byte and
//! 16 E2M1 codes out. Every kernel that quantizes follows this operation order.
//!
//! ```
//! use nvfp4_core::block::{quantize_block, dequantize_element};
//! // A block whose largest magnitude is 6 with gs = 1: scale 1.0 (0x38), elements on the grid.
//! let mut x = [0.0f32; 16];
//! x[0] = 6.0;
//! x[1] = -2.6;
//! let q = quantize_block(&x, 1.0);
//! assert_eq!(q.scale, 0x38);
//! assert_eq!(q.codes[0], 0x7); // 6
//! assert_eq!(q.codes[1], 0xD); // -3: 2.6 rounds up past the 2.5 midpoint
//! assert_eq!(dequantize_element(q.codes[1], q.scale, 1.0), -3.0);
//! ```

use crate::element::Element;
use crate::{e2m1, e4m3};

/// Elements per block.
pub const BLOCK: usize = 16;

/// `f32(1/6)`, bits `0x3E2AAAAB`.
pub const RCP6: f32 = f32::from_bits(0x3E2A_AAAB);

/// One quantized block: its scale byte and its 16 codes, one code per byte (unpacked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantBlock {
    /// E4M3 scale byte.
    pub scale: u8,
    /// E2M1 codes, element order.
    pub codes: [u8; BLOCK],
}

impl QuantBlock {
    /// The 8 packed bytes of the codes (element 2j in the low nibble).
    pub fn packed(&self) -> [u8; BLOCK / 2] {
        let mut out = [0u8; BLOCK / 2];
        for (j, o) in out.iter_mut().enumerate() {
            *o = e2m1::pack(self.codes[2 * j], self.codes[2 * j + 1]);
        }
        out
    }
}

/// The output scale `os` that multiplies each element before E2M1 encoding, for a decoded scale
/// `sq` and encode scale `gs`: `0` when `sq == 0`, else `min(1 / (sq * (1 / gs)), f32::MAX)`.
#[inline]
pub fn output_scale(sq: f32, gs: f32) -> f32 {
    if sq == 0.0 {
        return 0.0;
    }
    let os = 1.0 / (sq * (1.0 / gs));
    if os > f32::MAX { f32::MAX } else { os }
}

/// The scale byte of a block whose largest magnitude is `vmax`: `e4m3(min(gs * (vmax * RCP6), 448))`.
#[inline]
pub fn scale_byte(vmax: f32, gs: f32) -> u8 {
    let sf = gs * (vmax * RCP6);
    e4m3::encode(if sf > e4m3::MAX { e4m3::MAX } else { sf })
}

/// Quantizes one block of 16 values (bf16 or f32; widening bf16 to f32 is exact).
///
/// `gs` is the encode scale; callers validate it (finite, positive) once per tensor. The recipe:
/// a block containing NaN gives scale `0x7F` and zero codes; otherwise
/// `vmax = max |x_i|`, the scale byte from [`scale_byte`], `sq` its value, `os` from
/// [`output_scale`], and `c_i = e2m1(x_i * os)`.
pub fn quantize_block<T: Element>(x: &[T; BLOCK], gs: f32) -> QuantBlock {
    // vmax as the largest |x| bit pattern: for non-negative floats the bit order is the numeric
    // order, and any pattern above +Inf's is a NaN (the kernels take the same maximum).
    let mut max_bits = 0u32;
    for &v in x {
        let b = v.to_f32().to_bits() & 0x7FFF_FFFF;
        if b > max_bits {
            max_bits = b;
        }
    }
    if max_bits > 0x7F80_0000 {
        return QuantBlock {
            scale: e4m3::NAN,
            codes: [0; BLOCK],
        };
    }
    let scale = scale_byte(f32::from_bits(max_bits), gs);
    let os = output_scale(e4m3::decode(scale), gs);
    let mut codes = [0u8; BLOCK];
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = e2m1::encode(v.to_f32() * os);
    }
    QuantBlock { scale, codes }
}

/// Dequantizes one element: `(e2m1(code) * sq) * dec` in binary32 (the product in parentheses is
/// exact). Callers round the result once to their output type.
#[inline]
pub fn dequantize_element(code: u8, scale: u8, dec: f32) -> f32 {
    (e2m1::decode(code) * e4m3::decode(scale)) * dec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_with(vals: &[f32]) -> [f32; BLOCK] {
        let mut x = [0.0; BLOCK];
        x[..vals.len()].copy_from_slice(vals);
        x
    }

    #[test]
    fn zero_block() {
        let q = quantize_block(&[0.0; BLOCK], 7.0);
        assert_eq!(q.scale, 0);
        assert_eq!(q.codes, [0; BLOCK]);
        // -0.0 inputs keep their sign bit: 0 * -0.0 = -0.0 -> 0x8.
        let q = quantize_block(&[-0.0; BLOCK], 7.0);
        assert_eq!(q.codes, [8; BLOCK]);
    }

    #[test]
    fn nan_block() {
        let q = quantize_block(&block_with(&[1.0, f32::NAN, 3.0]), 1.0);
        assert_eq!(q.scale, 0x7F);
        assert_eq!(q.codes, [0; BLOCK]);
        assert!(dequantize_element(q.codes[0], q.scale, 1.0).is_nan());
    }

    #[test]
    fn inf_saturates() {
        // vmax = Inf -> sf = Inf -> min(.., 448) = 448 -> 0x7E; os = 1/(448 * 1) so Inf * os = Inf
        // encodes to 6, and 1.0 * os = 1/448 encodes to 0.
        let q = quantize_block(&block_with(&[f32::NEG_INFINITY, 1.0, 448.0 * 5.5]), 1.0);
        assert_eq!(q.scale, 0x7E);
        assert_eq!(q.codes[0], 0xF);
        assert_eq!(q.codes[1], 0x0);
        // 2464 * (1/448) = 5.5 > 5 -> 6.
        assert_eq!(q.codes[2], 0x7);
    }

    #[test]
    fn underflowing_scale() {
        // vmax = 1e-3, gs = 1: sf = 1e-3 / 6 = 1.67e-4 < 2^-10 = 9.77e-4 -> scale 0x00, codes zero.
        let q = quantize_block(&block_with(&[1e-3, -5e-4]), 1.0);
        assert_eq!(q.scale, 0x00);
        assert_eq!(q.codes[0], 0x0);
        assert_eq!(q.codes[1], 0x8);
    }

    #[test]
    fn static_scale_overflow_saturates() {
        // A runtime activation 100x its calibrated amax: sf = gs*vmax/6 clamps to 448, the element
        // saturates to 6, no NaN.
        let gs = 2688.0 / 1.0; // calibrated amax = 1
        let q = quantize_block(&block_with(&[100.0, 0.5]), gs);
        assert_eq!(q.scale, 0x7E);
        assert_eq!(q.codes[0], 0x7);
        // 0.5 * os, os = 1 / (448 * (1/2688)) = 6.0000005 in f32 -> 3.0000002 -> 3 (code 5)
        assert_eq!(q.codes[1], 0x5);
    }

    #[test]
    fn extreme_gs_caps_output_scale() {
        // gs = f32::MAX with a subnormal block: sq * (1/gs) underflows to 0, 1/0 = Inf, capped to
        // f32::MAX; the zero elements then stay 0 (0 * f32::MAX = 0) instead of 0 * Inf = NaN.
        let x = block_with(&[f32::from_bits(0x0000_0400), 0.0]);
        let q = quantize_block(&x, f32::MAX);
        assert_eq!(q.codes[1], 0x0);
        assert_ne!(q.scale, 0x7F);
    }

    #[test]
    fn midpoints_after_scaling() {
        // With vmax = 6 and gs = 1: 6 * RCP6 = 1.00000003 rounds to exactly 1.0 in f32, the scale
        // is E4M3 1.0 (0x38), os = 1, so the inputs reach the encoder unchanged, ties included.
        let x = block_with(&[6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 2.6, 5.2]);
        let q = quantize_block(&x, 1.0);
        assert_eq!(q.scale, 0x38);
        assert_eq!(
            &q.codes[..10],
            &[0x7, 0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x5, 0x7]
        );
    }
}
