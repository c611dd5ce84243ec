//! The embedded demo: a DeepSeek-like MoE layer at reduced size, simulated on the CPU in both
//! GEMM modes and compared with its unquantized f64 reference.
//!
//! DeepSeek-V3's routed experts are `H = 7168`, `I = 2048`, 256 experts, top-8. The demo keeps
//! top-8 and the `H / I` ratio and divides the sizes: `H = 896`, `I = 256`, 32 experts.

use std::time::{Duration, Instant};

use nvfp4_core::plan::{GemmMode, MoeShape};
use nvfp4_cpu::Result;
use nvfp4_cpu::moe::{MoeConfig, MoeSimulator};
use nvfp4_cpu::synth::{Accuracy, SyntheticMoe, accuracy};

/// The demo's layer sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// Tokens per forward call.
    pub tokens: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Expert intermediate size I.
    pub intermediate: usize,
    /// Routed experts E.
    pub experts: usize,
    /// Experts per token.
    pub top_k: usize,
    /// Seed of the random weights and inputs.
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            tokens: 32,
            hidden: 896,
            intermediate: 256,
            experts: 32,
            top_k: 8,
            seed: 0,
        }
    }
}

/// One mode's result.
#[derive(Clone, Copy, Debug)]
pub struct DemoResult {
    /// The GEMM mode.
    pub mode: GemmMode,
    /// Accuracy against the f64 reference.
    pub accuracy: Accuracy,
    /// Wall time of one simulated forward call (buffers preallocated).
    pub forward: Duration,
}

/// Builds the layer and runs one forward call per mode.
pub fn run(cfg: &DemoConfig) -> Result<Vec<DemoResult>> {
    let mut results = Vec::new();
    for mode in [GemmMode::W4A4, GemmMode::W4A16] {
        let shape = MoeShape::new(
            cfg.tokens,
            cfg.hidden,
            cfg.intermediate,
            cfg.experts,
            cfg.top_k,
            mode,
        )?;
        let layer = SyntheticMoe::random(shape, cfg.seed)?;
        let mut sim = MoeSimulator::new(MoeConfig::new(shape))?;
        let start = Instant::now();
        let out = layer.simulate(Some(&mut sim))?;
        let forward = start.elapsed();
        results.push(DemoResult {
            mode,
            accuracy: accuracy(&out, &layer.reference()),
            forward,
        });
    }
    Ok(results)
}
