//! Quantizing f32 expert weights into checkpoint form, as ModelOpt does: per expert (and per part,
//! for the gate and up halves of `w13`) a global scale `gs = 2688 / amax`, linear block scales.
//! Used by the tests and the demo to build layers from random or unquantized weights.
//!
//! ```
//! use nvfp4_cpu::experts::QuantizedExperts;
//! let w = vec![0.5f32; 2 * 4 * 32]; // 2 experts, 4 rows, 32 columns
//! let q = QuantizedExperts::from_f32(&w, 2, 4, 32, 2).unwrap(); // 2 parts: rows 0..2, 2..4
//! assert_eq!(q.dec.len(), 2 * 2);
//! assert_eq!(q.part_dec(1), vec![q.dec[1], q.dec[3]]);
//! ```

use nvfp4_core::error::{Error, Result, check_len};
use nvfp4_core::global_scale::{amax_f32, dec_from_gs, gs_from_amax};
use nvfp4_core::layout::ScaleLayout;

use crate::grouped::ExpertWeights;
use crate::quantize::quantize;

/// Owned NVFP4 weights of `experts` matrices `[rows, cols]`.
#[derive(Clone, Debug)]
pub struct QuantizedExperts {
    /// Packed codes `[E, rows, cols / 2]`.
    pub codes: Vec<u8>,
    /// Linear scales `[E, rows, cols / 16]`.
    pub scales: Vec<u8>,
    /// Decode scales `[E, parts]`.
    pub dec: Vec<f32>,
    experts: usize,
    rows: usize,
    cols: usize,
    parts: usize,
}

impl QuantizedExperts {
    /// Quantizes `w` (`[E, rows, cols]` f32). Each expert's rows split into `parts` equal parts
    /// (`rows % parts == 0`), each with its own global scale from its amax.
    pub fn from_f32(
        w: &[f32],
        experts: usize,
        rows: usize,
        cols: usize,
        parts: usize,
    ) -> Result<Self> {
        if parts == 0 || !rows.is_multiple_of(parts) {
            return Err(Error::InvalidParam {
                what: "parts (must divide rows)",
                value: parts,
            });
        }
        let per = rows.checked_mul(cols).ok_or(Error::Overflow {
            what: "expert weights",
        })?;
        check_len(
            "expert weights",
            experts.checked_mul(per).ok_or(Error::Overflow {
                what: "expert weights",
            })?,
            w.len(),
        )?;
        let part_rows = rows / parts;
        let mut codes = vec![0u8; experts * per / 2];
        let mut scales = vec![0u8; experts * per / 16];
        let mut dec = vec![0f32; experts * parts];
        for (i, part) in w.chunks_exact(part_rows * cols).enumerate() {
            let gs = gs_from_amax(amax_f32(part.iter().copied()))?;
            dec[i] = dec_from_gs(gs)?;
            let (c, s) = (part_rows * cols / 2, part_rows * cols / 16);
            quantize(
                part,
                part_rows,
                cols,
                gs,
                ScaleLayout::Linear,
                &mut codes[i * c..(i + 1) * c],
                &mut scales[i * s..(i + 1) * s],
            )?;
        }
        Ok(QuantizedExperts {
            codes,
            scales,
            dec,
            experts,
            rows,
            cols,
            parts,
        })
    }

    /// The stacked view for the GEMMs.
    pub fn weights(&self) -> Result<ExpertWeights<'_>> {
        ExpertWeights::new(
            &self.codes,
            &self.scales,
            self.experts,
            self.rows,
            self.cols,
        )
    }

    /// The decode scale of part `p` of every expert.
    pub fn part_dec(&self, p: usize) -> Vec<f32> {
        self.dec
            .iter()
            .skip(p)
            .step_by(self.parts)
            .copied()
            .collect()
    }
}
