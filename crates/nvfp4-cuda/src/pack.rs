//! The weight layout of the GEMM kernels (`kernels/gemm.cu`), made once at load time from the
//! checkpoint layout (codes `[N, K/2]`, linear E4M3 scales `[N, K/16]`).
//!
//! The kernels give the weights the 16-row "A" slot of `mma.m16n8k16`, and each lane reads its
//! fragments for four k16 steps with one 16-byte load. The K order inside a 64-column chunk is
//! permuted, identically for weights and activations (a sum does not depend on the order of its
//! terms, and the SPEC bound allows any order): lane `t = lane % 4` owns the column pairs `8t..8t+8`
//! of the chunk, which are exactly scale block `4 kc + t`, and its step `s` feeds pairs `8t + 2s`
//! (fragment registers 0, 1) and `8t + 2s + 1` (registers 2, 3) to the mma. So its activation words
//! are contiguous and it needs one scale per row and chunk. Per 16-row tile `nt` and 64-column
//! chunk `kc`:
//! * codes: 512 bytes, lane-major: the 32-bit word `lane * 4 + step` holds the 8 codes of the
//!   lane's fragment registers `reg` 0..3 for that step, each register a pair `h` (0: even column,
//!   low half; 1: odd column, high half) of row `16 nt + lane / 4 + 8 (reg % 2)` and code-byte
//!   column `32 kc + 8 (lane % 4) + 2 step + reg / 2`. A code's bits (sign, e1, e0, m) sit at
//!   ([`CODE_BITS`]`[reg][h]`) that the kernel's extraction moves to bf16 bits 15, 8, 7, 6 of
//!   half `h`: register 0 is `word & 0x81C081C0`, registers 1 and 2 the word rotated left by 4
//!   and 10 under that mask, register 3 the word rotated by 6 (for the `m` bits) and by 14 (the
//!   others) under two masks, 9 integer operations per word; each half is then a bf16 of value
//!   `e2m1 * 2^-126` (see `kernels/nvfp4_gemm.cuh`);
//! * scales: 64 bytes, `2 lane + hi` holds the E4M3 byte of row `16 nt + lane / 4 + 8 hi`, block
//!   `4 kc + lane % 4`. A NaN byte (`0x7F`, `0xFF`) is stored as 0 and its row flagged in
//!   [`pack_weights`]' `nan_rows` (one `u32` per tile, bit `r` for row `16 nt + r`): the kernels
//!   write NaN for a flagged row, which is the SPEC's result (a NaN scale makes every sum with it NaN).
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
//! let mut nan_rows = vec![0u32; shape.tiles];
//! pack_weights(&codes, &scales, n, k, &mut pc, &mut ps, &mut nan_rows).unwrap();
//! // lane 0, step 0: registers 0 (row 0, codes 0 and 1 of byte 0) and 2 (byte 1: codes 2, 3);
//! // registers 1 and 3 are row 8, zero padding. Byte 0 is 0x00, byte 1 is 0x01: code 2 is 1,
//! // its m bit at bf16 bit 6 once rotated left by 10, so at bit 28.
//! assert_eq!(u32::from_le_bytes(pc[..4].try_into().unwrap()), 1 << 28);
//! assert_eq!(&ps[..2], &[0x38, 0]); // row 0 and row 8 (padding) of block 0
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

/// The bit positions of a code's (sign, e1, e0, m) in a packed word, for each of the four
/// fragment registers and each half (module docs): bf16 bits 15, 8, 7, 6 of the half, rotated
/// right by [`CODE_ROTATIONS`] (so that the kernel's left rotation puts them back). Together they
/// use each of the word's 32 bits once.
pub const CODE_BITS: [[[u32; 4]; 2]; 4] = {
    let mut bits = [[[0; 4]; 2]; 4];
    let target = [15, 8, 7, 6];
    let mut reg = 0;
    while reg < 4 {
        let mut h = 0;
        while h < 2 {
            let mut i = 0;
            while i < 4 {
                bits[reg][h][i] = (target[i] + 16 * h as u32 + 32 - CODE_ROTATIONS[reg][i]) % 32;
                i += 1;
            }
            h += 1;
        }
        reg += 1;
    }
    bits
};

/// The left rotation that brings each (sign, e1, e0, m) bit of a register's codes to its bf16
/// position: one per register, except register 3, whose `m` bits take their own (two disjoint
/// rotations, as no four rotations of the pattern 15, 8, 7, 6 tile the 32 bits).
pub const CODE_ROTATIONS: [[u32; 4]; 4] = [[0; 4], [4; 4], [10; 4], [14, 14, 14, 6]];

/// The bits of one E2M1 `code` (low nibble) as register `reg`, half `h` of a packed word.
pub fn code_bits(code: u8, reg: usize, h: usize) -> u32 {
    let [s, e1, e0, m] = CODE_BITS[reg][h];
    let bit = |b: u8, at: u32| u32::from((code >> b) & 1) << at;
    bit(3, s) | bit(2, e1) | bit(1, e0) | bit(0, m)
}

/// Whether an E4M3 byte is NaN.
fn e4m3_is_nan(b: u8) -> bool {
    b & 0x7F == 0x7F
}

/// Repacks checkpoint-layout weights (`codes` `[N, K/2]`, linear `scales` `[N, K/16]`) into the
/// kernel layout described in the module docs; `nan_rows` (`tiles` words) receives the rows with
/// a NaN scale.
pub fn pack_weights(
    codes: &[u8],
    scales: &[u8],
    n: usize,
    k: usize,
    packed_codes: &mut [u8],
    packed_scales: &mut [u8],
    nan_rows: &mut [u32],
) -> Result<()> {
    let s = PackedShape::new(n, k)?;
    check_len("codes", n * k / 2, codes.len())?;
    check_len("scales", n * k / BLOCK, scales.len())?;
    check_len("packed codes", s.codes_len(), packed_codes.len())?;
    check_len("packed scales", s.scales_len(), packed_scales.len())?;
    check_len("NaN rows", s.tiles, nan_rows.len())?;
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
    nan_rows.fill(0);
    for (row, r) in scales.chunks_exact(row_blocks).enumerate() {
        if r.iter().any(|&b| e4m3_is_nan(b)) {
            nan_rows[row / TILE_ROWS] |= 1 << (row % TILE_ROWS);
        }
    }
    for nt in 0..s.tiles {
        for kc in 0..s.chunks {
            let base = (nt * s.chunks + kc) * 512;
            let sbase = (nt * s.chunks + kc) * 64;
            for lane in 0..32 {
                for step in 0..4 {
                    let mut word = 0u32;
                    for reg in 0..4 {
                        let row = TILE_ROWS * nt + lane / 4 + 8 * (reg % 2);
                        let byte = code(row, 32 * kc + 8 * (lane % 4) + 2 * step + reg / 2);
                        word |= code_bits(byte & 0xF, reg, 0) | code_bits(byte >> 4, reg, 1);
                    }
                    let at = base + (lane * 4 + step) * 4;
                    packed_codes[at..at + 4].copy_from_slice(&word.to_le_bytes());
                }
                for hi in 0..2 {
                    let b = scale(TILE_ROWS * nt + lane / 4 + 8 * hi, 4 * kc + lane % 4);
                    packed_scales[sbase + 2 * lane + hi] = if e4m3_is_nan(b) { 0 } else { b };
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's register extraction (`e2m1x8_unpack` in `kernels/nvfp4_gemm.cuh`), in Rust.
    fn unpack(w: u32) -> [u32; 4] {
        const MASK: u32 = 0x81C0_81C0;
        [
            w & MASK,
            w.rotate_left(4) & MASK,
            w.rotate_left(10) & MASK,
            (w.rotate_left(6) & 0x0040_0040) | (w.rotate_left(14) & 0x8180_8180),
        ]
    }

    /// The positions of the four registers' codes tile the 32 bits of a word, and the kernel's
    /// extraction turns every code into a bf16 of value `e2m1 * 2^-126`, sign included.
    #[test]
    fn unpacked_registers_are_e2m1_times_2_pow_minus_126() {
        let mut all: Vec<u32> = CODE_BITS.iter().flatten().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..32).collect::<Vec<_>>());
        for reg in 0..4 {
            for h in 0..2 {
                for code in 0..16u8 {
                    // The other registers' codes are all ones: their bits must not leak in.
                    let mut w = code_bits(code, reg, h);
                    for other in (0..4).filter(|&r| r != reg) {
                        w |= code_bits(0xF, other, 0) | code_bits(0xF, other, 1);
                    }
                    w |= code_bits(0xF, reg, 1 - h);
                    let half = (unpack(w)[reg] >> (16 * h)) as u16;
                    let got = f64::from(nvfp4_core::bf16::from_bits(half).to_f32());
                    let want = f64::from(nvfp4_core::e2m1::decode(code)) * 2f64.powi(-126);
                    assert_eq!(got.to_bits(), want.to_bits(), "reg {reg} h {h} code {code}");
                }
            }
        }
    }

    /// Every checkpoint code and scale lands exactly once where the module docs say, NaN scales
    /// are zeroed and flagged, and everything else is zero padding.
    #[test]
    fn packing_places_every_code_and_scale() {
        for (n, k) in [(1, 16), (16, 64), (17, 80), (33, 48), (40, 7168 / 8)] {
            let codes: Vec<u8> = (0..n * k / 2).map(|i| (i * 37 % 251 + 1) as u8).collect();
            let mut scales: Vec<u8> = (0..n * k / 16).map(|i| (i % 126 + 1) as u8).collect();
            scales[n * k / 16 - 1] = 0xFF; // NaN in the last row
            let s = PackedShape::new(n, k).unwrap();
            let (mut pc, mut ps) = (vec![0xEE; s.codes_len()], vec![0xEE; s.scales_len()]);
            let mut nan_rows = vec![7; s.tiles];
            pack_weights(&codes, &scales, n, k, &mut pc, &mut ps, &mut nan_rows).unwrap();
            let mut seen_codes = 0;
            for row in 0..s.tiles * 16 {
                for col in 0..s.chunks * 32 {
                    let (nt, r) = (row / 16, row % 16);
                    let (kc, cc) = (col / 32, col % 32);
                    let (t, within) = (cc / 8, cc % 8);
                    let (step, pair) = (within / 2, within % 2);
                    let lane = (r % 8) * 4 + t;
                    let reg = r / 8 + 2 * pair;
                    let at = (nt * s.chunks + kc) * 512 + (lane * 4 + step) * 4;
                    let w = u32::from_le_bytes(pc[at..at + 4].try_into().unwrap());
                    let mask = code_bits(0xF, reg, 0) | code_bits(0xF, reg, 1);
                    let want = if row < n && col < k / 2 {
                        seen_codes += 1;
                        codes[row * k / 2 + col]
                    } else {
                        0
                    };
                    let want = code_bits(want & 0xF, reg, 0) | code_bits(want >> 4, reg, 1);
                    assert_eq!(w & mask, want, "n={n} k={k} row {row} col {col}");
                }
                for blk in 0..s.chunks * 4 {
                    let (lane, hi) = ((row % 8) * 4 + blk % 4, (row % 16) / 8);
                    let at = ((row / 16) * s.chunks + blk / 4) * 64 + 2 * lane + hi;
                    let want = if row < n && blk < k / 16 {
                        scales[row * k / 16 + blk]
                    } else {
                        0
                    };
                    let want = if want == 0xFF { 0 } else { want };
                    assert_eq!(ps[at], want, "n={n} k={k} row {row} block {blk}");
                }
            }
            assert_eq!(seen_codes, codes.len());
            let mut want_nan = vec![0u32; s.tiles];
            want_nan[(n - 1) / 16] = 1 << ((n - 1) % 16);
            assert_eq!(nan_rows, want_nan, "n={n} k={k}");
        }
    }

    #[test]
    fn shape_errors() {
        assert!(PackedShape::new(4, 24).is_err());
        assert!(PackedShape::new(0, 16).is_err());
        let mut small = vec![0u8; 10];
        assert!(pack_weights(&[0; 8], &[0], 1, 16, &mut small, &mut [0; 64], &mut [0]).is_err());
        assert!(pack_weights(&[0; 8], &[0], 1, 16, &mut [0; 512], &mut [0; 64], &mut []).is_err());
    }
}
