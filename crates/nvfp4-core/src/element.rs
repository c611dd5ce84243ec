//! The element types the ops read and write: bf16 and f32, and the one rounding to bf16.

use half::bf16;

/// A value type that widens exactly to binary32 (quantizer and GEMM inputs).
pub trait Element: Copy + Send + Sync + 'static {
    /// Widens to binary32; exact for both implementations.
    fn to_f32(self) -> f32;
}

/// A value type that binary32 results are rounded into, once, to nearest even.
pub trait OutElement: Copy + Send + Sync + 'static {
    /// Rounds a binary32 value to this type (RNE; NaN stays NaN).
    fn from_f32(v: f32) -> Self;
}

impl Element for f32 {
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Element for bf16 {
    #[inline]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
}

impl OutElement for f32 {
    #[inline]
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl OutElement for bf16 {
    #[inline]
    fn from_f32(v: f32) -> Self {
        bf16_from_f32(v)
    }
}

/// The canonical quiet NaN that every op writes as bf16 (`0x7FC0`).
pub const BF16_NAN_BITS: u16 = 0x7FC0;

/// Rounds binary32 to bf16, to nearest even; every NaN becomes the canonical [`BF16_NAN_BITS`].
///
/// NaN payloads are not portable (an x86 multiply propagates its NaN operand, a GPU writes
/// `0x7FFFFFFF`), so the workspace fixes one NaN for every bf16 it writes: byte-for-byte
/// comparisons between the simulator and the kernels then hold for NaN results too.
#[inline]
pub fn bf16_from_f32(v: f32) -> bf16 {
    if v.is_nan() {
        bf16::from_bits(BF16_NAN_BITS)
    } else {
        bf16::from_f32(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_canonical_and_rounding_is_rne() {
        assert_eq!(bf16_from_f32(f32::from_bits(0xFFFF_FFFF)).to_bits(), 0x7FC0);
        assert_eq!(bf16_from_f32(f32::from_bits(0x7F80_0001)).to_bits(), 0x7FC0);
        assert_eq!(bf16_from_f32(f32::INFINITY).to_bits(), 0x7F80);
        // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to even (1.0).
        assert_eq!(bf16_from_f32(1.0 + 2f32.powi(-8)).to_bits(), 0x3F80);
        // 1 + 3 * 2^-8 is the midpoint between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        assert_eq!(bf16_from_f32(1.0 + 3.0 * 2f32.powi(-8)).to_bits(), 0x3F82);
        // Overflow past the rounding threshold gives Inf.
        assert_eq!(bf16_from_f32(f32::MAX).to_bits(), 0x7F80);
    }
}
