//! The MoE activation (SPEC section 6 step 4): SwiGLU, plain or clamped, from the bf16 L1 output
//! `h = [g | u]` (`[rows, 2I]`), rounded once to bf16, then optionally requantized.
//!
//! ```
//! use nvfp4_core::bf16;
//! use nvfp4_cpu::swiglu::swiglu;
//! let h = [bf16::from_f32(1.0), bf16::from_f32(2.0)]; // one row, I = 1: g = 1, u = 2
//! let mut a = [bf16::ZERO];
//! swiglu(&h, 1, 1, None, &mut a).unwrap();
//! assert_eq!(a[0], bf16::from_f32(nvfp4_core::activation::silu(1.0) * 2.0));
//! ```

use half::bf16;
use nvfp4_core::activation::swiglu as swiglu_f32;
use nvfp4_core::block::{BLOCK, quantize_block};
use nvfp4_core::element::bf16_from_f32;
use nvfp4_core::error::{Error, Result, check_len};
use nvfp4_core::global_scale::{amax_f32, check_scale};
use nvfp4_core::layout::ScaleLayout;

/// Activation `a[r, j] = bf16(swiglu(g[r, j], u[r, j]))` of one element.
#[inline]
fn act(h: &[bf16], i: usize, r: usize, j: usize, limit: Option<f32>) -> bf16 {
    let row = &h[r * 2 * i..(r + 1) * 2 * i];
    bf16_from_f32(swiglu_f32(row[j].to_f32(), row[i + j].to_f32(), limit))
}

fn check(h: &[bf16], rows: usize, i: usize, limit: Option<f32>) -> Result<()> {
    if i == 0 {
        return Err(Error::ZeroDim {
            dim: "intermediate",
        });
    }
    let len = rows
        .checked_mul(2 * i)
        .ok_or(Error::Overflow { what: "h" })?;
    check_len("h", len, h.len())?;
    match limit {
        Some(l) if l.is_nan() || l <= 0.0 => Err(Error::BadScale {
            what: "swiglu limit",
            bits: l.to_bits(),
        }),
        _ => Ok(()),
    }
}

/// Writes the bf16 activation `[rows, I]` of `h = [rows, 2I]`. `limit` selects the clamped
/// variant (a positive limit L; NaN or non-positive is an error; Inf is a plain SwiGLU).
pub fn swiglu(
    h: &[bf16],
    rows: usize,
    i: usize,
    limit: Option<f32>,
    out: &mut [bf16],
) -> Result<()> {
    check(h, rows, i, limit)?;
    check_len("activation", rows * i, out.len())?;
    for r in 0..rows {
        for j in 0..i {
            out[r * i + j] = act(h, i, r, j, limit);
        }
    }
    Ok(())
}

/// `max |a|` of the bf16 activation of `h`, without storing it (the dynamic scale of SPEC section
/// 6: amax over the rows that reach the L2 GEMM).
pub fn swiglu_amax(h: &[bf16], rows: usize, i: usize, limit: Option<f32>) -> Result<f32> {
    check(h, rows, i, limit)?;
    Ok(amax_f32((0..rows).flat_map(|r| {
        (0..i).map(move |j| act(h, i, r, j, limit).to_f32())
    })))
}

/// SwiGLU fused with requantization: the bf16 activation of `h`, quantized with encode scale `gs`
/// into `codes` (`rows * I / 2`) and `scales` (`layout.len(rows, I / 16)`, padding zeroed). The
/// bytes equal [`swiglu`] followed by [`crate::quantize::quantize`].
#[allow(clippy::too_many_arguments)]
pub fn swiglu_quantize(
    h: &[bf16],
    rows: usize,
    i: usize,
    limit: Option<f32>,
    gs: f32,
    layout: ScaleLayout,
    codes: &mut [u8],
    scales: &mut [u8],
) -> Result<()> {
    check(h, rows, i, limit)?;
    check_scale("gs", gs)?;
    if !i.is_multiple_of(BLOCK) {
        return Err(Error::NotBlockMultiple {
            dim: "intermediate",
            value: i,
        });
    }
    check_len("codes", rows * i / 2, codes.len())?;
    check_len("scales", layout.len(rows, i / BLOCK)?, scales.len())?;
    scales.fill(0);
    for r in 0..rows {
        for b in 0..i / BLOCK {
            let block: [bf16; BLOCK] = core::array::from_fn(|x| act(h, i, r, b * BLOCK + x, limit));
            let q = quantize_block(&block, gs);
            codes[(r * i + b * BLOCK) / 2..][..BLOCK / 2].copy_from_slice(&q.packed());
            scales[layout.offset(r, b, i / BLOCK)] = q.scale;
        }
    }
    Ok(())
}
