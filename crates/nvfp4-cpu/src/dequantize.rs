//! Dequantizing NVFP4 back to bf16 or f32: `x^ = (e2m1(c) * sq) * dec`, rounded once.

use nvfp4_core::element::OutElement;
use nvfp4_core::error::{Result, check_len};
use nvfp4_core::global_scale::check_scale;
use nvfp4_core::tensor::QuantizedRef;

/// Writes the `[rows, cols]` dequantized tensor into `out` (row-major).
pub fn dequantize<O: OutElement>(q: &QuantizedRef<'_>, dec: f32, out: &mut [O]) -> Result<()> {
    check_scale("dec", dec)?;
    check_len("out", q.rows() * q.cols(), out.len())?;
    for (r, row) in out.chunks_exact_mut(q.cols()).enumerate() {
        for (c, o) in row.iter_mut().enumerate() {
            *o = O::from_f32(q.value(r, c) * dec);
        }
    }
    Ok(())
}
