//! Synthetic layers for tests, demos and benchmarks: a seeded generator, a random MoE layer with
//! its unquantized f32 weights and their NVFP4 checkpoint form, the unquantized f64 reference of
//! the layer, and accuracy summaries.
//!
//! ```
//! use nvfp4_core::plan::{GemmMode, MoeShape};
//! use nvfp4_cpu::synth::{SyntheticMoe, accuracy};
//! let shape = MoeShape::new(5, 64, 32, 4, 2, GemmMode::W4A16).unwrap();
//! let layer = SyntheticMoe::random(shape, 1).unwrap();
//! let out = layer.simulate(None).unwrap();
//! let acc = accuracy(&out, &layer.reference());
//! assert!(acc.cosine > 0.9);
//! ```

use half::bf16;
use nvfp4_core::plan::MoeShape;

use crate::Result;
use crate::experts::QuantizedExperts;
use crate::moe::{ActScale, MoeConfig, MoeSimulator, MoeWeights};

/// xorshift64* with a fixed seed: small and reproducible across platforms.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Roughly normal with standard deviation `std` (a sum of four uniforms).
    pub fn normal(&mut self, std: f32) -> f32 {
        (self.uniform() + self.uniform() + self.uniform() + self.uniform()) * std * 0.866
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` normal f32 values.
    pub fn vec(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal(std)).collect()
    }

    /// `n` normal bf16 values.
    pub fn vec_bf16(&mut self, n: usize, std: f32) -> Vec<bf16> {
        (0..n).map(|_| bf16::from_f32(self.normal(std))).collect()
    }
}

/// A random MoE layer: unquantized weights, their checkpoint form, and one batch of inputs.
#[derive(Clone, Debug)]
pub struct SyntheticMoe {
    /// Shape (its `max_tokens` is the batch size).
    pub shape: MoeShape,
    /// Clamped SwiGLU limit.
    pub limit: Option<f32>,
    /// `w13` `[E, 2I, H]` f32.
    pub w13: Vec<f32>,
    /// `w2` `[E, H, I]` f32.
    pub w2: Vec<f32>,
    /// `w13` quantized, gate and up with separate global scales.
    pub q13: QuantizedExperts,
    /// `w2` quantized.
    pub q2: QuantizedExperts,
    /// Hidden input `[T, H]`.
    pub x: Vec<bf16>,
    /// `topk_ids` `[T, k]`.
    pub ids: Vec<i32>,
    /// `topk_weights` `[T, k]`.
    pub weights: Vec<f32>,
    /// Optional shared-expert output `[T, H]`.
    pub shared: Option<Vec<bf16>>,
}

impl SyntheticMoe {
    /// A layer with `N(0, 1/fan_in)` weights (the up half three times larger than the gate, so
    /// that their decode scales differ), `N(0, 1)` inputs, distinct random experts per token and
    /// weights in `[0.5, 1)` normalised to sum to 1.
    pub fn random(shape: MoeShape, seed: u64) -> Result<Self> {
        let mut rng = Rng::new(seed);
        let (e, k) = (shape.experts, shape.top_k);
        let ids = (0..shape.max_tokens)
            .flat_map(|_| {
                let mut chosen = Vec::with_capacity(k);
                while chosen.len() < k {
                    let id = rng.below(e) as i32;
                    if !chosen.contains(&id) {
                        chosen.push(id);
                    }
                }
                chosen
            })
            .collect();
        Self::with_ids(shape, seed, ids)
    }

    /// A layer as [`SyntheticMoe::random`], routed by the given `topk_ids` (`[T, k]`).
    pub fn with_ids(shape: MoeShape, seed: u64, ids: Vec<i32>) -> Result<Self> {
        let mut rng = Rng::new(seed.wrapping_add(1));
        let (t, h, i, e, k) = (
            shape.max_tokens,
            shape.hidden,
            shape.intermediate,
            shape.experts,
            shape.top_k,
        );
        let mut w13 = rng.vec(e * 2 * i * h, 1.0 / (h as f32).sqrt());
        for expert in w13.chunks_exact_mut(2 * i * h) {
            for v in &mut expert[i * h..] {
                *v *= 3.0;
            }
        }
        let w2 = rng.vec(e * h * i, 1.0 / (i as f32).sqrt());
        let x = rng.vec_bf16(t * h, 1.0);
        let mut weights: Vec<f32> = (0..t * k)
            .map(|_| 0.5 + 0.5 * rng.uniform().abs())
            .collect();
        for tw in weights.chunks_exact_mut(k) {
            let sum: f32 = tw.iter().sum();
            tw.iter_mut().for_each(|w| *w /= sum);
        }
        nvfp4_core::error::check_len("topk_ids", t * k, ids.len())?;
        Ok(SyntheticMoe {
            shape,
            limit: None,
            q13: QuantizedExperts::from_f32(&w13, e, 2 * i, h, 2)?,
            q2: QuantizedExperts::from_f32(&w2, e, h, i, 1)?,
            w13,
            w2,
            x,
            ids,
            weights,
            shared: None,
        })
    }

    /// Tokens in the batch.
    pub fn tokens(&self) -> usize {
        self.shape.max_tokens
    }

    /// Runs `f` with the layer's [`MoeWeights`] (decode scales from the checkpoint form).
    pub fn with_weights<R>(
        &self,
        l1: ActScale<'_>,
        l2: ActScale<'_>,
        f: impl FnOnce(&MoeWeights<'_>) -> Result<R>,
    ) -> Result<R> {
        let (gate, up, d2) = (
            self.q13.part_dec(0),
            self.q13.part_dec(1),
            self.q2.part_dec(0),
        );
        let w = MoeWeights {
            w13: self.q13.weights()?,
            w13_dec_gate: &gate,
            w13_dec_up: &up,
            w2: self.q2.weights()?,
            w2_dec: &d2,
            l1_input: l1,
            l2_input: l2,
        };
        f(&w)
    }

    /// The simulated layer's output with dynamic activation scales; `sim` reuses a simulator.
    pub fn simulate(&self, sim: Option<&mut MoeSimulator>) -> Result<Vec<bf16>> {
        let mut own;
        let sim = match sim {
            Some(s) => s,
            None => {
                own = MoeSimulator::new(MoeConfig {
                    swiglu_limit: self.limit,
                    ..MoeConfig::new(self.shape)
                })?;
                &mut own
            }
        };
        let mut out = vec![bf16::ZERO; self.tokens() * self.shape.hidden];
        self.with_weights(ActScale::Dynamic, ActScale::Dynamic, |w| {
            sim.forward(
                w,
                &self.x,
                self.tokens(),
                &self.ids,
                &self.weights,
                self.shared.as_deref(),
                &mut out,
            )
        })?;
        Ok(out)
    }

    /// The unquantized layer in f64: f32 weights, bf16 input, exact `silu`, no rounding between
    /// steps (the clamp, if any, applied as in SPEC section 6).
    pub fn reference(&self) -> Vec<f64> {
        let s = self.shape;
        let (h, i, k) = (s.hidden, s.intermediate, s.top_k);
        let mut out = vec![0f64; self.tokens() * h];
        let mut act = vec![0f64; i];
        for t in 0..self.tokens() {
            let x = &self.x[t * h..(t + 1) * h];
            let dot = |row: &[f32]| {
                row.iter()
                    .zip(x)
                    .map(|(&w, &v)| w as f64 * v.to_f64())
                    .sum::<f64>()
            };
            for j in 0..k {
                let Ok(e) = usize::try_from(self.ids[t * k + j]) else {
                    continue;
                };
                let w13 = &self.w13[e * 2 * i * h..(e + 1) * 2 * i * h];
                for (r, a) in act.iter_mut().enumerate() {
                    let (mut g, mut u) = (
                        dot(&w13[r * h..(r + 1) * h]),
                        dot(&w13[(i + r) * h..(i + r + 1) * h]),
                    );
                    if let Some(l) = self.limit {
                        g = g.min(l as f64);
                        u = u.clamp(-l as f64, l as f64);
                    }
                    *a = g / (1.0 + (-g).exp()) * u;
                }
                let w2 = &self.w2[e * h * i..(e + 1) * h * i];
                for c in 0..h {
                    let y: f64 = w2[c * i..(c + 1) * i]
                        .iter()
                        .zip(&act)
                        .map(|(&w, &v)| w as f64 * v)
                        .sum();
                    out[t * h + c] += self.weights[t * k + j] as f64 * y;
                }
            }
            if let Some(sh) = &self.shared {
                for c in 0..h {
                    out[t * h + c] += sh[t * h + c].to_f64();
                }
            }
        }
        out
    }
}

/// How close a bf16 result is to an f64 reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// Cosine similarity.
    pub cosine: f64,
    /// `||got - want|| / ||want||`.
    pub rel_error: f64,
}

/// Cosine similarity and relative L2 error of `got` against `want`.
pub fn accuracy(got: &[bf16], want: &[f64]) -> Accuracy {
    let (mut dot, mut gg, mut ww, mut diff) = (0f64, 0f64, 0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        let g = g.to_f64();
        dot += g * w;
        gg += g * g;
        ww += w * w;
        diff += (g - w) * (g - w);
    }
    Accuracy {
        cosine: dot / (gg.sqrt() * ww.sqrt()),
        rel_error: (diff / ww).sqrt(),
    }
}
