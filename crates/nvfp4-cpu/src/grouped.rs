//! The grouped GEMM over experts: one GEMM per expert on its contiguous rows of a grouped
//! activation tensor (SPEC section 4, grouped layout; section 6 steps 3 and 5).

use half::bf16;
use nvfp4_core::block::BLOCK;
use nvfp4_core::error::{Error, Result, check_len};
use nvfp4_core::layout::{ScaleLayout, TILE_COLS, TILE_ROWS, grouped_offset, round_up};
use nvfp4_core::tensor::QuantizedRef;

use crate::gemm::{Activations, ColumnAlpha, Exact, gemm};

/// Activations stacked by expert: expert `e` owns rows `offsets[e]..offsets[e + 1]`.
#[derive(Clone, Copy, Debug)]
pub enum GroupedActivations<'a> {
    /// NVFP4 codes `[rows, K/2]` and grouped scales (each group's swizzled scales start at scale
    /// row `sum over earlier groups of roundup(rows, 128)`).
    Nvfp4 {
        /// Packed codes of all rows.
        codes: &'a [u8],
        /// Grouped scales.
        scales: &'a [u8],
        /// Columns K.
        k: usize,
    },
    /// bf16 rows `[rows, K]`.
    Bf16 {
        /// The values.
        data: &'a [bf16],
        /// Columns K.
        k: usize,
    },
}

/// The weights of all experts stacked: `[E, rows, cols / 2]` codes and `[E, rows, cols / 16]`
/// linear scales (the checkpoint layout).
#[derive(Clone, Copy, Debug)]
pub struct ExpertWeights<'a> {
    codes: &'a [u8],
    scales: &'a [u8],
    experts: usize,
    rows: usize,
    cols: usize,
}

impl<'a> ExpertWeights<'a> {
    /// Checks the buffer lengths for `experts` matrices of `[rows, cols]`.
    pub fn new(
        codes: &'a [u8],
        scales: &'a [u8],
        experts: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Self> {
        // One expert's view validates cols; the stacked lengths are checked here.
        QuantizedRef::new(&codes[..0], &scales[..0], ScaleLayout::Linear, 0, cols)?;
        let per = rows.checked_mul(cols / 2).ok_or(Error::Overflow {
            what: "expert codes",
        })?;
        check_len(
            "expert codes",
            experts.checked_mul(per).ok_or(Error::Overflow {
                what: "expert codes",
            })?,
            codes.len(),
        )?;
        check_len("expert scales", experts * (per / 8), scales.len())?;
        Ok(ExpertWeights {
            codes,
            scales,
            experts,
            rows,
            cols,
        })
    }

    /// Experts.
    pub fn experts(&self) -> usize {
        self.experts
    }

    /// The view of expert `e` (`e < experts`).
    pub fn expert(&self, e: usize) -> Result<QuantizedRef<'a>> {
        if e >= self.experts {
            return Err(Error::InvalidParam {
                what: "expert index",
                value: e,
            });
        }
        let (c, s) = (self.rows * self.cols / 2, self.rows * self.cols / BLOCK);
        QuantizedRef::new(
            &self.codes[e * c..(e + 1) * c],
            &self.scales[e * s..(e + 1) * s],
            ScaleLayout::Linear,
            self.rows,
            self.cols,
        )
    }
}

/// The byte range of a group's scales in a grouped buffer, for a group of `rows` rows starting at
/// scale row `base`, and the next group's base.
pub fn group_scale_range(
    base: usize,
    rows: usize,
    k: usize,
) -> Result<(core::ops::Range<usize>, usize)> {
    if k == 0 || !k.is_multiple_of(BLOCK) {
        return Err(Error::NotBlockMultiple { dim: "K", value: k });
    }
    let overflow = Error::Overflow {
        what: "grouped scales",
    };
    let ks = k / BLOCK;
    // The group's swizzled block starts at scale row `base` (nvfp4-core's grouped layout) and
    // spans roundup(rows, 128) scale rows.
    base.checked_mul(round_up(ks, TILE_COLS).ok_or(overflow)?)
        .ok_or(overflow)?;
    let start = grouped_offset(base, 0, 0, ks);
    let end = start
        .checked_add(ScaleLayout::Swizzled.len(rows, ks)?)
        .ok_or(overflow)?;
    let next = round_up(rows, TILE_ROWS)
        .and_then(|r| base.checked_add(r))
        .ok_or(overflow)?;
    Ok((start..end, next))
}

/// Runs `D_e = alpha(e) * A_e . W_e^T` for every expert `e` with rows; `out` (and `exact`) are
/// `[offsets[E], N]` with the same row grouping.
pub fn grouped_gemm(
    a: &GroupedActivations<'_>,
    offsets: &[usize],
    weights: &ExpertWeights<'_>,
    alpha: impl Fn(usize) -> ColumnAlpha,
    out: &mut [bf16],
    mut exact: Option<&mut [Exact]>,
) -> Result<()> {
    let experts = weights.experts();
    check_len("expert offsets", experts + 1, offsets.len())?;
    if offsets.windows(2).any(|w| w[0] > w[1]) || offsets[0] != 0 {
        return Err(Error::InvalidParam {
            what: "expert offsets (not ascending from 0)",
            value: offsets[0],
        });
    }
    let n = weights.rows;
    let rows = offsets[experts];
    let len = rows.checked_mul(n).ok_or(Error::Overflow { what: "D" })?;
    check_len("D", len, out.len())?;
    if let Some(e) = exact.as_deref() {
        check_len("exact", len, e.len())?;
    }
    let mut scale_base = 0usize;
    for e in 0..experts {
        let (r0, r1) = (offsets[e], offsets[e + 1]);
        if r0 == r1 {
            continue;
        }
        let view = match *a {
            GroupedActivations::Nvfp4 { codes, scales, k } => {
                let (range, next) = group_scale_range(scale_base, r1 - r0, k)?;
                scale_base = next;
                let codes = codes.get(r0 * k / 2..r1 * k / 2).ok_or(Error::BufferLen {
                    what: "codes",
                    expected: r1 * k / 2,
                    got: codes.len(),
                })?;
                let end = range.end;
                let scales = scales.get(range).ok_or(Error::BufferLen {
                    what: "grouped scales",
                    expected: end,
                    got: scales.len(),
                })?;
                Activations::Nvfp4(QuantizedRef::new(
                    codes,
                    scales,
                    ScaleLayout::Swizzled,
                    r1 - r0,
                    k,
                )?)
            }
            GroupedActivations::Bf16 { data, k } => {
                let data = data.get(r0 * k..r1 * k).ok_or(Error::BufferLen {
                    what: "A",
                    expected: r1 * k,
                    got: data.len(),
                })?;
                Activations::Bf16 {
                    data,
                    rows: r1 - r0,
                }
            }
        };
        let ex = exact.as_deref_mut().map(|x| &mut x[r0 * n..r1 * n]);
        gemm(
            &view,
            &weights.expert(e)?,
            alpha(e),
            &mut out[r0 * n..r1 * n],
            ex,
        )?;
    }
    Ok(())
}
