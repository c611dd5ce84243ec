//! The whole MoE layer of SPEC section 6, simulated: route, quantize, grouped L1 GEMM, SwiGLU and
//! requantization, grouped L2 GEMM, combine. Every step is one of this crate's public ops, so the
//! layer's output is by construction their composition (a test checks it bit for bit).
//!
//! [`MoeSimulator::new`] allocates every buffer for the configured maximum token count;
//! [`MoeSimulator::forward`] allocates nothing.

use half::bf16;
use nvfp4_core::error::{Error, Result, check_len};
use nvfp4_core::global_scale::{amax_f32, check_scale, gs_from_amax, gs_from_dec};
use nvfp4_core::layout::ScaleLayout;
use nvfp4_core::plan::{GemmMode, MoePlan, MoeShape};

use crate::combine::combine;
use crate::gemm::ColumnAlpha;
use crate::grouped::{ExpertWeights, GroupedActivations, group_scale_range, grouped_gemm};
use crate::quantize::quantize_gather;
use crate::route::Routing;
use crate::swiglu::{swiglu, swiglu_amax, swiglu_quantize};

/// Where a GEMM input's global scale comes from (W4A4 only).
#[derive(Clone, Copy, Debug)]
pub enum ActScale<'a> {
    /// Calibrated decode scales from a checkpoint (`input_scale`), one per local expert.
    Static(&'a [f32]),
    /// `gs = 2688 / amax` over the rows that reach the GEMM, per expert.
    Dynamic,
}

/// The layer's weights: stacked per local expert, in checkpoint form.
#[derive(Clone, Copy, Debug)]
pub struct MoeWeights<'a> {
    /// `w13` `[E, 2I, H]`: rows `0..I` gate (w1), rows `I..2I` up (w3).
    pub w13: ExpertWeights<'a>,
    /// Decode scale of each expert's gate rows.
    pub w13_dec_gate: &'a [f32],
    /// Decode scale of each expert's up rows.
    pub w13_dec_up: &'a [f32],
    /// `w2` `[E, H, I]`.
    pub w2: ExpertWeights<'a>,
    /// Decode scale of each expert's w2.
    pub w2_dec: &'a [f32],
    /// The L1 input's scale (ignored in W4A16).
    pub l1_input: ActScale<'a>,
    /// The L2 input's scale (ignored in W4A16).
    pub l2_input: ActScale<'a>,
}

/// Layer configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct MoeConfig {
    /// Sizes and mode; `shape.experts` is the number of experts held here.
    pub shape: MoeShape,
    /// Clamped SwiGLU limit (`None`: plain SwiGLU).
    pub swiglu_limit: Option<f32>,
    /// Experts in the whole model (ids are valid in `[-1, global_experts)`).
    pub global_experts: usize,
    /// The first global id held here: local experts are `[first_expert, first_expert + E)`.
    pub first_expert: usize,
}

impl MoeConfig {
    /// A configuration holding every expert, with plain SwiGLU.
    pub fn new(shape: MoeShape) -> Self {
        MoeConfig {
            shape,
            swiglu_limit: None,
            global_experts: shape.experts,
            first_expert: 0,
        }
    }
}

/// An expert's activation scales `(gs, dec)`: from the checkpoint's decode scale (`gs = 1 / dec`,
/// and the GEMM alpha uses `dec` itself, as SPEC section 5 writes `alpha = dec_a * dec_w`), or
/// dynamic from `amax()` (`gs = 2688 / amax`, `dec = 1 / gs`).
fn act_scales(
    src: ActScale<'_>,
    e: usize,
    amax: impl FnOnce() -> Result<f32>,
) -> Result<(f32, f32)> {
    match src {
        ActScale::Static(d) => Ok((gs_from_dec(d[e])?, d[e])),
        ActScale::Dynamic => {
            let gs = gs_from_amax(amax()?)?;
            Ok((gs, 1.0 / gs))
        }
    }
}

/// The simulated layer with its preallocated buffers.
#[derive(Clone, Debug)]
pub struct MoeSimulator {
    config: MoeConfig,
    plan: MoePlan,
    routing: Routing,
    gs1: Vec<f32>,
    gs2: Vec<f32>,
    dec1: Vec<f32>,
    dec2: Vec<f32>,
    l1_codes: Vec<u8>,
    l1_scales: Vec<u8>,
    l1_bf16: Vec<bf16>,
    h: Vec<bf16>,
    act_codes: Vec<u8>,
    act_scales: Vec<u8>,
    act_bf16: Vec<bf16>,
    y: Vec<bf16>,
}

impl MoeSimulator {
    /// Validates the configuration and allocates every buffer.
    pub fn new(config: MoeConfig) -> Result<Self> {
        let s = config.shape;
        let plan = s.plan()?;
        if config
            .first_expert
            .checked_add(s.experts)
            .is_none_or(|end| end > config.global_experts)
        {
            return Err(Error::InvalidParam {
                what: "first_expert + experts (beyond global_experts)",
                value: config.first_expert,
            });
        }
        if let Some(l) = config.swiglu_limit.filter(|l| l.is_nan() || *l <= 0.0) {
            return Err(Error::BadScale {
                what: "swiglu limit",
                bits: l.to_bits(),
            });
        }
        Ok(MoeSimulator {
            routing: Routing::new(s.max_tokens, s.top_k, s.experts)?,
            gs1: vec![0.0; s.experts],
            gs2: vec![0.0; s.experts],
            dec1: vec![0.0; s.experts],
            dec2: vec![0.0; s.experts],
            l1_codes: vec![0; plan.l1_in_codes_len],
            l1_scales: vec![0; plan.l1_in_scales_len],
            l1_bf16: vec![bf16::ZERO; plan.l1_in_bf16_len],
            h: vec![bf16::ZERO; plan.l1_out_len],
            act_codes: vec![0; plan.act_codes_len],
            act_scales: vec![0; plan.act_scales_len],
            act_bf16: vec![bf16::ZERO; plan.act_bf16_len],
            y: vec![bf16::ZERO; plan.l2_out_len],
            config,
            plan,
        })
    }

    /// The buffer plan.
    pub fn plan(&self) -> &MoePlan {
        &self.plan
    }

    /// The routing of the last forward call.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// The encode scales used for each expert's L1 and L2 inputs in the last W4A4 call.
    pub fn input_scales(&self) -> (&[f32], &[f32]) {
        (&self.gs1, &self.gs2)
    }

    /// The decode scales that entered each expert's GEMM alphas in the last W4A4 call: the
    /// checkpoint's `input_scale` when static, `1 / gs` when dynamic.
    pub fn input_decode_scales(&self) -> (&[f32], &[f32]) {
        (&self.dec1, &self.dec2)
    }

    fn check_weights(&self, w: &MoeWeights<'_>) -> Result<()> {
        let s = self.config.shape;
        let e = s.experts;
        let dims = |x: &ExpertWeights<'_>, rows, cols| {
            let v = x.expert(0)?;
            if x.experts() != e || v.rows() != rows || v.cols() != cols {
                return Err(Error::InvalidParam {
                    what: "expert weight shape",
                    value: v.rows(),
                });
            }
            Ok(())
        };
        dims(&w.w13, 2 * s.intermediate, s.hidden)?;
        dims(&w.w2, s.hidden, s.intermediate)?;
        for (what, v) in [
            ("w13_dec_gate", w.w13_dec_gate),
            ("w13_dec_up", w.w13_dec_up),
            ("w2_dec", w.w2_dec),
        ] {
            check_len(what, e, v.len())?;
            v.iter().try_for_each(|&d| check_scale(what, d).map(drop))?;
        }
        if s.mode == GemmMode::W4A4 {
            for (what, a) in [
                ("l1 input_scale", w.l1_input),
                ("l2 input_scale", w.l2_input),
            ] {
                if let ActScale::Static(v) = a {
                    check_len(what, e, v.len())?;
                    v.iter().try_for_each(|&d| check_scale(what, d).map(drop))?;
                }
            }
        }
        Ok(())
    }

    /// Runs the layer on `tokens` tokens: `x` `[tokens, H]`, `topk_ids` and `topk_weights`
    /// `[tokens, k]`, optional `shared` `[tokens, H]`; writes `out` `[tokens, H]`.
    ///
    /// A bad expert id (outside `[-1, global_experts)`) is an error.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &mut self,
        w: &MoeWeights<'_>,
        x: &[bf16],
        tokens: usize,
        topk_ids: &[i32],
        topk_weights: &[f32],
        shared: Option<&[bf16]>,
        out: &mut [bf16],
    ) -> Result<()> {
        let s = self.config.shape;
        let (h_dim, i_dim, k) = (s.hidden, s.intermediate, s.top_k);
        if tokens > s.max_tokens {
            return Err(Error::TooManyRows {
                rows: tokens,
                max: s.max_tokens,
            });
        }
        check_len("x", tokens * h_dim, x.len())?;
        self.check_weights(w)?;
        let local = self.config.first_expert..self.config.first_expert + s.experts;
        self.routing
            .route(topk_ids, tokens, self.config.global_experts, local)?;
        let rows = self.routing.rows();
        let off = self.routing.offsets();
        let slots = self.routing.row_slots();
        let token_of = |r: usize| slots[r] as usize / k;
        let limit = self.config.swiglu_limit;
        let h = &mut self.h[..rows * 2 * i_dim];

        match s.mode {
            GemmMode::W4A4 => {
                // Step 2: quantize each expert's rows of x into the grouped layout.
                let mut base = 0;
                for e in 0..s.experts {
                    let (r0, r1) = (off[e], off[e + 1]);
                    if r0 == r1 {
                        continue;
                    }
                    let (gs, dec) = act_scales(w.l1_input, e, || {
                        Ok(amax_f32((r0..r1).flat_map(|r| {
                            x[token_of(r) * h_dim..][..h_dim].iter().map(|v| v.to_f32())
                        })))
                    })?;
                    (self.gs1[e], self.dec1[e]) = (gs, dec);
                    let (range, next) = group_scale_range(base, r1 - r0, h_dim)?;
                    base = next;
                    quantize_gather(
                        x,
                        h_dim,
                        r1 - r0,
                        |r| token_of(r0 + r),
                        gs,
                        ScaleLayout::Swizzled,
                        &mut self.l1_codes[r0 * h_dim / 2..r1 * h_dim / 2],
                        &mut self.l1_scales[range],
                    )?;
                }
                // Step 3: L1.
                let a = GroupedActivations::Nvfp4 {
                    codes: &self.l1_codes[..rows * h_dim / 2],
                    scales: &self.l1_scales,
                    k: h_dim,
                };
                let dec1 = &self.dec1;
                let alpha = |e: usize| {
                    let dec_a = dec1[e];
                    ColumnAlpha {
                        split: i_dim,
                        lo: dec_a * w.w13_dec_gate[e],
                        hi: dec_a * w.w13_dec_up[e],
                    }
                };
                grouped_gemm(&a, off, &w.w13, alpha, h, None)?;
                // Step 4: SwiGLU, rounded to bf16, requantized per expert.
                let mut base = 0;
                for e in 0..s.experts {
                    let (r0, r1) = (off[e], off[e + 1]);
                    if r0 == r1 {
                        continue;
                    }
                    let he = &h[r0 * 2 * i_dim..r1 * 2 * i_dim];
                    let (gs, dec) =
                        act_scales(w.l2_input, e, || swiglu_amax(he, r1 - r0, i_dim, limit))?;
                    (self.gs2[e], self.dec2[e]) = (gs, dec);
                    let (range, next) = group_scale_range(base, r1 - r0, i_dim)?;
                    base = next;
                    swiglu_quantize(
                        he,
                        r1 - r0,
                        i_dim,
                        limit,
                        gs,
                        ScaleLayout::Swizzled,
                        &mut self.act_codes[r0 * i_dim / 2..r1 * i_dim / 2],
                        &mut self.act_scales[range],
                    )?;
                }
                // Step 5: L2.
                let a = GroupedActivations::Nvfp4 {
                    codes: &self.act_codes[..rows * i_dim / 2],
                    scales: &self.act_scales,
                    k: i_dim,
                };
                let dec2 = &self.dec2;
                let alpha = |e: usize| ColumnAlpha::uniform(dec2[e] * w.w2_dec[e]);
                grouped_gemm(&a, off, &w.w2, alpha, &mut self.y[..rows * h_dim], None)?;
            }
            GemmMode::W4A16 => {
                for (r, dst) in self.l1_bf16[..rows * h_dim]
                    .chunks_exact_mut(h_dim)
                    .enumerate()
                {
                    dst.copy_from_slice(&x[token_of(r) * h_dim..][..h_dim]);
                }
                let a = GroupedActivations::Bf16 {
                    data: &self.l1_bf16[..rows * h_dim],
                    k: h_dim,
                };
                let alpha = |e: usize| ColumnAlpha {
                    split: i_dim,
                    lo: w.w13_dec_gate[e],
                    hi: w.w13_dec_up[e],
                };
                grouped_gemm(&a, off, &w.w13, alpha, h, None)?;
                swiglu(h, rows, i_dim, limit, &mut self.act_bf16[..rows * i_dim])?;
                let a = GroupedActivations::Bf16 {
                    data: &self.act_bf16[..rows * i_dim],
                    k: i_dim,
                };
                grouped_gemm(
                    &a,
                    off,
                    &w.w2,
                    |e| ColumnAlpha::uniform(w.w2_dec[e]),
                    &mut self.y[..rows * h_dim],
                    None,
                )?;
            }
        }
        // Step 6: combine.
        check_len("out", tokens * h_dim, out.len())?;
        combine(
            &self.y[..rows * h_dim],
            &self.routing,
            topk_weights,
            shared,
            h_dim,
            out,
        )
    }
}
