//! Quantizing `[rows, K]` tensors (SPEC section 3) into packed codes and scales in any layout.
//!
//! ```
//! use nvfp4_cpu::quantize::quantize;
//! use nvfp4_core::layout::ScaleLayout;
//! let x = vec![1.5f32; 2 * 32];
//! let (mut codes, mut scales) = (vec![0u8; 2 * 16], vec![0u8; 128 * 4]);
//! quantize(&x, 2, 32, 2688.0 / 1.5, ScaleLayout::Swizzled, &mut codes, &mut scales).unwrap();
//! assert_eq!(codes[0], 0x77); // 1.5 is the amax: both elements of the byte encode 6
//! ```

use nvfp4_core::block::{BLOCK, quantize_block};
use nvfp4_core::element::Element;
use nvfp4_core::error::{Error, Result, check_len};
use nvfp4_core::global_scale::{amax_f32, check_scale, gs_from_amax};
use nvfp4_core::layout::{ScaleLayout, TILE_ROWS};

use crate::par::split2;

fn check_k(k: usize) -> Result<()> {
    match k {
        0 => Err(Error::ZeroDim { dim: "K" }),
        k if k % BLOCK != 0 => Err(Error::NotBlockMultiple { dim: "K", value: k }),
        _ => Ok(()),
    }
}

/// Quantizes a contiguous `[rows, k]` tensor with encode scale `gs`.
///
/// `codes` holds `rows * k / 2` bytes; `scales` holds `layout.len(rows, k / 16)` bytes, padding
/// included (written as zero).
pub fn quantize<T: Element>(
    x: &[T],
    rows: usize,
    k: usize,
    gs: f32,
    layout: ScaleLayout,
    codes: &mut [u8],
    scales: &mut [u8],
) -> Result<()> {
    check_k(k)?;
    let len = rows.checked_mul(k).ok_or(Error::Overflow { what: "x" })?;
    check_len("x", len, x.len())?;
    quantize_gather(x, k, rows, |r| r, gs, layout, codes, scales)
}

/// Quantizes a gathered tensor: output row `r` is row `row_index(r)` of the `[src.len() / k, k]`
/// tensor `src` (the MoE rows of one expert, for example). Same buffers and rules as [`quantize`];
/// an index outside `src` is an error.
#[allow(clippy::too_many_arguments)]
pub fn quantize_gather<T: Element>(
    src: &[T],
    k: usize,
    rows: usize,
    row_index: impl Fn(usize) -> usize + Sync,
    gs: f32,
    layout: ScaleLayout,
    codes: &mut [u8],
    scales: &mut [u8],
) -> Result<()> {
    check_k(k)?;
    check_scale("gs", gs)?;
    let src_rows = src.len() / k;
    check_len("source rows", src_rows * k, src.len())?;
    if let Some(bad) = (0..rows).map(&row_index).find(|&i| i >= src_rows) {
        return Err(Error::InvalidParam {
            what: "gathered row index",
            value: bad,
        });
    }
    let ks = k / BLOCK;
    let code_len = rows
        .checked_mul(k / 2)
        .ok_or(Error::Overflow { what: "codes" })?;
    check_len("codes", code_len, codes.len())?;
    check_len("scales", layout.len(rows, ks)?, scales.len())?;
    scales.fill(0);
    // Work unit: 128 rows, whose swizzled scales are one contiguous run of 128 * Kp bytes.
    let tile_scale_bytes = layout.len(TILE_ROWS, ks)?;
    split2(
        rows.div_ceil(TILE_ROWS),
        codes,
        TILE_ROWS * k / 2,
        scales,
        tile_scale_bytes,
        |tiles, codes, scales| {
            let first = tiles.start * TILE_ROWS;
            let last = (tiles.end * TILE_ROWS).min(rows);
            for r in first..last {
                let i = row_index(r);
                let (blocks, _) = src[i * k..(i + 1) * k].as_chunks::<BLOCK>();
                let local = r - first;
                for (b, block) in blocks.iter().enumerate() {
                    let q = quantize_block(block, gs);
                    codes[local * k / 2 + b * BLOCK / 2..][..BLOCK / 2]
                        .copy_from_slice(&q.packed());
                    scales[layout.offset(local, b, ks)] = q.scale;
                }
            }
        },
    );
    Ok(())
}

/// `max |x|` over a tensor, NaN ignored (SPEC section 2; see [`amax_f32`]).
pub fn amax<T: Element>(x: &[T]) -> f32 {
    amax_f32(x.iter().map(|v| v.to_f32()))
}

/// Quantizes with the dynamic scale `gs = 2688 / amax(x)` and returns that `gs`.
pub fn quantize_dynamic<T: Element>(
    x: &[T],
    rows: usize,
    k: usize,
    layout: ScaleLayout,
    codes: &mut [u8],
    scales: &mut [u8],
) -> Result<f32> {
    let gs = gs_from_amax(amax(x))?;
    quantize(x, rows, k, gs, layout, codes, scales)?;
    Ok(gs)
}
