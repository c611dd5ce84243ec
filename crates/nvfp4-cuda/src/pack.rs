//! The weight layout of the GEMM kernels (`kernels/gemm.cu`), made once at load time from the
//! checkpoint layout (codes `[N, K/2]`, linear E4M3 scales `[N, K/16]`).
//!
//! The kernels give the weights the 16-row "A" slot of `mma.m16n8k16`, and each lane reads its
//! fragment bytes for four k16 steps with one 16-byte load. The K order inside a 64-column chunk
//! is permuted, identically for weights and activations (a sum does not depend on the order of
//! its terms, and the SPEC bound allows any order): lane `t = lane % 4` owns the column pairs
//! (code bytes) `8t..8t+8` of the chunk, which are exactly scale block `4 kc + t`, and its step
//! `s` feeds pairs `8t + 2s` (fragment registers 0, 1) and `8t + 2s + 1` (registers 2, 3) to the
//! mma. So its activation words are contiguous (two 16-byte loads of bf16, or one 8-byte load of
//! codes) and it needs one scale per row and chunk. Per 16-row tile `nt` and 64-column chunk `kc`:
//! * codes: 512 bytes, lane-major: byte `(lane * 4 + step) * 4 + reg` holds the code byte (two
//!   E2M1 codes, k even in the low nibble) of row `16 nt + lane / 4 + 8 (reg % 2)` and code-byte
//!   column `32 kc + 8 (lane % 4) + 2 step + reg / 2`;
//! * scales: 64 bytes, `row * 4 + block` holds the E4M3 byte of row `16 nt + row`, block
//!   `4 kc + block`.
//!
//! Rows past `N` and columns past `K` are zero (code 0, scale 0): they contribute exact zeros.
//!
//! ```
//! use nvfp4_cuda::pack::{PackedShape, pack_weights};
//! let (n, k) = (3, 16);
//! let codes: Vec<u8> = (0..n * k / 2).map(|i| i as u8).collect();
//! let scales = vec![0x38u8; n * k / 16];
//! let shape = PackedShape::new(n, k).unwrap();
//! let (mut pc, mut ps) = (vec![0; shape.codes_len()], vec![0; shape.scales_len()]);
//! pack_weights(&codes, &scales, n, k, &mut pc, &mut ps).unwrap();
//! // lane 0, step 0: rows 0 and 8 (zero padding), code bytes 0 and 1 of row 0.
//! assert_eq!(&pc[..4], &[codes[0], 0, codes[1], 0]);
//! ```

use nvfp4_core::block::BLOCK;
use nvfp4_core::error::{Error, Result, check_len};

/// Rows per weight tile (the mma's M).
pub const TILE_ROWS: usize = 16;
/// Columns (K) per chunk: four k16 steps.
pub const CHUNK_K: usize = 64;

/// The sizes of a packed `[N, K]` weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedShape {
    /// Rows N.
    pub n: usize,
    /// Columns K (a multiple of 16).
    pub k: usize,
    /// 16-row tiles, `ceil(N / 16)`.
    pub tiles: usize,
    /// 64-column chunks, `ceil(K / 64)`.
    pub chunks: usize,
}

impl PackedShape {
    /// Validates `K % 16 == 0`, positive sizes and overflow.
    pub fn new(n: usize, k: usize) -> Result<Self> {
        nvfp4_core::plan::GemmShape::new(1, n, k)?;
        let s = PackedShape {
            n,
            k,
            tiles: n.div_ceil(TILE_ROWS),
            chunks: k.div_ceil(CHUNK_K),
        };
        s.tiles
            .checked_mul(s.chunks)
            .and_then(|c| c.checked_mul(512))
            .ok_or(Error::Overflow {
                what: "packed weights",
            })?;
        Ok(s)
    }

    /// Bytes of packed codes: 512 per (tile, chunk).
    pub fn codes_len(&self) -> usize {
        self.tiles * self.chunks * 512
    }

    /// Bytes of packed scales: 64 per (tile, chunk).
    pub fn scales_len(&self) -> usize {
        self.tiles * self.chunks * 64
    }
}

/// Repacks checkpoint-layout weights (`codes` `[N, K/2]`, linear `scales` `[N, K/16]`) into the
/// kernel layout described in the module docs.
pub fn pack_weights(
    codes: &[u8],
    scales: &[u8],
    n: usize,
    k: usize,
    packed_codes: &mut [u8],
    packed_scales: &mut [u8],
) -> Result<()> {
    let s = PackedShape::new(n, k)?;
    check_len("codes", n * k / 2, codes.len())?;
    check_len("scales", n * k / BLOCK, scales.len())?;
    check_len("packed codes", s.codes_len(), packed_codes.len())?;
    check_len("packed scales", s.scales_len(), packed_scales.len())?;
    let (row_bytes, row_blocks) = (k / 2, k / BLOCK);
    let code = |row: usize, col: usize| {
        if row < n && col < row_bytes {
            codes[row * row_bytes + col]
        } else {
            0
        }
    };
    let scale = |row: usize, blk: usize| {
        if row < n && blk < row_blocks {
            scales[row * row_blocks + blk]
        } else {
            0
        }
    };
    for nt in 0..s.tiles {
        for kc in 0..s.chunks {
            let base = (nt * s.chunks + kc) * 512;
            for lane in 0..32 {
                for step in 0..4 {
                    for reg in 0..4 {
                        let row = TILE_ROWS * nt + lane / 4 + 8 * (reg % 2);
                        let col = 32 * kc + 8 * (lane % 4) + 2 * step + reg / 2;
                        packed_codes[base + (lane * 4 + step) * 4 + reg] = code(row, col);
                    }
                }
            }
            let base = (nt * s.chunks + kc) * 64;
            for row in 0..TILE_ROWS {
                for step in 0..4 {
                    packed_scales[base + row * 4 + step] =
                        scale(TILE_ROWS * nt + row, 4 * kc + step);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every checkpoint byte lands exactly once, and everything else is zero padding.
    #[test]
    fn packing_is_a_bijection_onto_the_real_bytes() {
        for (n, k) in [(1, 16), (16, 64), (17, 80), (33, 48), (40, 7168 / 8)] {
            // Distinct code values per byte (mod 251, skipping 0) to trace where each lands.
            let codes: Vec<u8> = (0..n * k / 2).map(|i| (i % 251 + 1) as u8).collect();
            let scales: Vec<u8> = (0..n * k / 16).map(|i| (i % 127 + 1) as u8).collect();
            let s = PackedShape::new(n, k).unwrap();
            let (mut pc, mut ps) = (vec![0xEE; s.codes_len()], vec![0xEE; s.scales_len()]);
            pack_weights(&codes, &scales, n, k, &mut pc, &mut ps).unwrap();
            assert_eq!(
                pc.iter().filter(|&&b| b != 0).count(),
                codes.len(),
                "n={n} k={k}"
            );
            assert_eq!(
                ps.iter().filter(|&&b| b != 0).count(),
                scales.len(),
                "n={n} k={k}"
            );
            // Spot-check the formula for every real byte.
            for row in 0..n {
                for col in 0..k / 2 {
                    let (nt, r) = (row / 16, row % 16);
                    let (kc, cc) = (col / 32, col % 32);
                    let (t, within) = (cc / 8, cc % 8);
                    let (step, pair) = (within / 2, within % 2);
                    let lane = (r % 8) * 4 + t;
                    let reg = r / 8 + 2 * pair;
                    let at = (nt * s.chunks + kc) * 512 + (lane * 4 + step) * 4 + reg;
                    assert_eq!(pc[at], codes[row * k / 2 + col], "row {row} col {col}");
                }
                for blk in 0..k / 16 {
                    let at = ((row / 16) * s.chunks + blk / 4) * 64 + (row % 16) * 4 + blk % 4;
                    assert_eq!(ps[at], scales[row * k / 16 + blk]);
                }
            }
        }
    }

    #[test]
    fn shape_errors() {
        assert!(PackedShape::new(4, 24).is_err());
        assert!(PackedShape::new(0, 16).is_err());
        let mut small = vec![0u8; 10];
        assert!(pack_weights(&[0; 8], &[0], 1, 16, &mut small, &mut [0; 64]).is_err());
    }
}
