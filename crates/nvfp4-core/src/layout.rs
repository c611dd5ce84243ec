//! Scale layouts, SPEC section 4: linear, swizzled 128x4, and grouped (stacked swizzled groups).
//!
//! A tensor of `R` rows and `K` columns has `Ks = K / 16` scales per row.
//!
//! ```
//! use nvfp4_core::layout::{ScaleLayout, swizzled_offset};
//! // Row 33, scale column 5 of a tensor with 8 scale columns (Kp = 8):
//! // ((33/128) * (8/4) + 5/4) * 512 + (33%32) * 16 + ((33%128)/32) * 4 + 5%4 = 512 + 16 + 4 + 1
//! assert_eq!(swizzled_offset(33, 5, 8), 533);
//! assert_eq!(ScaleLayout::Swizzled.len(129, 6).unwrap(), 256 * 8);
//! assert_eq!(ScaleLayout::Linear.len(129, 6).unwrap(), 129 * 6);
//! ```

use crate::error::{Error, Result, check_len};

/// Rows per swizzle tile.
pub const TILE_ROWS: usize = 128;
/// Scale columns per swizzle tile.
pub const TILE_COLS: usize = 4;
/// Bytes per swizzle tile (128 x 4).
pub const TILE_BYTES: usize = TILE_ROWS * TILE_COLS;

/// How the scale bytes of one tensor are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleLayout {
    /// Row-major, `Ks` bytes per row, no padding: the checkpoint layout.
    Linear,
    /// 128x4 tiles, rows padded to 128 and columns to 4, padding bytes zero: what block-scaled
    /// tensor cores, cuBLASLt and CUTLASS read.
    Swizzled,
}

/// Rounds `x` up to a multiple of `m` (`m > 0`), or `None` on overflow.
#[inline]
pub const fn round_up(x: usize, m: usize) -> Option<usize> {
    match x.checked_add(m - 1) {
        Some(v) => Some(v / m * m),
        None => None,
    }
}

/// The swizzled byte offset of scale `(r, k)` in a buffer whose scale columns are padded to `kp`
/// (a multiple of 4).
#[inline]
pub const fn swizzled_offset(r: usize, k: usize, kp: usize) -> usize {
    ((r / 128) * (kp / 4) + k / 4) * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + (k % 4)
}

impl ScaleLayout {
    /// The scale-buffer length in bytes for `rows` rows and `k_scales` scales per row.
    pub fn len(self, rows: usize, k_scales: usize) -> Result<usize> {
        let overflow = Error::Overflow {
            what: "scale buffer",
        };
        match self {
            ScaleLayout::Linear => rows.checked_mul(k_scales).ok_or(overflow),
            ScaleLayout::Swizzled => {
                let rp = round_up(rows, TILE_ROWS).ok_or(overflow)?;
                let kp = round_up(k_scales, TILE_COLS).ok_or(overflow)?;
                rp.checked_mul(kp).ok_or(overflow)
            }
        }
    }

    /// The byte offset of scale `(r, k)`; the caller keeps `r < rows`, `k < k_scales`.
    #[inline]
    pub fn offset(self, r: usize, k: usize, k_scales: usize) -> usize {
        match self {
            ScaleLayout::Linear => r * k_scales + k,
            ScaleLayout::Swizzled => {
                swizzled_offset(r, k, k_scales.div_ceil(TILE_COLS) * TILE_COLS)
            }
        }
    }
}

/// Rewrites linear scales (`rows x k_scales`) into the swizzled layout, zeroing every padding byte.
pub fn linear_to_swizzled(src: &[u8], rows: usize, k_scales: usize, dst: &mut [u8]) -> Result<()> {
    check_len(
        "linear scales",
        ScaleLayout::Linear.len(rows, k_scales)?,
        src.len(),
    )?;
    check_len(
        "swizzled scales",
        ScaleLayout::Swizzled.len(rows, k_scales)?,
        dst.len(),
    )?;
    dst.fill(0);
    for r in 0..rows {
        for k in 0..k_scales {
            dst[ScaleLayout::Swizzled.offset(r, k, k_scales)] = src[r * k_scales + k];
        }
    }
    Ok(())
}

/// Reads swizzled scales back into the linear layout (the padding is dropped).
pub fn swizzled_to_linear(src: &[u8], rows: usize, k_scales: usize, dst: &mut [u8]) -> Result<()> {
    check_len(
        "swizzled scales",
        ScaleLayout::Swizzled.len(rows, k_scales)?,
        src.len(),
    )?;
    check_len(
        "linear scales",
        ScaleLayout::Linear.len(rows, k_scales)?,
        dst.len(),
    )?;
    for r in 0..rows {
        for k in 0..k_scales {
            dst[r * k_scales + k] = src[ScaleLayout::Swizzled.offset(r, k, k_scales)];
        }
    }
    Ok(())
}

/// The grouped layout's base scale row of each group (SPEC section 4): group `g` starts at
/// `sum over g' < g of roundup(rows_g', 128)`. Writes `bases[g]` for each group and returns the
/// total number of scale rows (a multiple of 128).
pub fn grouped_bases(group_rows: &[usize], bases: &mut [usize]) -> Result<usize> {
    check_len("group bases", group_rows.len(), bases.len())?;
    let mut acc = 0usize;
    for (b, &rows) in bases.iter_mut().zip(group_rows) {
        *b = acc;
        let padded = round_up(rows, TILE_ROWS).ok_or(Error::Overflow {
            what: "grouped scales",
        })?;
        acc = acc.checked_add(padded).ok_or(Error::Overflow {
            what: "grouped scales",
        })?;
    }
    Ok(acc)
}

/// The worst-case number of scale rows of the grouped layout for `routed_rows` rows spread over
/// `experts` groups: `roundup(routed_rows, 128) + experts * 128`.
pub fn grouped_worst_case_rows(routed_rows: usize, experts: usize) -> Result<usize> {
    let overflow = Error::Overflow {
        what: "grouped scales",
    };
    let padded = round_up(routed_rows, TILE_ROWS).ok_or(overflow)?;
    experts
        .checked_mul(TILE_ROWS)
        .and_then(|e| e.checked_add(padded))
        .ok_or(overflow)
}

/// The byte offset in a grouped scale buffer of scale `(r, k)` of the group starting at scale row
/// `base` (`r` relative to the group).
#[inline]
pub fn grouped_offset(base: usize, r: usize, k: usize, k_scales: usize) -> usize {
    let kp = k_scales.div_ceil(TILE_COLS) * TILE_COLS;
    base * kp + ScaleLayout::Swizzled.offset(r, k, k_scales)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Every (r, k) lands on a distinct in-bounds byte, and the bytes not hit are exactly the
        /// padding, which the converter leaves zero.
        #[test]
        fn swizzle_is_a_bijection_onto_the_padded_buffer(rows in 1usize..300, ks in 1usize..24) {
            let len = ScaleLayout::Swizzled.len(rows, ks).unwrap();
            let mut hits = vec![0u32; len];
            for r in 0..rows {
                for k in 0..ks {
                    hits[ScaleLayout::Swizzled.offset(r, k, ks)] += 1;
                }
            }
            prop_assert!(hits.iter().all(|&h| h <= 1));
            prop_assert_eq!(hits.iter().filter(|&&h| h == 1).count(), rows * ks);
            let src = vec![0xA5u8; rows * ks];
            let mut dst = vec![0xFFu8; len];
            linear_to_swizzled(&src, rows, ks, &mut dst).unwrap();
            for (i, (&h, &d)) in hits.iter().zip(&dst).enumerate() {
                prop_assert_eq!(d, if h == 1 { 0xA5 } else { 0 }, "byte {}", i);
            }
        }

        #[test]
        fn linear_swizzled_linear_is_identity(rows in 1usize..300, ks in 1usize..24, seed in any::<u64>()) {
            let mut s = seed | 1;
            let src: std::vec::Vec<u8> = (0..rows * ks).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s as u8 }).collect();
            let mut sw = vec![0u8; ScaleLayout::Swizzled.len(rows, ks).unwrap()];
            linear_to_swizzled(&src, rows, ks, &mut sw).unwrap();
            let mut back = vec![0u8; rows * ks];
            swizzled_to_linear(&sw, rows, ks, &mut back).unwrap();
            prop_assert_eq!(back, src);
        }
    }

    #[test]
    fn grouped_bases_and_worst_case() {
        let rows = [0usize, 1, 128, 129, 5];
        let mut bases = [0usize; 5];
        let total = grouped_bases(&rows, &mut bases).unwrap();
        assert_eq!(bases, [0, 0, 128, 256, 512]);
        assert_eq!(total, 640);
        // 263 routed rows over 5 experts never need more than roundup(263,128) + 5*128 = 1024.
        assert!(total <= grouped_worst_case_rows(263, 5).unwrap());
        assert_eq!(grouped_offset(128, 0, 0, 4), 128 * 4);
    }

    #[test]
    fn size_overflow_is_an_error() {
        assert!(ScaleLayout::Swizzled.len(usize::MAX, 1).is_err());
        assert!(ScaleLayout::Linear.len(usize::MAX, 2).is_err());
        assert!(grouped_worst_case_rows(1, usize::MAX).is_err());
    }

    #[test]
    fn wrong_buffer_length_is_an_error() {
        let mut dst = [0u8; 10];
        assert!(linear_to_swizzled(&[0; 4], 1, 4, &mut dst).is_err());
    }
}
