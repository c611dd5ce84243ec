//! NVFP4 numerics for the whole workspace, once: `#![no_std]`, no allocation, no panics on input.
//!
//! NVFP4 stores a tensor as 4-bit E2M1 elements, one E4M3 scale per 16 consecutive elements, and
//! one binary32 global scale per tensor. This crate is the single home of those numbers; the CPU
//! simulator (`nvfp4-cpu`) and the CUDA kernels (`kernels/nvfp4_numerics.cuh`, which mirrors the
//! functions here name for name) both follow it. The contract is `SPEC.md`; each module names the
//! section it implements.
//!
//! | module | SPEC | holds |
//! |---|---|---|
//! | [`e2m1`] | 1 | the 4-bit element codec and nibble packing |
//! | [`e4m3`] | 1 | the 8-bit scale codec |
//! | [`global_scale`] | 2 | `gs`/`dec` conversion and validation, dynamic `amax` |
//! | [`block`] | 3 | the block quantizer and dequantizer |
//! | [`layout`] | 4 | linear, swizzled 128x4 and grouped scale layouts |
//! | [`activation`] | 6.4 | `exp_f32`, `silu`, SwiGLU |
//! | [`plan`] | 5, 6 | validated GEMM and MoE shapes with every buffer size |
//! | [`tensor`] | 4, 5 | a borrowed, validated view of one quantized matrix |
//! | [`float`] | - | correctly rounded `fma` and small binary32 helpers for `no_std` |
//! | [`element`] | - | the bf16 / f32 element traits |
//! | [`error`] | - | the one error type |
//!
//! ```
//! use nvfp4_core::{block::quantize_block, global_scale::gs_from_amax};
//! let x: [f32; 16] = core::array::from_fn(|i| i as f32 - 7.5);
//! let gs = gs_from_amax(7.5).unwrap();
//! let q = quantize_block(&x, gs);
//! assert_eq!(q.codes[0], 0xF); // -7.5 is the block maximum: -6 after scaling
//! ```
#![no_std]

pub mod activation;
pub mod block;
pub mod e2m1;
pub mod e4m3;
pub mod element;
pub mod error;
pub mod float;
pub mod global_scale;
pub mod layout;
pub mod plan;
pub mod tensor;

pub use error::{Error, Result};
pub use half::bf16;
