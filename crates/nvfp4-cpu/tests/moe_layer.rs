//! The simulated MoE layer end to end (SPEC section 6): accuracy against an unquantized f64
//! reference, and bit-for-bit equality with the composition of the individual ops.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use nvfp4_core::bf16;
use nvfp4_core::block::BLOCK;
use nvfp4_core::global_scale::{dec_from_gs, gs_from_amax, gs_from_dec};
use nvfp4_core::layout::ScaleLayout;
use nvfp4_core::plan::{GemmMode, MoeShape};
use nvfp4_core::tensor::QuantizedRef;
use nvfp4_cpu::combine::combine;
use nvfp4_cpu::gemm::{Activations, ColumnAlpha, gemm};
use nvfp4_cpu::moe::{ActScale, MoeConfig, MoeSimulator, MoeWeights};
use nvfp4_cpu::quantize::{amax, quantize};
use nvfp4_cpu::route::Routing;
use nvfp4_cpu::swiglu::swiglu;
use nvfp4_cpu::synth::{Rng, SyntheticMoe, accuracy};

/// The layer written out as a composition of the public ops, without the grouped buffers or the
/// fused activation: route, per expert gather + quantize + GEMM, SwiGLU then quantize, GEMM,
/// combine.
fn composed(
    case: &SyntheticMoe,
    static_l1: Option<&[f32]>,
    static_l2: Option<&[f32]>,
) -> Vec<bf16> {
    let s = case.shape;
    let (h, i, k) = (s.hidden, s.intermediate, s.top_k);
    let mut routing = Routing::new(s.max_tokens, k, s.experts).unwrap();
    routing
        .route(&case.ids, case.tokens(), s.experts, 0..s.experts)
        .unwrap();
    let off = routing.offsets().to_vec();
    let mut y = vec![bf16::ZERO; routing.rows() * h];
    let (gate, up, d2) = (
        case.q13.part_dec(0),
        case.q13.part_dec(1),
        case.q2.part_dec(0),
    );
    for e in 0..s.experts {
        let rows = off[e + 1] - off[e];
        if rows == 0 {
            continue;
        }
        let xe: Vec<bf16> = (off[e]..off[e + 1])
            .flat_map(|r| {
                let t = routing.row_slots()[r] as usize / k;
                case.x[t * h..(t + 1) * h].to_vec()
            })
            .collect();
        let w13 = case.q13.weights().unwrap().expert(e).unwrap();
        let w2 = case.q2.weights().unwrap().expert(e).unwrap();
        let mut he = vec![bf16::ZERO; rows * 2 * i];
        let mut ae = vec![bf16::ZERO; rows * i];
        let ye = &mut y[off[e] * h..off[e + 1] * h];
        match s.mode {
            GemmMode::W4A4 => {
                // Static: quantize with 1 / input_scale, scale the GEMM by input_scale itself.
                let (gs1, dec_a) = match static_l1 {
                    Some(d) => (gs_from_dec(d[e]).unwrap(), d[e]),
                    None => {
                        let gs = gs_from_amax(amax(&xe)).unwrap();
                        (gs, 1.0 / gs)
                    }
                };
                let (mut c, mut sc) = (
                    vec![0u8; rows * h / 2],
                    vec![0u8; ScaleLayout::Swizzled.len(rows, h / BLOCK).unwrap()],
                );
                quantize(&xe, rows, h, gs1, ScaleLayout::Swizzled, &mut c, &mut sc).unwrap();
                let a = QuantizedRef::new(&c, &sc, ScaleLayout::Swizzled, rows, h).unwrap();
                let alpha = ColumnAlpha {
                    split: i,
                    lo: dec_a * gate[e],
                    hi: dec_a * up[e],
                };
                gemm(&Activations::Nvfp4(a), &w13, alpha, &mut he, None).unwrap();
                swiglu(&he, rows, i, case.limit, &mut ae).unwrap();
                let (gs2, dec2) = match static_l2 {
                    Some(d) => (gs_from_dec(d[e]).unwrap(), d[e]),
                    None => {
                        let gs = gs_from_amax(amax(&ae)).unwrap();
                        (gs, 1.0 / gs)
                    }
                };
                let (mut c, mut sc) = (
                    vec![0u8; rows * i / 2],
                    vec![0u8; ScaleLayout::Swizzled.len(rows, i / BLOCK).unwrap()],
                );
                quantize(&ae, rows, i, gs2, ScaleLayout::Swizzled, &mut c, &mut sc).unwrap();
                let a = QuantizedRef::new(&c, &sc, ScaleLayout::Swizzled, rows, i).unwrap();
                gemm(
                    &Activations::Nvfp4(a),
                    &w2,
                    ColumnAlpha::uniform(dec2 * d2[e]),
                    ye,
                    None,
                )
                .unwrap();
            }
            GemmMode::W4A16 => {
                let alpha = ColumnAlpha {
                    split: i,
                    lo: gate[e],
                    hi: up[e],
                };
                gemm(
                    &Activations::Bf16 { data: &xe, rows },
                    &w13,
                    alpha,
                    &mut he,
                    None,
                )
                .unwrap();
                swiglu(&he, rows, i, case.limit, &mut ae).unwrap();
                gemm(
                    &Activations::Bf16 { data: &ae, rows },
                    &w2,
                    ColumnAlpha::uniform(d2[e]),
                    ye,
                    None,
                )
                .unwrap();
            }
        }
    }
    let mut out = vec![bf16::ZERO; case.tokens() * h];
    combine(
        &y,
        &routing,
        &case.weights,
        case.shared.as_deref(),
        h,
        &mut out,
    )
    .unwrap();
    out
}

fn run(case: &SyntheticMoe, l1: ActScale<'_>, l2: ActScale<'_>) -> (Vec<bf16>, MoeSimulator) {
    let mut sim = MoeSimulator::new(MoeConfig {
        swiglu_limit: case.limit,
        ..MoeConfig::new(case.shape)
    })
    .unwrap();
    let mut out = vec![bf16::ZERO; case.tokens() * case.shape.hidden];
    case.with_weights(l1, l2, |w| {
        sim.forward(
            w,
            &case.x,
            case.tokens(),
            &case.ids,
            &case.weights,
            case.shared.as_deref(),
            &mut out,
        )
    })
    .unwrap();
    (out, sim)
}

fn case(
    seed: u64,
    mode: GemmMode,
    (t, h, i, e, k): (usize, usize, usize, usize, usize),
    ids: impl Fn(&mut Rng, usize, usize) -> i32,
) -> SyntheticMoe {
    let mut rng = Rng::new(seed);
    let ids = (0..t * k).map(|s| ids(&mut rng, s / k, s % k)).collect();
    SyntheticMoe::with_ids(MoeShape::new(t, h, i, e, k, mode).unwrap(), seed, ids).unwrap()
}
fn cos_rel(got: &[bf16], case: &SyntheticMoe) -> (f64, f64) {
    let a = accuracy(got, &case.reference());
    (a.cosine, a.rel_error)
}

fn assert_bits_equal(got: &[bf16], want: &[bf16]) {
    assert_eq!(got.len(), want.len());
    if let Some(i) = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits())
    {
        panic!(
            "first mismatch at {i}: {:#06x} vs {:#06x}",
            got[i].to_bits(),
            want[i].to_bits()
        );
    }
}

const SMALL: (usize, usize, usize, usize, usize) = (37, 256, 128, 8, 2);

fn distinct_random(rng: &mut Rng, _t: usize, j: usize) -> i32 {
    // Slot j picks from its own half of the experts, so a token's two ids differ.
    (j * 4 + rng.below(4)) as i32
}

#[test]
fn w4a4_against_f64_and_composition() {
    let case = case(7, GemmMode::W4A4, SMALL, distinct_random);
    let (out, _) = run(&case, ActScale::Dynamic, ActScale::Dynamic);
    let (cos, rel) = cos_rel(&out, &case);
    println!("W4A4 dynamic: cosine {cos:.5}, relative error {rel:.4}");
    // Four NVFP4 roundings (x, w13, activation, w2) at about 10% RMS each compound to about 23%;
    // a wrong scale, layout or routing gives a cosine far below these floors.
    assert!(cos > 0.96, "cosine {cos}");
    assert!(rel < 0.3, "relative error {rel}");
    assert_bits_equal(&out, &composed(&case, None, None));
}

#[test]
fn w4a4_static_scales_and_shared_expert() {
    let mut case = case(8, GemmMode::W4A4, SMALL, distinct_random);
    case.shared = Some(Rng::new(99).vec_bf16(case.tokens() * case.shape.hidden, 0.5));
    // Calibrate: L1 from the amax of x, L2 from a dynamic run's scales.
    let l1 = vec![dec_from_gs(gs_from_amax(amax(&case.x)).unwrap()).unwrap(); 8];
    let (_, sim) = run(&case, ActScale::Dynamic, ActScale::Dynamic);
    let l2: Vec<f32> = sim
        .input_scales()
        .1
        .iter()
        .map(|&g| if g > 0.0 { 1.0 / g } else { 1.0 })
        .collect();
    let (out, _) = run(&case, ActScale::Static(&l1), ActScale::Static(&l2));
    let (cos, rel) = cos_rel(&out, &case);
    println!("W4A4 static + shared: cosine {cos:.5}, relative error {rel:.4}");
    assert!(cos > 0.96, "cosine {cos}");
    assert_bits_equal(&out, &composed(&case, Some(&l1), Some(&l2)));
}

#[test]
fn w4a16_against_f64_and_composition() {
    let case = case(9, GemmMode::W4A16, SMALL, distinct_random);
    let (out, _) = run(&case, ActScale::Dynamic, ActScale::Dynamic);
    let (cos, rel) = cos_rel(&out, &case);
    println!("W4A16: cosine {cos:.5}, relative error {rel:.4}");
    // Only the two weight roundings remain.
    assert!(cos > 0.98, "cosine {cos}");
    assert!(rel < 0.2, "relative error {rel}");
    assert_bits_equal(&out, &composed(&case, None, None));
}

#[test]
fn clamped_swiglu_empty_experts_and_skipped_slots() {
    // Only experts 2 and 5 fire, slot 1 of every third token is -1: six experts stay empty.
    let pick = |rng: &mut Rng, t: usize, j: usize| {
        if j == 1 && t.is_multiple_of(3) {
            -1
        } else {
            [2, 5][(j + rng.below(2)) % 2]
        }
    };
    let mut case = case(10, GemmMode::W4A4, SMALL, pick);
    case.limit = Some(0.25);
    let (out, sim) = run(&case, ActScale::Dynamic, ActScale::Dynamic);
    let counts: Vec<usize> = sim
        .routing()
        .offsets()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert_eq!(counts.iter().filter(|&&c| c == 0).count(), 6);
    assert_bits_equal(&out, &composed(&case, None, None));
}

#[test]
fn all_tokens_on_one_expert() {
    for mode in [GemmMode::W4A4, GemmMode::W4A16] {
        let case = case(11, mode, (129, 64, 32, 4, 1), |_, _, _| 3);
        let (out, sim) = run(&case, ActScale::Dynamic, ActScale::Dynamic);
        assert_eq!(sim.routing().offsets(), &[0, 0, 0, 0, 129]);
        assert_bits_equal(&out, &composed(&case, None, None));
        let (cos, _) = cos_rel(&out, &case);
        assert!(cos > 0.96, "{mode:?} cosine {cos}");
    }
}

#[test]
fn bad_ids_and_too_many_tokens_are_errors() {
    let case = case(12, GemmMode::W4A4, (4, 32, 16, 4, 2), |_, t, j| {
        if t == 2 && j == 1 { 4 } else { j as i32 }
    });
    let mut sim = MoeSimulator::new(MoeConfig::new(case.shape)).unwrap();
    let (gate, up, d2) = (
        case.q13.part_dec(0),
        case.q13.part_dec(1),
        case.q2.part_dec(0),
    );
    let w = MoeWeights {
        w13: case.q13.weights().unwrap(),
        w13_dec_gate: &gate,
        w13_dec_up: &up,
        w2: case.q2.weights().unwrap(),
        w2_dec: &d2,
        l1_input: ActScale::Dynamic,
        l2_input: ActScale::Dynamic,
    };
    let mut out = vec![bf16::ZERO; 4 * 32];
    let err = sim
        .forward(&w, &case.x, 4, &case.ids, &case.weights, None, &mut out)
        .unwrap_err();
    assert_eq!(
        err,
        nvfp4_core::Error::BadExpertId {
            token: 2,
            slot: 1,
            id: 4
        }
    );
    let x5 = vec![bf16::ZERO; 5 * 32];
    assert!(
        sim.forward(
            &w,
            &x5,
            5,
            &[0; 10],
            &[1.0; 10],
            None,
            &mut vec![bf16::ZERO; 5 * 32]
        )
        .is_err()
    );
    let bad_dec = vec![f32::NAN; 4];
    let w_bad = MoeWeights {
        w2_dec: &bad_dec,
        ..w
    };
    assert!(
        sim.forward(&w_bad, &case.x, 4, &[0; 8], &case.weights, None, &mut out)
            .is_err()
    );
}
