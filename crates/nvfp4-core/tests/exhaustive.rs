//! Exhaustive checks of the two encoders against brute-force nearest searches written from the
//! format definitions, not from the encoders' own thresholds or bit tricks.

use nvfp4_core::{e2m1, e4m3};

/// Nearest E2M1 code by search: the magnitude closest to |y| (in f64), a tie going to the code
/// whose mantissa bit is 0, values beyond 6 saturating; the sign bit copied from y.
fn e2m1_reference(y: f32) -> u8 {
    let sign = if y.is_sign_negative() { 8 } else { 0 };
    let a = (y as f64).abs().min(6.0); // saturation (also keeps f64 distances exact)
    let mut best = 0usize;
    for c in 1..8 {
        let d = (e2m1::MAGNITUDES[c] as f64 - a).abs();
        let db = (e2m1::MAGNITUDES[best] as f64 - a).abs();
        if d < db || (d == db && c % 2 == 0) {
            best = c;
        }
    }
    sign | best as u8
}

/// Nearest E4M3 byte by search over all 126 finite non-negative values: the closest in f64, ties
/// to the even byte (mantissa LSB 0), saturating at 448; the sign in bit 7.
fn e4m3_reference(s: f32) -> u8 {
    if s.is_nan() {
        return 0x7F;
    }
    let sign = if s.is_sign_negative() { 0x80 } else { 0 };
    let a = (s as f64).abs().min(448.0); // saturation (also keeps f64 distances exact)
    let mut best = 0u8;
    for b in 1u8..=0x7E {
        let d = (e4m3::decode(b) as f64 - a).abs();
        let db = (e4m3::decode(best) as f64 - a).abs();
        if d < db || (d == db && b % 2 == 0) {
            best = b;
        }
    }
    sign | best
}

#[test]
fn e2m1_every_bf16() {
    for bits in 0u16..=u16::MAX {
        let y = f32::from_bits((bits as u32) << 16);
        if y.is_nan() {
            continue; // NaN never reaches the element encoder (SPEC section 3)
        }
        assert_eq!(
            e2m1::encode(y),
            e2m1_reference(y),
            "bf16 bits {bits:#06x} = {y:e}"
        );
    }
}

#[test]
fn e4m3_every_bf16() {
    for bits in 0u16..=u16::MAX {
        let s = f32::from_bits((bits as u32) << 16);
        assert_eq!(
            e4m3::encode(s),
            e4m3_reference(s),
            "bf16 bits {bits:#06x} = {s:e}"
        );
    }
}

#[test]
fn e4m3_within_one_ulp_of_every_midpoint() {
    // Midpoints between consecutive representable magnitudes (0 included), and the first one above
    // 448, are exact in f32; test each and its two f32 neighbours, with both signs.
    let mut values: Vec<f64> = (0u8..=0x7E).map(|b| e4m3::decode(b) as f64).collect();
    values.push(480.0); // the next grid point above 448, which must saturate back to 448
    let mut checked = 0;
    for w in values.windows(2) {
        let mid = ((w[0] + w[1]) / 2.0) as f32;
        assert_eq!(mid as f64, (w[0] + w[1]) / 2.0, "midpoint not exact");
        for s in [
            f32::from_bits(mid.to_bits() - 1),
            mid,
            f32::from_bits(mid.to_bits() + 1),
        ] {
            for v in [s, -s] {
                assert_eq!(e4m3::encode(v), e4m3_reference(v), "s = {v:e}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 127 * 6);
}
