//! E2M1, the 4-bit element format (SPEC section 1), and nibble packing.
//!
//! A code is `s e1 e0 m`: sign, two exponent bits with bias 1, one mantissa bit. Codes `0x0..=0x7`
//! are `+0, 0.5, 1, 1.5, 2, 3, 4, 6`; `0x8..=0xF` are their negatives (`0x8` is `-0`). There is no
//! Inf or NaN.
//!
//! ```
//! use nvfp4_core::e2m1;
//! assert_eq!(e2m1::encode(2.6), 0x5); // 3.0: 2.6 is above the 2.5 midpoint
//! assert_eq!(e2m1::encode(-0.25), 0x8); // ties to the even code, keeps the sign
//! assert_eq!(e2m1::decode(0xF), -6.0);
//! ```

/// The magnitudes of codes `0..8`.
pub const MAGNITUDES: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The largest magnitude, 6.
pub const MAX: f32 = 6.0;

/// Encodes a binary32 value to an E2M1 code with round-half-to-even and saturation.
///
/// The result follows SPEC section 1's threshold table: a tie goes to the code with mantissa bit 0
/// (0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4), magnitudes above 5,
/// including infinity, give 6, and the sign bit of the code is the sign bit of `y` (so `-0.0` and
/// `-0.1` give `0x8`). This equals PTX `cvt.rn.satfinite.e2m1x2.f32` for every non-NaN input. NaN
/// never reaches the encoder in the block recipe (a NaN block is handled before); for totality it
/// encodes as the saturated magnitude, `0x7` with its sign bit.
///
/// The magnitude is computed the way the kernels do it (`e2m1_encode_abs` in
/// `nvfp4_numerics.cuh`), with no comparison chain; the tests check it against the threshold table
/// on every bf16 and around every threshold.
#[inline]
pub const fn encode(y: f32) -> u8 {
    let bits = y.to_bits();
    ((bits >> 31) as u8) << 3 | encode_abs(bits & 0x7FFF_FFFF)
}

/// The E2M1 magnitude code (0..=7) of `|y|`, given as its bits `u` (sign bit clear).
///
/// Derivation: E2M1 is a binary format with 1 mantissa bit and exponents 0..=2 (bias 1), whose
/// subnormal step 0.5 equals the step of exponent 0. With `k = max(floor(log2 |y|), 0)` the grid
/// around `|y| < 8` has spacing `2^(k-1)`, so the code is `2k + rne(|y| * 2^(1-k))`, saturated at
/// 7; for `|y| >= 8` (`k >= 3`) the same expression is at least 8 and saturates too, so `k` needs
/// no upper clamp. In bits: `t = max(u >> 23, 127)` is `k + 127`; `2^(1-k)` is the float with
/// bits `(255 - t) << 23` (0.0 for Inf and NaN, whose product is then NaN); the product is exact
/// (a power-of-two scaling) and `rne(p) = bits(p + 1.5 * 2^23) - bits(1.5 * 2^23)` for `p < 2^22`
/// (one RNE addition; `p < 4` here). A NaN sum has bits far above, which the `min` saturates.
#[inline]
pub const fn encode_abs(u: u32) -> u8 {
    const MAGIC: f32 = crate::float::RINT_MAGIC;
    let e = u >> 23;
    let t = if e < 127 { 127 } else { e };
    let scale = f32::from_bits((255 - t) << 23);
    let n = (f32::from_bits(u) * scale + MAGIC).to_bits() - MAGIC.to_bits();
    let code = n + 2 * (t - 127);
    if code > 7 { 7 } else { code as u8 }
}

/// Decodes an E2M1 code (low nibble of `code`; the high nibble is ignored) to binary32.
#[inline]
pub const fn decode(code: u8) -> f32 {
    let m = MAGNITUDES[(code & 7) as usize];
    if code & 8 != 0 { -m } else { m }
}

/// Packs two codes into one byte: `lo` (element 2j) in bits 3..0, `hi` (element 2j+1) in bits 7..4.
#[inline]
pub const fn pack(lo: u8, hi: u8) -> u8 {
    (lo & 0xF) | ((hi & 0xF) << 4)
}

/// Splits a packed byte into (element 2j, element 2j+1).
#[inline]
pub const fn unpack(byte: u8) -> (u8, u8) {
    (byte & 0xF, byte >> 4)
}

/// Reads code `i` of a packed row.
#[inline]
pub fn code_at(packed: &[u8], i: usize) -> u8 {
    let b = packed[i / 2];
    if i.is_multiple_of(2) { b & 0xF } else { b >> 4 }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn every_code_round_trips() {
        for code in 0u8..16 {
            let v = decode(code);
            let back = encode(v);
            assert_eq!(back, code, "code {code:#x} -> {v} -> {back:#x}");
        }
    }

    #[test]
    fn golden_midpoints() {
        // Each midpoint m between two neighbours ties to the one with mantissa bit 0 (even code):
        // 0.25 between 0 (0x0) and 0.5 (0x1)   -> 0x0
        // 0.75 between 0.5 (0x1) and 1 (0x2)   -> 0x2
        // 1.25 between 1 (0x2) and 1.5 (0x3)   -> 0x2
        // 1.75 between 1.5 (0x3) and 2 (0x4)   -> 0x4
        // 2.5  between 2 (0x4) and 3 (0x5)     -> 0x4
        // 3.5  between 3 (0x5) and 4 (0x6)     -> 0x6
        // 5.0  between 4 (0x6) and 6 (0x7)     -> 0x6
        let cases = [
            (0.25, 0x0),
            (0.75, 0x2),
            (1.25, 0x2),
            (1.75, 0x4),
            (2.5, 0x4),
            (3.5, 0x6),
            (5.0, 0x6),
        ];
        for (x, c) in cases {
            assert_eq!(encode(x), c, "{x}");
            assert_eq!(encode(-x), c | 8, "-{x}");
        }
        // Just past a tie goes the other way: 2.6 > 2.5 -> 3 (0x5), 5.2 > 5 -> 6 (0x7). A "scale by 2
        // and round" encoder would give 2 and 4 here.
        assert_eq!(encode(2.6), 0x5);
        assert_eq!(encode(5.2), 0x7);
        // -0.0 keeps its sign; Inf saturates.
        assert_eq!(encode(-0.0), 0x8);
        assert_eq!(encode(f32::INFINITY), 0x7);
        assert_eq!(encode(f32::NEG_INFINITY), 0xF);
    }

    /// SPEC section 1's table, written out as comparisons.
    fn threshold_reference(y: f32) -> u8 {
        let sign = if y.is_sign_negative() { 8 } else { 0 };
        let a = y.abs();
        let mag = if a <= 0.25 {
            0
        } else if a < 0.75 {
            1
        } else if a <= 1.25 {
            2
        } else if a < 1.75 {
            3
        } else if a <= 2.5 {
            4
        } else if a < 3.5 {
            5
        } else if a <= 5.0 {
            6
        } else {
            7
        };
        sign | mag
    }

    #[test]
    fn equals_the_threshold_table_around_every_threshold_and_exponent() {
        // 4096 f32 neighbours on each side of every threshold, every E2M1 value and every power
        // of two, in both signs, plus the extremes.
        let mut centres = vec![
            0.25f32, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0,
        ];
        centres.extend((-149..=127).map(|e| 2f32.powi(e)));
        for c in centres {
            for d in -4096i64..=4096 {
                let b = c.to_bits() as i64 + d;
                if !(0..0x7F80_0000).contains(&b) {
                    continue;
                }
                for y in [f32::from_bits(b as u32), -f32::from_bits(b as u32)] {
                    assert_eq!(encode(y), threshold_reference(y), "{y:e}");
                }
            }
        }
        for y in [
            0.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            f32::INFINITY,
        ] {
            assert_eq!(encode(y), threshold_reference(y), "{y:e}");
            assert_eq!(encode(-y), threshold_reference(-y), "-{y:e}");
        }
    }

    #[test]
    fn packing_order() {
        assert_eq!(pack(0x1, 0xE), 0xE1);
        assert_eq!(unpack(0xE1), (0x1, 0xE));
        let row = [0x21u8, 0x43];
        assert_eq!(
            [
                code_at(&row, 0),
                code_at(&row, 1),
                code_at(&row, 2),
                code_at(&row, 3)
            ],
            [1, 2, 3, 4]
        );
    }
}
