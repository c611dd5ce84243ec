//! The GEMM `D[M, N] = alpha * A[M, K] . W[N, K]^T` of SPEC section 5, with its exact value and
//! error bound.
//!
//! The simulator's own output sums the (exact) products in `k` order in binary32 and rounds
//! `alpha * S` once to bf16, as a simple kernel would. On request it also returns, per element,
//! the exact `z = alpha * S` and the SPEC bound, so that any kernel's output (any summation order)
//! can be judged with [`within_bound`]:
//!
//! * W4A4: every element is an integer multiple of `2^-10` (E2M1 values are multiples of 1/2,
//!   E4M3 values multiples of `2^-9`), so `S` is summed *exactly* as an `i128` multiple of `2^-20`
//!   and rounded once to f64.
//! * W4A16: the binary32 products (SPEC 5's terms) are summed in f64 with Neumaier's compensated
//!   summation.
//!
//! ```
//! use nvfp4_core::{layout::ScaleLayout, tensor::QuantizedRef, bf16};
//! use nvfp4_cpu::gemm::{gemm, Activations, ColumnAlpha, Exact, within_bound};
//! let w_codes = [0x22u8; 8]; // 16 elements of 1.0
//! let w = QuantizedRef::new(&w_codes, &[0x38], ScaleLayout::Linear, 1, 16).unwrap();
//! let a = [bf16::from_f32(0.5); 16];
//! let (mut d, mut e) = ([bf16::ZERO; 1], [Exact::default(); 1]);
//! gemm(&Activations::Bf16 { data: &a, rows: 1 }, &w, ColumnAlpha::uniform(2.0), &mut d, Some(&mut e)).unwrap();
//! assert_eq!(d[0].to_f32(), 16.0);
//! assert_eq!(e[0].z, 16.0);
//! assert!(within_bound(d[0], &e[0]));
//! ```

use half::bf16;
use nvfp4_core::block::BLOCK;
use nvfp4_core::e2m1;
use nvfp4_core::e4m3;
use nvfp4_core::element::bf16_from_f32;
use nvfp4_core::error::{Error, Result, check_len};
use nvfp4_core::tensor::QuantizedRef;

use crate::par::split2;

/// The activations of a GEMM.
#[derive(Clone, Copy, Debug)]
pub enum Activations<'a> {
    /// NVFP4 activations (W4A4).
    Nvfp4(QuantizedRef<'a>),
    /// bf16 activations, row-major `[rows, K]` (W4A16).
    Bf16 {
        /// The values.
        data: &'a [bf16],
        /// Rows (M).
        rows: usize,
    },
}

impl Activations<'_> {
    fn rows(&self) -> usize {
        match self {
            Activations::Nvfp4(q) => q.rows(),
            Activations::Bf16 { rows, .. } => *rows,
        }
    }
}

/// The epilogue scale per output column: columns `< split` use `lo`, the rest `hi`.
///
/// A plain linear layer uses one value; the MoE L1 GEMM uses the gate's alpha for columns `< I`
/// and the up projection's for the rest (SPEC section 6), so no block scale is ever re-encoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnAlpha {
    /// First column that uses `hi`.
    pub split: usize,
    /// Alpha of columns `< split`.
    pub lo: f32,
    /// Alpha of columns `>= split`.
    pub hi: f32,
}

impl ColumnAlpha {
    /// The same alpha for every column.
    pub fn uniform(alpha: f32) -> Self {
        ColumnAlpha {
            split: 0,
            lo: alpha,
            hi: alpha,
        }
    }

    /// Alpha of column `n`.
    #[inline]
    pub fn at(&self, n: usize) -> f32 {
        if n < self.split { self.lo } else { self.hi }
    }
}

/// The exact value of one output element and the SPEC section 5 bound on a kernel's deviation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Exact {
    /// `z = alpha * S`, with `S` exact (W4A4) or compensated (W4A16), rounded once to f64.
    pub z: f64,
    /// `K * 2^-23 * |alpha| * T + ulp_bf16(|z| + K * 2^-23 * |alpha| * T)`, `T = sum |term|`.
    pub bound: f64,
    /// `T >= f32::MAX`: a binary32 partial sum may overflow although `S` is finite, so any
    /// infinity is an acceptable result (SPEC's bound assumes no overflow; this case is decided
    /// here, see `within_bound`).
    pub f32_overflow: bool,
}

impl Exact {
    fn new(z: f64, k: usize, alpha: f32, t: f64) -> Self {
        let acc = k as f64 * 2f64.powi(-23) * (alpha as f64).abs() * t;
        Exact {
            z,
            bound: acc + ulp_bf16(z.abs() + acc),
            f32_overflow: t >= f32::MAX as f64,
        }
    }
}

/// The bf16 unit in the last place at magnitude `v`: `2^(floor(log2 v) - 7)`, and `2^-133` (the
/// subnormal spacing) below the smallest normal `2^-126`.
pub fn ulp_bf16(v: f64) -> f64 {
    if v < 2f64.powi(-126) {
        return 2f64.powi(-133);
    }
    let e = ((v.to_bits() >> 52) & 0x7FF) as i32 - 1023;
    2f64.powi(e - 7)
}

/// The smallest magnitude that rounds to infinity in bf16: `(2 - 2^-8) * 2^127`.
const BF16_OVERFLOW: f64 = (2.0 - 1.0 / 256.0) * 1.7014118346046923e38;

/// Whether a kernel's output `d` passes SPEC section 5 against the exact value.
///
/// NaN `z` requires NaN `d`; infinite `z` requires the same infinity; otherwise `|d - z| <= bound`,
/// except that `d` may be the right-signed infinity when `|z| + bound` reaches bf16 overflow, and
/// any infinity when the binary32 sum itself may overflow ([`Exact::f32_overflow`]).
pub fn within_bound(d: bf16, e: &Exact) -> bool {
    let d = d.to_f32() as f64;
    if e.z.is_nan() {
        return d.is_nan();
    }
    if e.z.is_infinite() {
        return d == e.z;
    }
    if d.is_nan() {
        return false;
    }
    if d.is_infinite() {
        return e.f32_overflow
            || ((d > 0.0) == (e.z > 0.0) && e.z.abs() + e.bound >= BF16_OVERFLOW);
    }
    (d - e.z).abs() <= e.bound
}

/// `2 * e2m1(code)` as a signed integer.
const E2M1_X2: [i64; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// `512 * e4m3(byte)` as an integer (every E4M3 value is a multiple of `2^-9`); `None` for NaN.
fn e4m3_x512(byte: u8) -> Option<i64> {
    let v = e4m3::decode(byte);
    if v.is_nan() {
        None
    } else {
        Some((v * 512.0) as i64)
    }
}

/// Computes one GEMM. `out` is `[M, N]` bf16 row-major; `exact`, when given, `[M, N]` too.
///
/// `w` holds the weights `[N, K]` (any scale layout); `a` has `K` columns. `alpha` is the
/// epilogue scale (`dec_a * dec_w` in W4A4, `dec_w` in W4A16).
pub fn gemm(
    a: &Activations<'_>,
    w: &QuantizedRef<'_>,
    alpha: ColumnAlpha,
    out: &mut [bf16],
    exact: Option<&mut [Exact]>,
) -> Result<()> {
    let (m, n, k) = (a.rows(), w.rows(), w.cols());
    match a {
        Activations::Nvfp4(q) if q.cols() != k => {
            return Err(Error::InvalidParam {
                what: "A columns (K)",
                value: q.cols(),
            });
        }
        Activations::Bf16 { data, rows } => check_len(
            "A",
            rows.checked_mul(k).ok_or(Error::Overflow { what: "A" })?,
            data.len(),
        )?,
        _ => {}
    }
    let mn = m.checked_mul(n).ok_or(Error::Overflow { what: "D" })?;
    check_len("D", mn, out.len())?;
    let (exact, per_row) = match exact {
        Some(e) => {
            check_len("exact", mn, e.len())?;
            (e, n)
        }
        None => (&mut [][..], 0),
    };
    split2(m, out, n, exact, per_row, |rows, out, exact| {
        for (i, r) in rows.enumerate() {
            let d = &mut out[i * n..(i + 1) * n];
            let e = if per_row == 0 {
                None
            } else {
                Some(&mut exact[i * n..(i + 1) * n])
            };
            match a {
                Activations::Nvfp4(q) => row_w4a4(q, r, w, alpha, d, e),
                Activations::Bf16 { data, .. } => {
                    row_w4a16(&data[r * k..(r + 1) * k], w, alpha, d, e)
                }
            }
        }
    });
    Ok(())
}

fn row_w4a4(
    a: &QuantizedRef<'_>,
    r: usize,
    w: &QuantizedRef<'_>,
    alpha: ColumnAlpha,
    d: &mut [bf16],
    mut exact: Option<&mut [Exact]>,
) {
    let k = w.cols();
    for (nn, dn) in d.iter_mut().enumerate() {
        let al = alpha.at(nn);
        // Simulator output: exact binary32 products summed in k order.
        let mut s = 0.0f32;
        for kk in 0..k {
            s += a.value(r, kk) * w.value(nn, kk);
        }
        *dn = bf16_from_f32(al * s);
        let Some(ex) = exact.as_deref_mut() else {
            continue;
        };
        // Exact: integer multiples of 2^-20, block by block.
        let (mut acc, mut abs, mut nan) = (0i128, 0i128, false);
        let (ac, wc) = (a.row_codes(r), w.row_codes(nn));
        for b in 0..k / BLOCK {
            let (Some(sa), Some(sw)) = (e4m3_x512(a.scale(r, b)), e4m3_x512(w.scale(nn, b))) else {
                nan = true;
                break;
            };
            let (mut bs, mut ba) = (0i64, 0i64);
            for j in b * BLOCK..(b + 1) * BLOCK {
                let p =
                    E2M1_X2[e2m1::code_at(ac, j) as usize] * E2M1_X2[e2m1::code_at(wc, j) as usize];
                bs += p;
                ba += p.abs();
            }
            let sc = (sa * sw) as i128;
            acc += bs as i128 * sc;
            abs += ba as i128 * sc;
        }
        let unit = 2f64.powi(-20);
        ex[nn] = if nan {
            Exact {
                z: f64::NAN,
                ..Exact::default()
            }
        } else {
            Exact::new(al as f64 * (acc as f64 * unit), k, al, abs as f64 * unit)
        };
    }
}

fn row_w4a16(
    a: &[bf16],
    w: &QuantizedRef<'_>,
    alpha: ColumnAlpha,
    d: &mut [bf16],
    mut exact: Option<&mut [Exact]>,
) {
    for (nn, dn) in d.iter_mut().enumerate() {
        let al = alpha.at(nn);
        let mut s = 0.0f32;
        for (kk, &x) in a.iter().enumerate() {
            s += x.to_f32() * w.value(nn, kk);
        }
        *dn = bf16_from_f32(al * s);
        let Some(ex) = exact.as_deref_mut() else {
            continue;
        };
        // Exact: binary32 products widened to f64, Neumaier-compensated sum; plain sum once
        // anything is non-finite, so that Inf and NaN combine as IEEE says.
        let (mut sum, mut comp, mut t, mut plain, mut finite) = (0f64, 0f64, 0f64, 0f64, true);
        for (kk, &x) in a.iter().enumerate() {
            // The term is the binary32 product, as SPEC 5 writes it: exact unless it overflows
            // (|a| > about 1.27e35) or underflows, and then it is what every kernel computes too.
            let p = (x.to_f32() * w.value(nn, kk)) as f64;
            plain += p;
            finite &= p.is_finite();
            t += p.abs();
            let s2 = sum + p;
            comp += if sum.abs() >= p.abs() {
                (sum - s2) + p
            } else {
                (p - s2) + sum
            };
            sum = s2;
        }
        let s_exact = if finite { sum + comp } else { plain };
        ex[nn] = Exact::new(al as f64 * s_exact, w.cols(), al, t);
    }
}
