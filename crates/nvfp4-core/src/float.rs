//! Binary32 helpers that `core` lacks: a correctly rounded fused multiply-add and bit-level
//! absolute value.
//!
//! `f32::mul_add` lives in `std` (it calls the C library), so the `no_std` core carries its own
//! [`fma_f32`]. It is exact by construction, not by hope: the product of two binary32 numbers is
//! exact in binary64 (24 + 24 bits < 53), the sum is formed in binary64 with its rounding error
//! recovered by TwoSum, the binary64 result is nudged to *round to odd*, and the final narrowing
//! to binary32 is then a correct single rounding (round-to-odd at p + 2 or more bits followed by
//! RNE at p bits equals one RNE; Boldo and Melquiond, "Emulation of FMA and correctly rounded
//! sums: proved algorithms using rounding to odd", IEEE TC 2008). The tests compare it with
//! `std`'s `f32::mul_add` on edge cases and random inputs.

/// `|x|` by clearing the sign bit (NaN payloads are kept).
#[inline]
pub const fn abs_f32(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0x7FFF_FFFF)
}

/// `fma(a, b, c)`: `a * b + c` with one rounding to nearest, ties to even, as CUDA `__fmaf_rn`.
#[inline]
pub fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    let p = a as f64 * b as f64; // exact
    let cd = c as f64;
    let s = p + cd;
    if !s.is_finite() || p == 0.0 || cd == 0.0 {
        // Inf/NaN propagate as IEEE says; with a zero operand the sum is exact (and the signed-zero
        // rules of binary64 addition equal those of the fused operation).
        return s as f32;
    }
    // TwoSum: err is the exact rounding error of s = p + cd.
    let bp = s - cd;
    let err = (p - bp) + (cd - (s - bp));
    if err == 0.0 || s.to_bits() & 1 == 1 {
        return s as f32;
    }
    // Round to odd: the exact value lies strictly between s and its neighbour in the direction of
    // err; of the two, take the odd one.
    let toward_larger_magnitude = (err > 0.0) == (s > 0.0);
    let bits = if toward_larger_magnitude {
        s.to_bits() + 1
    } else {
        s.to_bits() - 1
    };
    f64::from_bits(bits) as f32
}

/// `1.5 * 2^23`: adding it to `|x| < 2^22` rounds `x` to an integer (RNE), which then sits in the
/// low mantissa bits of the sum.
pub const RINT_MAGIC: f32 = 12_582_912.0;

/// `2^k` as binary32 for `-126 <= k <= 127` (the normal range).
#[inline]
pub const fn pow2_normal(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    fn check(a: f32, b: f32, c: f32) {
        let want = a.mul_add(b, c);
        let got = fma_f32(a, b, c);
        assert!(
            want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
            "fma({a:e}, {b:e}, {c:e}) = {got:e}, want {want:e}"
        );
    }

    #[test]
    fn fma_edge_cases() {
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::MAX,
            -f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0 + f32::EPSILON,
            1.0 - f32::EPSILON / 2.0,
            0.5,
            3.0,
            1e-30,
            1e30,
        ];
        for &a in &specials {
            for &b in &specials {
                for &c in &specials {
                    check(a, b, c);
                }
            }
        }
        // A double-rounding trap: a*b = 1 + 2^-24 + 2^-48 exactly needs the low bits to round up.
        let a = 1.0 + f32::EPSILON / 2.0 * 2.0; // 1 + 2^-23
        check(a, 1.0 + 2f32.powi(-24) * 2.0, -1.0);
        check(
            1.0 + 2f32.powi(-12),
            1.0 + 2f32.powi(-12),
            -(2f32.powi(-24)),
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn fma_matches_std(a in any::<u32>(), b in any::<u32>(), c in any::<u32>()) {
            check(f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
        }

        #[test]
        fn fma_matches_std_near_cancellation(a in -4.0f32..4.0, b in -4.0f32..4.0, d in any::<u16>()) {
            // c close to -a*b: the hard cases for the low bits.
            let c = -(a * b) + f32::from_bits(d as u32) ;
            check(a, b, c);
        }
    }
}
