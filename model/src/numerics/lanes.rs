//! ln(1+u), e^v − 1 and e^v on 4-wide f64 vectors (`wide::f64x4`, AVX2 + FMA on x86-64-v3).
//! Accurate to a few ulp: tested against the standard library below. The batch scorer
//! evaluates a dozen horizons per customer with them; scalar code keeps using
//! `f64::ln_1p` / `f64::exp_m1`.
//!
//! Written with bit operations and selects only: AVX2 has no 64-bit int ↔ f64
//! conversion, so exponents go through the 2^52 "magic number" instead, which keeps every
//! step in vector registers.

use std::f64::consts::{LN_2, LOG2_E, SQRT_2};

use wide::{f64x4, u64x4};

// fdlibm's split of ln 2: the high part has trailing zero bits, so n·LN2_HI is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// 2^52: adding it to a small integer-valued f64 puts the integer in the low mantissa bits.
const MAGIC: f64 = 4_503_599_627_370_496.0;

#[inline(always)]
fn bits(v: f64x4) -> u64x4 {
    wide::bytemuck::cast(v)
}

#[inline(always)]
fn from_bits(v: u64x4) -> f64x4 {
    wide::bytemuck::cast(v)
}

/// Σ c[k]·w^k by Horner (c in ascending order).
#[inline(always)]
fn horner(w: f64x4, c: &[f64]) -> f64x4 {
    c.iter()
        .rev()
        .fold(f64x4::ZERO, |acc, &ck| acc.mul_add(w, f64x4::splat(ck)))
}

/// 1/(2k+1) for k = 0..=10, split by the parity of k (2·atanh series in s²).
const ATANH_EVEN: [f64; 6] = [
    1.0,
    1.0 / 5.0,
    1.0 / 9.0,
    1.0 / 13.0,
    1.0 / 17.0,
    1.0 / 21.0,
];
const ATANH_ODD: [f64; 5] = [1.0 / 3.0, 1.0 / 7.0, 1.0 / 11.0, 1.0 / 15.0, 1.0 / 19.0];

/// 1/(k+1)! for k = 0..=13, split by the parity of k (expm1(r)/r).
const EXPM1_EVEN: [f64; 7] = [
    1.0,
    1.0 / 6.0,
    1.0 / 120.0,
    1.0 / 5_040.0,
    1.0 / 362_880.0,
    1.0 / 39_916_800.0,
    1.0 / 6_227_020_800.0,
];
const EXPM1_ODD: [f64; 7] = [
    1.0 / 2.0,
    1.0 / 24.0,
    1.0 / 720.0,
    1.0 / 40_320.0,
    1.0 / 3_628_800.0,
    1.0 / 479_001_600.0,
    1.0 / 87_178_291_200.0,
];

/// ln(1 + u) for u > −1 (finite), lane by lane, given 1/(1 + u), which callers need
/// anyway (one division saved).
///
/// Takes K vectors at once and is straight-line code, so the K evaluations overlap: each
/// alone would be a chain of dependent FMAs waiting on one another's latency.
#[inline(always)]
pub(crate) fn ln_1p_with_inverse<const K: usize>(u: [f64x4; K], inv_1pu: [f64x4; K]) -> [f64x4; K] {
    std::array::from_fn(|j| ln_1p_one(u[j], inv_1pu[j]))
}

#[inline(always)]
fn ln_1p_one(u: f64x4, inv_1pu: f64x4) -> f64x4 {
    let one = f64x4::ONE;
    let y = one + u;
    // 1 + u rounds; this restores the lost low bits: ln(1+u) ≈ ln(y) + (u − (y−1))/y.
    let corr = (u - (y - one)) * inv_1pu;
    let yb = bits(y);
    // y > 0: the top 12 bits are the biased exponent; 2^52 + it, minus 2^52 + 1023, is e.
    let e = from_bits((yb >> 52) | bits(f64x4::splat(MAGIC))) - f64x4::splat(MAGIC + 1023.0);
    let m = from_bits((yb & u64x4::splat(0x000f_ffff_ffff_ffff)) | bits(one));
    let big = m.simd_gt(f64x4::splat(SQRT_2));
    let m = big.select(m * f64x4::HALF, m);
    let e = e + (big & one);
    let f = m - one;
    let s = f / (f64x4::splat(2.0) + f);
    let s2 = s * s;
    // 2·atanh(s) = 2s(1 + s²/3 + s⁴/5 + …), |s| ≤ 0.1716, s² ≤ 0.0295: 11 terms leave
    // < 1e-17. Even and odd powers of s² as two independent chains in s⁴.
    let s4 = s2 * s2;
    let p = horner(s4, &ATANH_ODD).mul_add(s2, horner(s4, &ATANH_EVEN));
    let ln_m = f64x4::splat(2.0) * s * p;
    e.mul_add(
        f64x4::splat(LN2_HI),
        e.mul_add(f64x4::splat(LN2_LO), ln_m) + corr,
    )
}

/// e^v − 1 for finite v ≤ 709, lane by lane; K vectors at once as
/// [`ln_1p_with_inverse`].
#[inline(always)]
pub(crate) fn exp_m1<const K: usize>(v: [f64x4; K]) -> [f64x4; K] {
    v.map(exp_m1_one)
}

#[inline(always)]
fn exp_m1_one(v: f64x4) -> f64x4 {
    let (x, two_n, em1_r) = exp_parts(v);
    // 2^n·(1 + p) − 1 = 2^n·p + (2^n − 1): exact scaling, one rounding.
    let out = two_n.mul_add(em1_r, two_n - f64x4::ONE);
    x.simd_lt(f64x4::splat(-745.0 * 0.999))
        .select(f64x4::splat(-1.0), out)
}

/// e^v for v ≤ 709, lane by lane (0 below −708, where the result would be subnormal; −∞
/// gives 0); K vectors at once as [`ln_1p_with_inverse`].
#[inline(always)]
pub(crate) fn exp<const K: usize>(v: [f64x4; K]) -> [f64x4; K] {
    v.map(|v| {
        let (x, two_n, em1_r) = exp_parts(v);
        let out = two_n.mul_add(em1_r, two_n);
        x.simd_lt(f64x4::splat(-708.0)).select(f64x4::ZERO, out)
    })
}

/// (v clamped below at −745, 2^n, e^r − 1) with v = n·ln 2 + r, |r| ≤ ln2/2.
#[inline(always)]
fn exp_parts(v: f64x4) -> (f64x4, f64x4, f64x4) {
    let x = v.fast_max(f64x4::splat(-745.0));
    let n = (x * f64x4::splat(LOG2_E)).round_ties_even();
    let r = (-n).mul_add(f64x4::splat(LN2_LO), (-n).mul_add(f64x4::splat(LN2_HI), x));
    // expm1(r) for |r| ≤ ln2/2 by Taylor to r^14 (error < 1e-18), even and odd powers as
    // two independent chains in r².
    let r2 = r * r;
    let p = horner(r2, &EXPM1_ODD).mul_add(r, horner(r2, &EXPM1_EVEN));
    let em1_r = p * r;
    let n = n
        .fast_max(f64x4::splat(-1022.0))
        .fast_min(f64x4::splat(1023.0));
    // 2^n from the bits of 2^52 + n + 1023 (an exact integer): shift the biased exponent
    // into place.
    let two_n = from_bits(bits(n + f64x4::splat(MAGIC + 1023.0)) << 52);
    (x, two_n, em1_r)
}

#[allow(dead_code)]
const _CHECK_LN2: () = assert!((LN2_HI + LN2_LO - LN_2).abs() < 1e-17);

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / b.abs().max(f64::MIN_POSITIVE)).abs() / f64::EPSILON
    }

    #[test]
    fn ln_1p_matches_std_to_a_few_ulp() {
        let mut worst: f64 = 0.0;
        let mut u = 1e-12_f64;
        while u < 1e12 {
            for du in [1.0, 1.37, 2.9, 7.1] {
                let x = u * du;
                for y in [x, -x.min(0.999_999)] {
                    let got =
                        ln_1p_with_inverse([f64x4::splat(y)], [f64x4::splat(1.0 / (1.0 + y))])[0]
                            .to_array()[0];
                    worst = worst.max(ulps(got, y.ln_1p()));
                }
            }
            u *= 1.7;
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
    }

    #[test]
    fn exp_m1_matches_std_to_a_few_ulp() {
        let mut worst: f64 = 0.0;
        let mut v = 1e-12_f64;
        while v < 700.0 {
            for s in [1.0, -1.0] {
                for dv in [1.0, 1.37, 2.9] {
                    let x = s * v * dv;
                    if x > 709.0 {
                        continue;
                    }
                    let got = exp_m1([f64x4::splat(x)])[0].to_array()[0];
                    worst = worst.max(ulps(got, x.exp_m1()));
                }
            }
            v *= 1.3;
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
        assert_eq!(exp_m1([f64x4::splat(-800.0)])[0].to_array()[0], -1.0);
        assert_eq!(exp_m1([f64x4::splat(0.0)])[0].to_array()[0], 0.0);
    }

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        let mut worst: f64 = 0.0;
        let mut v = 1e-12_f64;
        while v < 708.0 {
            for s in [1.0, -1.0] {
                for dv in [1.0, 1.37, 2.9] {
                    let x = s * v * dv;
                    if x.abs() > 708.0 {
                        continue;
                    }
                    let got = exp([f64x4::splat(x)])[0].to_array()[0];
                    worst = worst.max(ulps(got, x.exp()));
                }
            }
            v *= 1.3;
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
        assert_eq!(exp([f64x4::splat(0.0)])[0].to_array()[0], 1.0);
        assert_eq!(exp([f64x4::splat(-800.0)])[0].to_array()[0], 0.0);
        assert_eq!(exp([f64x4::splat(f64::NEG_INFINITY)])[0].to_array()[0], 0.0);
    }
}
