//! The bit-exact CPU simulator of every NVFP4 GPU op in the workspace.
//!
//! Each op follows `SPEC.md` operation for operation, using the numerics of `nvfp4-core`, so a
//! kernel's quantization, layouts, activation and combine can be compared byte for byte, and its
//! GEMMs element by element against the exact value and bound of SPEC section 5. Ops write into
//! caller buffers and allocate nothing; row-parallel ones use `std::thread::scope`.
//!
//! | module | SPEC | op |
//! |---|---|---|
//! | [`quantize`] | 2, 3, 4 | `[rows, K]` bf16/f32 to codes + scales, static or dynamic `gs`, gathered rows |
//! | [`dequantize`] | 3 | codes + scales back to bf16/f32 |
//! | [`gemm`] | 5 | W4A4 and W4A16 GEMM, exact value and bound, [`gemm::within_bound`] |
//! | [`grouped`] | 4, 6.3, 6.5 | the grouped GEMM over experts |
//! | [`swiglu`] | 6.4 | SwiGLU, plain and clamped, fused with requantization |
//! | [`route`] | 6.1 | grouping `(token, slot)` pairs by expert |
//! | [`combine`] | 6.6 | the deterministic weighted sum |
//! | [`moe`] | 6 | the whole layer, W4A4 and W4A16 |
//! | [`experts`] | - | building quantized expert weights from f32 (tests, demo) |
//! | [`synth`] | - | seeded random layers, the unquantized f64 reference, accuracy |

pub mod combine;
pub mod dequantize;
pub mod experts;
pub mod gemm;
pub mod grouped;
pub mod moe;
mod par;
pub mod quantize;
pub mod route;
pub mod swiglu;
pub mod synth;

pub use nvfp4_core::{Error, Result};
