//! Quantize, dequantize, route and combine: layouts agree, hard shapes, and errors.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use nvfp4_core::block::{BLOCK, quantize_block};
use nvfp4_core::layout::{ScaleLayout, linear_to_swizzled};
use nvfp4_core::tensor::QuantizedRef;
use nvfp4_core::{Error, bf16};
use nvfp4_cpu::combine::combine;
use nvfp4_cpu::dequantize::dequantize;
use nvfp4_cpu::quantize::{quantize, quantize_dynamic, quantize_gather};
use nvfp4_cpu::route::{Routing, SKIPPED};
use nvfp4_cpu::synth::Rng;

fn quantized(
    x: &[bf16],
    rows: usize,
    k: usize,
    gs: f32,
    layout: ScaleLayout,
) -> (Vec<u8>, Vec<u8>) {
    let mut c = vec![0xAA; rows * k / 2];
    let mut s = vec![0xAA; layout.len(rows, k / BLOCK).unwrap()];
    quantize(x, rows, k, gs, layout, &mut c, &mut s).unwrap();
    (c, s)
}

#[test]
fn swizzled_equals_linear_then_converted_on_ragged_shapes() {
    let mut rng = Rng::new(3);
    for (rows, k) in [(1, 16), (127, 48), (128, 16), (129, 48), (300, 80)] {
        let x = rng.vec_bf16(rows * k, 2.0);
        let (cl, sl) = quantized(&x, rows, k, 100.0, ScaleLayout::Linear);
        let (cs, ss) = quantized(&x, rows, k, 100.0, ScaleLayout::Swizzled);
        assert_eq!(cl, cs, "codes do not depend on the layout");
        let mut conv = vec![0xEE; ss.len()];
        linear_to_swizzled(&sl, rows, k / BLOCK, &mut conv).unwrap();
        assert_eq!(
            conv, ss,
            "rows {rows} k {k}: swizzled scales (padding zero)"
        );
        // Each block equals the core block quantizer.
        for r in [0, rows / 2, rows - 1] {
            for b in 0..k / BLOCK {
                let block: [bf16; BLOCK] = core::array::from_fn(|i| x[r * k + b * BLOCK + i]);
                let q = quantize_block(&block, 100.0);
                assert_eq!(sl[r * (k / BLOCK) + b], q.scale);
                assert_eq!(&cl[(r * k + b * BLOCK) / 2..][..8], &q.packed());
            }
        }
    }
}

#[test]
fn dynamic_scale_uses_amax_and_dequantizes_close() {
    let mut rng = Rng::new(4);
    let (rows, k) = (5, 64);
    let mut x = rng.vec(rows * k, 3.0);
    x[17] = -40.0;
    let (mut c, mut s) = (vec![0; rows * k / 2], vec![0; rows * k / 16]);
    let gs = quantize_dynamic(&x, rows, k, ScaleLayout::Linear, &mut c, &mut s).unwrap();
    assert_eq!(gs, 2688.0 / 40.0);
    let q = QuantizedRef::new(&c, &s, ScaleLayout::Linear, rows, k).unwrap();
    let mut back = vec![0f32; rows * k];
    dequantize(&q, 1.0 / gs, &mut back).unwrap();
    // The amax element maps to code 6 at scale 448: back to 40 up to the rounding of 1 / gs.
    assert!((back[17] + 40.0).abs() < 1e-5, "{}", back[17]);
    // Within half the widest grid step (4 -> 6 at scale blockmax / 6) of each block, plus rounding.
    for (xb, bb) in x.chunks(BLOCK).zip(back.chunks(BLOCK)) {
        let bmax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, b) in xb.iter().zip(bb) {
            assert!(
                (a - b).abs() <= bmax / 6.0 * 1.07,
                "{a} -> {b} (block max {bmax})"
            );
        }
    }
    let mut back16 = vec![bf16::ZERO; rows * k];
    dequantize(&q, 1.0 / gs, &mut back16).unwrap();
    assert!(
        back.iter()
            .zip(&back16)
            .all(|(a, b)| bf16::from_f32(*a) == *b)
    );
}

#[test]
fn quantize_errors() {
    let x = vec![0f32; 32];
    let (mut c, mut s) = (vec![0; 16], vec![0; 2]);
    assert_eq!(
        quantize(&x, 1, 24, 1.0, ScaleLayout::Linear, &mut c, &mut s),
        Err(Error::NotBlockMultiple {
            dim: "K",
            value: 24
        })
    );
    assert!(matches!(
        quantize(&x, 1, 32, f32::NAN, ScaleLayout::Linear, &mut c, &mut s),
        Err(Error::BadScale { .. })
    ));
    assert!(matches!(
        quantize(&x, 1, 32, 0.0, ScaleLayout::Linear, &mut c, &mut s),
        Err(Error::BadScale { .. })
    ));
    assert!(matches!(
        quantize(&x, 1, 32, 1.0, ScaleLayout::Swizzled, &mut c, &mut s),
        Err(Error::BufferLen { .. })
    ));
    assert!(matches!(
        quantize(&x, 2, 32, 1.0, ScaleLayout::Linear, &mut c, &mut s),
        Err(Error::BufferLen { .. })
    ));
    assert!(matches!(
        quantize_gather(&x, 32, 1, |_| 1, 1.0, ScaleLayout::Linear, &mut c, &mut s),
        Err(Error::InvalidParam { .. })
    ));
    let inf = vec![f32::INFINITY; 16];
    assert!(quantize_dynamic(&inf, 1, 16, ScaleLayout::Linear, &mut c[..8], &mut s[..1]).is_err());
    // An all-zero tensor quantizes with gs = 1 (SPEC section 2), no error.
    assert_eq!(
        quantize_dynamic(&x, 1, 32, ScaleLayout::Linear, &mut c, &mut s),
        Ok(1.0)
    );
}

#[test]
fn gather_equals_quantizing_gathered_rows() {
    let mut rng = Rng::new(5);
    let k = 32;
    let x = rng.vec_bf16(10 * k, 1.0);
    let idx = [7usize, 0, 7, 3];
    let gathered: Vec<bf16> = idx
        .iter()
        .flat_map(|&i| x[i * k..(i + 1) * k].to_vec())
        .collect();
    let want = quantized(&gathered, 4, k, 50.0, ScaleLayout::Swizzled);
    let (mut c, mut s) = (vec![0; 4 * k / 2], vec![0; 128 * 4]);
    quantize_gather(
        &x,
        k,
        4,
        |r| idx[r],
        50.0,
        ScaleLayout::Swizzled,
        &mut c,
        &mut s,
    )
    .unwrap();
    assert_eq!((c, s), want);
}

#[test]
fn routing_orders_by_expert_then_slot_and_skips() {
    // 4 tokens, top-2, 6 global experts, local experts [2, 5).
    let ids = [2, 4, -1, 2, 5, 3, 4, 0];
    let mut r = Routing::new(4, 2, 3).unwrap();
    let rep = r.route(&ids, 4, 6, 2..5).unwrap();
    assert_eq!(rep.routed_rows, 5);
    assert_eq!(r.offsets(), &[0, 2, 3, 5]);
    assert_eq!(r.row_slots(), &[0, 3, 5, 1, 6]);
    assert_eq!(r.slot_rows(), &[0, 3, SKIPPED, 1, SKIPPED, 2, 4, SKIPPED]);
    // Bad ids: an error in the strict form, skipped and counted in the lenient one.
    let bad = [2, 6, -2, 3];
    assert_eq!(
        r.route(&bad, 2, 6, 2..5),
        Err(Error::BadExpertId {
            token: 0,
            slot: 1,
            id: 6
        })
    );
    let rep = r.route_lenient(&bad, 2, 6, 2..5).unwrap();
    assert_eq!((rep.routed_rows, rep.bad_ids), (2, 2));
    assert!(
        r.route(&[0; 10], 5, 6, 2..5).is_err(),
        "more tokens than allocated"
    );
    assert!(
        r.route(&[0; 8], 4, 6, 2..6).is_err(),
        "local range of the wrong size"
    );
}

#[test]
fn combine_weights_slots_in_order_and_adds_shared() {
    let ids = [1, -1, 0, 1];
    let mut r = Routing::new(2, 2, 2).unwrap();
    r.route(&ids, 2, 2, 0..2).unwrap();
    // rows: expert 0 <- slot 2; expert 1 <- slots 0, 3.
    let h = 2;
    let y: Vec<bf16> = [1.0, 2.0, 10.0, 20.0, 100.0, 200.0]
        .iter()
        .map(|&v| bf16::from_f32(v))
        .collect();
    let w = [0.5, 9.0, 0.25, 2.0];
    let shared: Vec<bf16> = [1.0, 1.0, 1.0, 1.0]
        .iter()
        .map(|&v| bf16::from_f32(v))
        .collect();
    let mut out = vec![bf16::ZERO; 4];
    combine(&y, &r, &w, Some(&shared), h, &mut out).unwrap();
    // token 0: 0.5 * row1 + 1 = (6, 11); token 1: 0.25 * row0 + 2 * row2 + 1 = (201.25, 401.5).
    let want = [6.0, 11.0, 201.25, 401.5].map(bf16::from_f32);
    assert_eq!(out, want);
    assert!(combine(&y, &r, &w[..3], None, h, &mut out).is_err());
}

#[test]
fn parameter_errors_instead_of_panics() {
    use nvfp4_cpu::grouped::group_scale_range;
    assert_eq!(
        group_scale_range(0, 3, 8),
        Err(Error::NotBlockMultiple { dim: "K", value: 8 })
    );
    assert!(group_scale_range(0, 3, 0).is_err());
    assert_eq!(
        Routing::new(4, 0, 2).err(),
        Some(Error::ZeroDim { dim: "top_k" })
    );
}
