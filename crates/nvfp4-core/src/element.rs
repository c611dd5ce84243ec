//! The element types the ops read and write: bf16 and f32.

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
        bf16::from_f32(v)
    }
}
