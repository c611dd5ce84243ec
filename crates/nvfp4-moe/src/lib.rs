//! The NVFP4 Mixture-of-Experts layer and the `nvfp4` command.
//!
//! Today this crate holds the embedded demo configuration ([`demo`]) that the `nvfp4 demo`
//! command runs on the bit-exact CPU simulator (`nvfp4-cpu`'s [`nvfp4_cpu::moe::MoeSimulator`]).
//! The GPU composition of the layer (one persistent grouped-GEMM pipeline over `nvfp4-cuda`) and
//! checkpoint loading are not written yet; nothing here pretends to run on a GPU.

pub mod demo;
