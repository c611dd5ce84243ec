//! The shared numerics header (`kernels/nvfp4_numerics.cuh`) against `nvfp4-core`, function by
//! function and bit for bit, through the probe kernel `numerics_probe.cu`: every bf16 bit
//! pattern, plus random f32 patterns. NaN results are compared as NaN (payloads are not portable).
//! Run with `--ignored` where a GPU is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use cudarc::driver::PushKernelArg;
use nvfp4_core::activation::{exp_f32, silu, swiglu};
use nvfp4_core::element::bf16_from_f32;
use nvfp4_core::layout::swizzled_offset;
use nvfp4_core::{e2m1, e4m3};
use nvfp4_cpu::synth::Rng;
use nvfp4_cuda::{Device, KernelRegistry};

fn same(what: &str, i: usize, x: f32, got: u32, want: f32) {
    let g = f32::from_bits(got);
    assert!(
        got == want.to_bits() || (g.is_nan() && want.is_nan()),
        "{what} at input {i} (x = {x:e}, bits {:#010x}): gpu {g:e} ({got:#010x}), core {want:e} ({:#010x})",
        x.to_bits(),
        want.to_bits()
    );
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn header_functions_equal_the_core_ones() {
    let gpu = Device::new(0).unwrap_or_else(|e| panic!("this test needs a CUDA GPU: {e}"));
    let probe = KernelRegistry::new(&gpu)
        .get("numerics_probe.cu", &[])
        .unwrap()
        .kernel("nvfp4_numerics_probe", 0)
        .unwrap();
    let mut inputs: Vec<u32> = (0..=u16::MAX).map(|b| (b as u32) << 16).collect();
    let mut rng = Rng::new(1);
    inputs.extend((0..65_536).map(|_| rng.next_u64() as u32));
    let n = inputs.len();
    let s = gpu.stream();
    let x = s.clone_htod(&inputs).unwrap();
    let mut out = s.alloc_zeros::<u32>(n * 10).unwrap();
    let n_i = n as i32;
    let cfg = probe
        .config(((n as u32).div_ceil(256), 1, 1), (256, 1, 1))
        .unwrap();
    // SAFETY: nvfp4_numerics_probe(const u32*, int, u32*) reads x[0..n) and writes out[0..10n);
    // both hold that many words, and the kernel returns for i >= n.
    unsafe { probe.builder(s).arg(&x).arg(&n_i).arg(&mut out).launch(cfg) }.unwrap();
    let out = s.clone_dtoh(&out).unwrap();
    for (i, &bits) in inputs.iter().enumerate() {
        let xf = f32::from_bits(bits);
        let uf = f32::from_bits(inputs[(i * 40503) % n]);
        let o = &out[i * 10..(i + 1) * 10];
        if !xf.is_nan() {
            assert_eq!(
                o[0],
                e2m1::encode(xf) as u32,
                "e2m1_encode at input {i} (x = {xf:e})"
            );
        }
        assert_eq!(
            o[1],
            e4m3::encode(xf) as u32,
            "e4m3_encode at input {i} (x = {xf:e})"
        );
        same("e4m3_decode", i, xf, o[2], e4m3::decode((i & 0xFF) as u8));
        same("e2m1_decode", i, xf, o[3], e2m1::decode((i & 0xF) as u8));
        same("exp_f32", i, xf, o[4], exp_f32(xf));
        same("silu", i, xf, o[5], silu(xf));
        same(
            "swiglu",
            i,
            xf,
            o[6],
            swiglu(xf, uf, (i & 1 == 1).then_some(7.0)),
        );
        assert_eq!(
            o[7] as usize,
            swizzled_offset(i % 1000, i % 23, 24),
            "swizzled_offset at {i}"
        );
        // bf16 rounding, one value and two at once (the GEMM epilogue's), bit for bit: NaN is
        // the canonical 0x7FC0 on both sides.
        let (bx, bu) = (bf16_from_f32(xf).to_bits(), bf16_from_f32(uf).to_bits());
        assert_eq!(o[8], u32::from(bx), "f32_to_bf16 at input {i} (x = {xf:e})");
        assert_eq!(
            o[9],
            u32::from(bx) | (u32::from(bu) << 16),
            "f32x2_to_bf16x2 at input {i} (x = {xf:e}, u = {uf:e})"
        );
    }
}
