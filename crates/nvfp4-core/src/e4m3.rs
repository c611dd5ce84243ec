//! E4M3FN, the 8-bit block-scale format (SPEC section 1).
//!
//! Bias 7, 3 mantissa bits, largest finite 448 (`0x7E`), smallest normal `2^-6` (`0x08`),
//! smallest subnormal `2^-9` (`0x01`), NaN `0x7F` (and `0xFF`), no infinity.
//!
//! ```
//! use nvfp4_core::e4m3;
//! assert_eq!(e4m3::encode(448.0), 0x7E);
//! assert_eq!(e4m3::encode(1000.0), 0x7E); // saturates
//! assert_eq!(e4m3::encode(2f32.powi(-9)), 0x01);
//! assert_eq!(e4m3::encode(2f32.powi(-10)), 0x00); // tie to even
//! assert!(e4m3::decode(0x7F).is_nan());
//! ```

use crate::float::{RINT_MAGIC, abs_f32, pow2_normal};

/// The largest finite value, 448.
pub const MAX: f32 = 448.0;
/// The NaN byte.
pub const NAN: u8 = 0x7F;
/// The byte of 448.
pub const MAX_BYTE: u8 = 0x7E;

/// Encodes a binary32 value to E4M3FN, round to nearest, ties to even, saturating.
///
/// Derivation: let `e = max(floor(log2 |s|), -6)` (`-6` is the smallest normal exponent, so the
/// subnormal range shares the exponent of `2^-6`), and `q = 2^(e-3)`, the spacing of the grid
/// around `|s|`. Then `n = rne(|s| / q)` is exact arithmetic followed by one rounding, with
/// `n` in `0..=16`. The byte is `((e + 7) << 3) + n - 8`: for a normal `|s|`, `n` in `8..16` is the
/// implicit bit plus mantissa, and `n == 16` carries into the next exponent by itself; for a
/// subnormal one (`e == -6`) the formula reduces to `n`, the subnormal mantissa. So `s < 2^-10`
/// gives `0x00`, `s == 2^-10` ties to even (`0x00`), and `2^-6 - 2^-11` rounds up to `0x08`.
///
/// Magnitudes of 448 and above, including infinity, give `0x7E` (with the sign bit for negative
/// input). NaN gives `0x7F`. Negative input keeps its sign in bit 7 (NVFP4 only uses the positive
/// half).
#[inline]
pub fn encode(s: f32) -> u8 {
    if s.is_nan() {
        return NAN;
    }
    let sign = ((s.to_bits() >> 31) as u8) << 7;
    let a = abs_f32(s);
    if a >= MAX {
        return sign | MAX_BYTE;
    }
    let exp = ((a.to_bits() >> 23) as i32) - 127; // floor(log2 a) for normal a; -127 for 0/subnormal
    let e = if exp < -6 { -6 } else { exp };
    // a * 2^(3-e) is exact (a power-of-two scaling) and below 17; adding 1.5 * 2^23 rounds it to
    // an integer (RNE), which is then the low bits of the sum.
    let n = ((a * pow2_normal(3 - e) + RINT_MAGIC).to_bits() - RINT_MAGIC.to_bits()) as i32;
    sign | (((e + 7) << 3) + n - 8) as u8
}

/// Decodes an E4M3FN byte to binary32 (exact). `0x7F` and `0xFF` are NaN.
///
/// By construction: a normal byte (exponent field `e > 0`) is the binary32 number with exponent
/// `e - 7` and the same 3 mantissa bits; a subnormal one, `m * 2^-9`, is `(1 + m/8) * 2^-6 - 2^-6`,
/// an exact subtraction.
#[inline]
pub const fn decode(byte: u8) -> f32 {
    let mag = (byte & 0x7F) as u32;
    if mag == 0x7F {
        return f32::NAN;
    }
    let (e, m) = (mag >> 3, mag & 7);
    let v = if e == 0 {
        f32::from_bits((121 << 23) | (m << 20)) - pow2_normal(-6)
    } else {
        f32::from_bits(((e + 120) << 23) | (m << 20))
    };
    if byte & 0x80 != 0 { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finite_byte_round_trips() {
        for b in 0u8..=255 {
            let v = decode(b);
            if b & 0x7F == 0x7F {
                assert!(v.is_nan());
                assert_eq!(encode(v), NAN);
            } else {
                assert_eq!(encode(v), b, "byte {b:#04x} -> {v:e}");
            }
        }
    }

    #[test]
    fn golden_values() {
        // 2^-10 is the midpoint between 0 and the smallest subnormal 2^-9: ties to even -> 0x00.
        assert_eq!(encode(2f32.powi(-10)), 0x00);
        // 3 * 2^-10 is the midpoint between 2^-9 (0x01) and 2^-8 (0x02): even is 0x02.
        assert_eq!(encode(3.0 * 2f32.powi(-10)), 0x02);
        // Just above 2^-10 rounds up to the smallest subnormal.
        assert_eq!(encode(f32::from_bits(2f32.powi(-10).to_bits() + 1)), 0x01);
        // 2^-6 - 2^-10 sits between 7*2^-9 (0x07) and 2^-6 (0x08): the tie goes to 0x08 (even).
        assert_eq!(encode(2f32.powi(-6) - 2f32.powi(-10)), 0x08);
        // 1.0 = 2^0: exponent field 7, mantissa 0.
        assert_eq!(encode(1.0), 0x38);
        // 1.0625 is the midpoint between 1.0 (0x38) and 1.125 (0x39): even is 0x38.
        assert_eq!(encode(1.0625), 0x38);
        // 1.1875 is the midpoint between 1.125 (0x39) and 1.25 (0x3A): even is 0x3A.
        assert_eq!(encode(1.1875), 0x3A);
        // 440 < 448: between 416 (0x7D) and 448 (0x7E), the tie at 432 goes to 0x7E (even).
        assert_eq!(encode(432.0), 0x7E);
        assert_eq!(encode(f32::INFINITY), 0x7E);
        assert_eq!(encode(0.0), 0x00);
        assert_eq!(encode(-0.0), 0x80);
        assert_eq!(encode(-1.0), 0xB8);
        assert_eq!(decode(0x01), 2f32.powi(-9));
        assert_eq!(decode(0x08), 2f32.powi(-6));
        assert_eq!(decode(0x7E), 448.0);
    }
}
