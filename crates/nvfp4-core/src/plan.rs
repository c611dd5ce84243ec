//! Shape inference and buffer planning: everything an engine needs to size its buffers before it
//! allocates anything. Constructors validate (block multiples, zero sizes, parameter ranges) and
//! every size is computed with overflow checks.
//!
//! ```
//! use nvfp4_core::plan::{GemmShape, MoeShape, GemmMode};
//! let g = GemmShape::new(4, 2048, 7168).unwrap();
//! assert_eq!(g.w_codes_len().unwrap(), 2048 * 7168 / 2);
//! assert!(GemmShape::new(4, 2048, 7160).is_err()); // K % 16 != 0
//!
//! let moe = MoeShape::new(64, 7168, 2048, 256, 8, GemmMode::W4A4).unwrap();
//! let plan = moe.plan().unwrap();
//! assert_eq!(plan.routed_rows, 64 * 8);
//! ```

use crate::block::BLOCK;
use crate::error::{Error, Result};
use crate::layout::{ScaleLayout, grouped_worst_case_rows, round_up};

fn mul(a: usize, b: usize, what: &'static str) -> Result<usize> {
    a.checked_mul(b).ok_or(Error::Overflow { what })
}

fn check_block_multiple(dim: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        Err(Error::ZeroDim { dim })
    } else if !value.is_multiple_of(BLOCK) {
        Err(Error::NotBlockMultiple { dim, value })
    } else {
        Ok(())
    }
}

fn check_nonzero(dim: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        Err(Error::ZeroDim { dim })
    } else {
        Ok(())
    }
}

/// Whether GEMM activations are NVFP4 (quantized on the way in) or stay bf16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmMode {
    /// NVFP4 weights and NVFP4 activations (SPEC section 5, "W4A4").
    W4A4,
    /// NVFP4 weights, bf16 activations ("W4A16").
    W4A16,
}

/// The shape of one GEMM `D[M, N] = A[M, K] . W[N, K]^T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmShape {
    /// Rows of A and D (tokens).
    pub m: usize,
    /// Rows of W, columns of D (output features).
    pub n: usize,
    /// The reduction dimension (input features), a multiple of 16.
    pub k: usize,
}

impl GemmShape {
    /// Validates and builds a shape: all dimensions positive, `k % 16 == 0`, sizes within `usize`.
    pub fn new(m: usize, n: usize, k: usize) -> Result<Self> {
        check_nonzero("M", m)?;
        check_nonzero("N", n)?;
        check_block_multiple("K", k)?;
        let s = GemmShape { m, n, k };
        s.out_len()?;
        s.w_codes_len()?;
        s.a_codes_len()?;
        mul(s.m, s.k, "A elements")?;
        Ok(s)
    }

    /// Scales per row, `K / 16`.
    pub fn k_scales(&self) -> usize {
        self.k / BLOCK
    }

    /// Bytes of packed A codes, `M * K / 2`.
    pub fn a_codes_len(&self) -> Result<usize> {
        mul(self.m, self.k / 2, "A codes")
    }

    /// Bytes of A scales in `layout`.
    pub fn a_scales_len(&self, layout: ScaleLayout) -> Result<usize> {
        layout.len(self.m, self.k_scales())
    }

    /// Bytes of packed W codes, `N * K / 2`.
    pub fn w_codes_len(&self) -> Result<usize> {
        mul(self.n, self.k / 2, "W codes")
    }

    /// Bytes of W scales in `layout`.
    pub fn w_scales_len(&self, layout: ScaleLayout) -> Result<usize> {
        layout.len(self.n, self.k_scales())
    }

    /// Elements of D, `M * N`.
    pub fn out_len(&self) -> Result<usize> {
        mul(self.m, self.n, "D")
    }
}

/// The shape of one MoE layer (SPEC section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MoeShape {
    /// The most tokens one forward call may carry (T).
    pub max_tokens: usize,
    /// Hidden size H, a multiple of 16.
    pub hidden: usize,
    /// Expert intermediate size I, a multiple of 16.
    pub intermediate: usize,
    /// Experts E held by this layer (global ids `0..E`).
    pub experts: usize,
    /// Routed experts per token (k).
    pub top_k: usize,
    /// Whether GEMM inputs are quantized.
    pub mode: GemmMode,
}

impl MoeShape {
    /// Validates and builds a shape: everything positive, H and I multiples of 16,
    /// `top_k <= experts`, and every buffer size of [`MoeShape::plan`] within `usize`.
    pub fn new(
        max_tokens: usize,
        hidden: usize,
        intermediate: usize,
        experts: usize,
        top_k: usize,
        mode: GemmMode,
    ) -> Result<Self> {
        check_nonzero("max_tokens", max_tokens)?;
        check_block_multiple("hidden", hidden)?;
        check_block_multiple("intermediate", intermediate)?;
        check_nonzero("experts", experts)?;
        check_nonzero("top_k", top_k)?;
        if top_k > experts {
            return Err(Error::InvalidParam {
                what: "top_k (larger than experts)",
                value: top_k,
            });
        }
        if i32::try_from(experts).is_err() {
            return Err(Error::InvalidParam {
                what: "experts (beyond i32)",
                value: experts,
            });
        }
        let s = MoeShape {
            max_tokens,
            hidden,
            intermediate,
            experts,
            top_k,
            mode,
        };
        s.plan()?;
        Ok(s)
    }

    /// Every buffer size of the layer.
    pub fn plan(&self) -> Result<MoePlan> {
        let (t, h, i, e) = (
            self.max_tokens,
            self.hidden,
            self.intermediate,
            self.experts,
        );
        let routed = mul(t, self.top_k, "routed rows")?;
        let scale_rows = grouped_worst_case_rows(routed, e)?;
        let padded_cols =
            |k: usize| round_up(k / BLOCK, 4).ok_or(Error::Overflow { what: "scales" });
        let two_i = mul(2, i, "2I")?;
        let quantized = self.mode == GemmMode::W4A4;
        Ok(MoePlan {
            routed_rows: routed,
            grouped_scale_rows: scale_rows,
            x_len: mul(t, h, "x")?,
            topk_len: routed,
            w13_codes_len: mul(mul(e, two_i, "w13 rows")?, h / 2, "w13 codes")?,
            w13_scales_len: mul(mul(e, two_i, "w13 rows")?, h / BLOCK, "w13 scales")?,
            w2_codes_len: mul(mul(e, h, "w2 rows")?, i / 2, "w2 codes")?,
            w2_scales_len: mul(mul(e, h, "w2 rows")?, i / BLOCK, "w2 scales")?,
            l1_in_codes_len: if quantized {
                mul(routed, h / 2, "L1 input codes")?
            } else {
                0
            },
            l1_in_scales_len: if quantized {
                mul(scale_rows, padded_cols(h)?, "L1 input scales")?
            } else {
                0
            },
            l1_in_bf16_len: if quantized {
                0
            } else {
                mul(routed, h, "L1 input")?
            },
            l1_out_len: mul(routed, two_i, "L1 output")?,
            act_codes_len: if quantized {
                mul(routed, i / 2, "activation codes")?
            } else {
                0
            },
            act_scales_len: if quantized {
                mul(scale_rows, padded_cols(i)?, "activation scales")?
            } else {
                0
            },
            act_bf16_len: if quantized {
                0
            } else {
                mul(routed, i, "activation")?
            },
            l2_out_len: mul(routed, h, "L2 output")?,
            out_len: mul(t, h, "output")?,
        })
    }
}

/// Buffer sizes of one MoE layer, in elements of each buffer's type (bytes for codes and scales,
/// bf16 elements for activations, i32/f32 for routing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MoePlan {
    /// Routed rows at most, `T * k`.
    pub routed_rows: usize,
    /// Scale rows of the grouped layout at most, `roundup(T*k, 128) + E*128`.
    pub grouped_scale_rows: usize,
    /// Hidden input x, `T * H` bf16.
    pub x_len: usize,
    /// `topk_ids` / `topk_weights`, `T * k`.
    pub topk_len: usize,
    /// Packed w13 codes, `E * 2I * H / 2` bytes.
    pub w13_codes_len: usize,
    /// Linear w13 scales, `E * 2I * H / 16` bytes.
    pub w13_scales_len: usize,
    /// Packed w2 codes, `E * H * I / 2` bytes.
    pub w2_codes_len: usize,
    /// Linear w2 scales, `E * H * I / 16` bytes.
    pub w2_scales_len: usize,
    /// W4A4: quantized L1 input codes, `T*k * H / 2` bytes (0 in W4A16).
    pub l1_in_codes_len: usize,
    /// W4A4: grouped L1 input scales (0 in W4A16).
    pub l1_in_scales_len: usize,
    /// W4A16: gathered bf16 L1 input, `T*k * H` (0 in W4A4).
    pub l1_in_bf16_len: usize,
    /// L1 output, `T*k * 2I` bf16.
    pub l1_out_len: usize,
    /// W4A4: quantized activation codes, `T*k * I / 2` bytes (0 in W4A16).
    pub act_codes_len: usize,
    /// W4A4: grouped activation scales (0 in W4A16).
    pub act_scales_len: usize,
    /// W4A16: bf16 activation, `T*k * I` (0 in W4A4).
    pub act_bf16_len: usize,
    /// L2 output, `T*k * H` bf16.
    pub l2_out_len: usize,
    /// Layer output, `T * H` bf16.
    pub out_len: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_shape_validation() {
        assert_eq!(GemmShape::new(0, 1, 16), Err(Error::ZeroDim { dim: "M" }));
        assert_eq!(GemmShape::new(1, 0, 16), Err(Error::ZeroDim { dim: "N" }));
        assert_eq!(
            GemmShape::new(1, 1, 24),
            Err(Error::NotBlockMultiple {
                dim: "K",
                value: 24
            })
        );
        assert_eq!(GemmShape::new(1, 1, 0), Err(Error::ZeroDim { dim: "K" }));
        assert!(matches!(
            GemmShape::new(usize::MAX / 2, usize::MAX / 2, 16),
            Err(Error::Overflow { .. })
        ));
        let g = GemmShape::new(129, 3, 48).unwrap();
        assert_eq!(g.a_scales_len(ScaleLayout::Swizzled).unwrap(), 256 * 4);
        assert_eq!(g.w_scales_len(ScaleLayout::Linear).unwrap(), 3 * 3);
    }

    #[test]
    fn moe_shape_validation() {
        assert!(MoeShape::new(1, 256, 128, 8, 9, GemmMode::W4A4).is_err());
        assert!(MoeShape::new(1, 250, 128, 8, 2, GemmMode::W4A4).is_err());
        assert!(MoeShape::new(1, 256, 100, 8, 2, GemmMode::W4A4).is_err());
        assert!(MoeShape::new(0, 256, 128, 8, 2, GemmMode::W4A4).is_err());
        assert!(MoeShape::new(usize::MAX, 256, 128, 8, 2, GemmMode::W4A4).is_err());
        let p = MoeShape::new(37, 256, 128, 8, 2, GemmMode::W4A4)
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(p.routed_rows, 74);
        assert_eq!(p.grouped_scale_rows, 128 + 8 * 128);
        assert_eq!(p.l1_in_scales_len, (128 + 8 * 128) * 16);
        assert_eq!(p.w13_codes_len, 8 * 256 * 128);
        let p16 = MoeShape::new(37, 256, 128, 8, 2, GemmMode::W4A16)
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!((p16.l1_in_codes_len, p16.l1_in_bf16_len), (0, 74 * 256));
    }
}
