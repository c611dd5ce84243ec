//! Combine (SPEC section 6 step 6): the weighted sum of each token's expert outputs, in slot
//! order with one fused multiply-add per slot, plus an optional shared-expert output. No atomics,
//! so the result is deterministic.

use half::bf16;
use nvfp4_core::element::bf16_from_f32;
use nvfp4_core::error::{Result, check_len};
use nvfp4_core::float::fma_f32;

use crate::route::{Routing, SKIPPED};

/// `out[t, h] = bf16(acc)` with `acc = fma(w[t, j], y[row(t, j), h], acc)` over the routed slots
/// `j` in order, then `acc + s[t, h]` if `shared` is given.
///
/// `y` is `[routing.rows(), H]`, `topk_weights` `[tokens, k]`, `shared` and `out` `[tokens, H]`.
/// A token with no routed slot and no shared output gets `+0`.
pub fn combine(
    y: &[bf16],
    routing: &Routing,
    topk_weights: &[f32],
    shared: Option<&[bf16]>,
    hidden: usize,
    out: &mut [bf16],
) -> Result<()> {
    let k = routing.top_k();
    let slot_rows = routing.slot_rows();
    let tokens = slot_rows.len() / k.max(1);
    check_len("y", routing.rows() * hidden, y.len())?;
    check_len("topk_weights", slot_rows.len(), topk_weights.len())?;
    check_len("out", tokens * hidden, out.len())?;
    if let Some(s) = shared {
        check_len("shared", tokens * hidden, s.len())?;
    }
    for t in 0..tokens {
        for h in 0..hidden {
            let mut acc = 0.0f32;
            for j in 0..k {
                let row = slot_rows[t * k + j];
                if row != SKIPPED {
                    acc = fma_f32(
                        topk_weights[t * k + j],
                        y[row as usize * hidden + h].to_f32(),
                        acc,
                    );
                }
            }
            if let Some(s) = shared {
                acc += s[t * hidden + h].to_f32();
            }
            out[t * hidden + h] = bf16_from_f32(acc);
        }
    }
    Ok(())
}
