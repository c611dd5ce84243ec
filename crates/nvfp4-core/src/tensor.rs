//! A borrowed view of one NVFP4 matrix: packed codes plus scales in a stated layout.
//!
//! ```
//! use nvfp4_core::{layout::ScaleLayout, tensor::QuantizedRef};
//! let codes = [0x21u8; 8]; // one row of 16 elements
//! let scales = [0x38u8]; // scale 1.0
//! let w = QuantizedRef::new(&codes, &scales, ScaleLayout::Linear, 1, 16).unwrap();
//! assert_eq!(w.value(0, 1), 1.0); // code 2 -> 1.0, times scale 1.0
//! ```

use crate::block::BLOCK;
use crate::error::{Error, Result, check_len};
use crate::layout::ScaleLayout;
use crate::{e2m1, e4m3};

/// Packed E2M1 codes `[rows, cols / 2]` and E4M3 scales of `rows x cols / 16` in `layout`.
#[derive(Clone, Copy, Debug)]
pub struct QuantizedRef<'a> {
    codes: &'a [u8],
    scales: &'a [u8],
    layout: ScaleLayout,
    rows: usize,
    cols: usize,
}

impl<'a> QuantizedRef<'a> {
    /// Builds a view, checking that `cols` is a positive multiple of 16 and both buffer lengths.
    pub fn new(
        codes: &'a [u8],
        scales: &'a [u8],
        layout: ScaleLayout,
        rows: usize,
        cols: usize,
    ) -> Result<Self> {
        if cols == 0 {
            return Err(Error::ZeroDim { dim: "cols" });
        }
        if !cols.is_multiple_of(BLOCK) {
            return Err(Error::NotBlockMultiple {
                dim: "cols",
                value: cols,
            });
        }
        let code_len = rows
            .checked_mul(cols / 2)
            .ok_or(Error::Overflow { what: "codes" })?;
        check_len("codes", code_len, codes.len())?;
        check_len("scales", layout.len(rows, cols / BLOCK)?, scales.len())?;
        Ok(QuantizedRef {
            codes,
            scales,
            layout,
            rows,
            cols,
        })
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (elements per row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The scale layout.
    pub fn layout(&self) -> ScaleLayout {
        self.layout
    }

    /// The packed codes of row `r`.
    #[inline]
    pub fn row_codes(&self, r: usize) -> &'a [u8] {
        &self.codes[r * self.cols / 2..(r + 1) * self.cols / 2]
    }

    /// The scale byte of row `r`, block `b`.
    #[inline]
    pub fn scale(&self, r: usize, b: usize) -> u8 {
        self.scales[self.layout.offset(r, b, self.cols / BLOCK)]
    }

    /// The E2M1 code of element `(r, c)`.
    #[inline]
    pub fn code(&self, r: usize, c: usize) -> u8 {
        e2m1::code_at(self.row_codes(r), c)
    }

    /// Element `(r, c)` times its block scale, `e2m1(code) * sq` (exact in binary32), without the
    /// global decode scale.
    #[inline]
    pub fn value(&self, r: usize, c: usize) -> f32 {
        e2m1::decode(self.code(r, c)) * e4m3::decode(self.scale(r, c / BLOCK))
    }
}
