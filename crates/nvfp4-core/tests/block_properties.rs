//! Properties of the block quantizer (SPEC section 3) on random blocks.

use nvfp4_core::block::{BLOCK, dequantize_element, quantize_block};
use nvfp4_core::{e2m1, e4m3};
use proptest::prelude::*;

/// Half the larger gap next to an E2M1 magnitude: how far a value that encodes to this code may
/// lie from it (6 also absorbs saturation, whose error stays below half the 4..6 gap).
fn half_gap(code: u8) -> f64 {
    const HALF_GAP: [f64; 8] = [0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 1.0, 1.0];
    HALF_GAP[(code & 7) as usize]
}

fn finite_block() -> impl Strategy<Value = [f32; BLOCK]> {
    (prop::array::uniform16(-1.0f32..1.0), -20i32..20).prop_map(|(mut x, e)| {
        let s = 2f32.powi(e);
        for v in &mut x {
            *v *= s;
        }
        x
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// With a normal E4M3 scale, every element dequantizes to within half a grid step of itself.
    #[test]
    fn quantize_dequantize_within_half_step(x in finite_block(), c in 1.0f32..400.0) {
        let vmax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        prop_assume!(vmax > 0.0);
        // sf = gs * vmax / 6 = 448 / c, inside the normal E4M3 range.
        let gs = 2688.0 / (vmax * c);
        prop_assume!(gs.is_finite());
        let dec = 1.0 / gs;
        let q = quantize_block(&x, gs);
        prop_assert!(q.scale >= 0x08 && q.scale <= 0x7E, "scale {:#x}", q.scale);
        let step = e4m3::decode(q.scale) as f64 * dec as f64;
        for (i, (&v, &c)) in x.iter().zip(&q.codes).enumerate() {
            let back = dequantize_element(c, q.scale, dec) as f64;
            let tol = half_gap(c) * step * (1.0 + 1e-5);
            prop_assert!((v as f64 - back).abs() <= tol, "element {}: {} -> {} (tol {})", i, v, back, tol);
        }
    }

    /// NaN anywhere: scale 0x7F, codes zero.
    #[test]
    fn nan_blocks(x in finite_block(), at in 0usize..BLOCK, gs in 0.01f32..1e4) {
        let mut x = x;
        x[at] = f32::NAN;
        let q = quantize_block(&x, gs);
        prop_assert_eq!(q.scale, 0x7F);
        prop_assert_eq!(q.codes, [0u8; BLOCK]);
    }

    /// Infinity (and no NaN): the scale saturates to 448 and the infinities to +-6.
    #[test]
    fn inf_blocks(x in finite_block(), at in 0usize..BLOCK, neg in any::<bool>(), gs in 0.01f32..1e4) {
        let mut x = x;
        x[at] = if neg { f32::NEG_INFINITY } else { f32::INFINITY };
        let q = quantize_block(&x, gs);
        prop_assert_eq!(q.scale, 0x7E);
        prop_assert_eq!(q.codes[at], if neg { 0xF } else { 0x7 });
    }

    /// Zero blocks (any signs): scale 0, every code the signed zero of its input.
    #[test]
    fn zero_blocks(signs in any::<u16>(), gs in 1e-30f32..1e30) {
        let x: [f32; BLOCK] = core::array::from_fn(|i| if signs >> i & 1 == 1 { -0.0 } else { 0.0 });
        let q = quantize_block(&x, gs);
        prop_assert_eq!(q.scale, 0);
        for i in 0..BLOCK {
            prop_assert_eq!(q.codes[i], if signs >> i & 1 == 1 { 8 } else { 0 });
        }
    }

    /// Blocks of binary32 subnormals with a moderate gs: the scale underflows to 0x00 and every
    /// element to a signed zero; nothing becomes NaN.
    #[test]
    fn subnormal_blocks(m in prop::array::uniform16(0u32..0x0080_0000), signs in any::<u16>(), gs in 0.01f32..1e6) {
        let x: [f32; BLOCK] = core::array::from_fn(|i| f32::from_bits(m[i] | ((signs as u32 >> i & 1) << 31)));
        let q = quantize_block(&x, gs);
        prop_assert_eq!(q.scale, 0);
        for (&c, &v) in q.codes.iter().zip(&x) {
            prop_assert_eq!(c, e2m1::encode(v * 0.0));
        }
    }
}
