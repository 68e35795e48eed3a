//! The Pareto/NBD integral J = ∫_lo^hi (1+τ/α)^−m (1+τ/β)^−k dτ, in log space, by whichever
//! of three methods is cheap at the parameters.
//!
//! J is the textbook ∫ (α+τ)^−m (β+τ)^−k dτ times α^m β^k: written relative to the scales,
//! huge r, α or s·ln β never appear as large terms that cancel (r ≈ α ≈ 1e8 in the Poisson
//! limit, β ≈ 1e9 when nobody drops out).
//!
//! * **Series** (ordinary parameters): J is a difference of two tail integrals, each a ₂F₁
//!   whose Euler transform is a series of positive terms in z = (A−B)/(A+y), A ≥ B the larger
//!   and smaller of α, β. A few dozen terms when α and β are comparable, but ≈ 40/(1−z) as
//!   one scale dwarfs the other, which is exactly where fits on data without dropout go
//!   (β → ∞): millions of terms per customer.
//! * **Expansion** (the larger scale far above the smaller plus hi, by the ratio q of
//!   [`expansion_ratio`] below 0.5: β ≫ α + T when nobody drops out): the larger scale's
//!   factor expanded in powers of B/(A−B), each term a moment in closed form; alternating
//!   terms that fall by q each, at most 57 of them, O(1) per customer whatever β.
//! * **Pieces** (one scale far above the other, but not far enough for the expansion, or
//!   its exponent too large): [lo, hi] is cut so that on each piece the
//!   Taylor series of the integrand about the piece's right end converges at ratio ≤ 1/2
//!   with a bounded hump; those series have positive coefficients (no cancellation) and a
//!   three-term recurrence. Pieces grow geometrically and the integrand falls, so the cost
//!   is logarithmic in the scale ratio and never grows with β.

use crate::numerics::dual::{Real, logaddexp, logsubexp};

/// Series longer than this are not summed: the pieces are cheaper (a few hundred
/// recurrence steps at worst) and their cost does not grow as z → 1.
pub(crate) const SERIES_LIMIT: usize = 2048;

/// Terms of Σ c_n z^n (every c_n ≤ 1, falling) after which the tail is below 1e-17 of the
/// sum (≥ 1): z^n/(1−z) < 1e-17.
pub(crate) fn terms_needed(z: f64) -> usize {
    if z <= 0.0 {
        1
    } else if z < 1.0 {
        ((1e-17 * (1.0 - z)).ln() / z.ln()).ceil().max(0.0) as usize + 1
    } else {
        usize::MAX
    }
}

/// Whether the tail-integral series at lower limit `lo` (the slower of the two) is short.
pub(crate) fn series_is_short(alpha: f64, beta: f64, lo: f64) -> bool {
    let (big, small) = if alpha >= beta {
        (alpha, beta)
    } else {
        (beta, alpha)
    };
    terms_needed((big - small) / (big + lo)) <= SERIES_LIMIT
}

/// ln J with the method the parameters call for: the expansion where it converges fast,
/// else the series where it is short, else the pieces. `sums` sums the tail series (see
/// [`ln_tail_integrals`]); `None` if a series or the pieces did not converge.
/// Needs lo < hi and m + k > 1 (the tails of the series method are finite).
#[allow(clippy::too_many_arguments)] // two scales, two exponents, the limits, the series
pub(crate) fn ln_integral<T: Real>(
    alpha: T,
    m: T,
    beta: T,
    k: T,
    lo: f64,
    hi: f64,
    sums: impl FnOnce(T, T, [T; 2]) -> Option<[T; 2]>,
) -> Option<T> {
    if expansion_ratio(alpha, m, beta, k, hi) < EXPANSION_LIMIT {
        ln_integral_expanded(alpha, m, beta, k, lo, hi)
    } else if series_is_short(alpha.val(), beta.val(), lo) {
        let [g_lo, g_hi] = ln_tail_integrals(alpha, m, beta, k, [lo, hi], sums)?;
        Some(logsubexp(g_lo, g_hi))
    } else {
        ln_integral_in_pieces(alpha, m, beta, k, lo, hi)
    }
}

/// ln ∫_y^∞ (1+τ/α)^−m (1+τ/β)^−k dτ for m + k > 1, at each lower limit y in `ys`.
///
/// With A ≥ B the larger of α, β (exponent e_A) and the smaller (exponent e_B), the
/// textbook tail is G(y) = (A+y)^−e_A (B+y)^−(e_B−1) · S / (m+k−1) with
/// S = Σ_n Π_{j<n} (e_A+j)/(m+k+j) · z^n, z = (A−B)/(A+y) ∈ [0, 1); relative to the scales,
/// G·A^e_A·B^e_B = (1+y/A)^−e_A (1+y/B)^−(e_B−1) · B · S / (m+k−1). `sums(e_A, m + k, z)`
/// sums S at each z ([`adaptive_sums`], or the fit's tabulated polynomial).
pub(crate) fn ln_tail_integrals<T: Real, const N: usize>(
    alpha: T,
    m: T,
    beta: T,
    k: T,
    ys: [f64; N],
    sums: impl FnOnce(T, T, [T; N]) -> Option<[T; N]>,
) -> Option<[T; N]> {
    let (big, e_big, small, e_small) = if alpha.val() >= beta.val() {
        (alpha, m, beta, k)
    } else {
        (beta, k, alpha, m)
    };
    let z = ys.map(|y| (big - small) / (big + T::cst(y)));
    let mk = m + k;
    let sum = sums(e_big, mk, z)?;
    let shared = small.ln() - (mk - T::cst(1.0)).ln();
    Some(std::array::from_fn(|j| {
        let y = T::cst(ys[j]);
        -(e_big * (y / big).ln_1p()) - (e_small - T::cst(1.0)) * (y / small).ln_1p()
            + sum[j].ln()
            + shared
    }))
}

/// S = Σ_n Π_{j<n} (e_A+j)/(m+k+j) · z^n term by term until the tail is below 1e-17 of the
/// sum; `None` if that takes more than [`SERIES_LIMIT`] terms (callers check
/// [`series_is_short`] first). The series side by side: each is a chain of dependent
/// multiplications, so their steps overlap.
pub(crate) fn adaptive_sums<T: Real, const N: usize>(e_big: T, mk: T, z: [T; N]) -> Option<[T; N]> {
    let mut term = [T::cst(1.0); N];
    let mut sum = [T::cst(1.0); N];
    // At z = 0 (α = β) the sum is 1, but its derivative in α and β is c_1·dz: one term.
    let mut done = [false; N];
    let mut n = 0;
    while !done.iter().all(|&d| d) {
        if n == SERIES_LIMIT {
            return None;
        }
        let ratio = (e_big + T::cst(n as f64)) / (mk + T::cst(n as f64));
        for j in 0..N {
            if done[j] {
                continue;
            }
            term[j] = term[j] * ratio * z[j];
            sum[j] = sum[j] + term[j];
            // Ratios are below z, so the remaining tail is below term·z/(1−z).
            let zv = z[j].val();
            done[j] = term[j].val() * zv < 1e-17 * (1.0 - zv) * sum[j].val();
        }
        n += 1;
    }
    Some(sum)
}

/// Largest q (see [`expansion_ratio`]) at which [`ln_integral_expanded`] is used: every
/// term is below q times the one before, so 57 terms at most reach 1e-17, and the sum is
/// at least half the first term (nothing cancels). Below q ≈ 0.5 the series would need
/// over 100 terms per customer (≈ 40·(A+y)/(B+y)) and the pieces a few hundred steps.
pub(crate) const EXPANSION_LIMIT: f64 = 0.5;
const MAX_EXPANSION_TERMS: usize = 64;

/// The ratio bound q = max(e_A, 1)·(B + hi)/(A − B) of the expansion in [`ln_integral_expanded`]
/// (A > B the larger and smaller scale, e_A the larger scale's exponent); infinite when
/// α = β. Small exactly where the series is long and nobody drops out (β ≫ α + T).
pub(crate) fn expansion_ratio<T: Real>(alpha: T, m: T, beta: T, k: T, hi: f64) -> f64 {
    let (big, e_big, small) = if alpha.val() >= beta.val() {
        (alpha.val(), m.val(), beta.val())
    } else {
        (beta.val(), k.val(), alpha.val())
    };
    let gap = big - small;
    if gap > 0.0 {
        e_big.max(1.0) * (small + hi) / gap
    } else {
        f64::INFINITY
    }
}

/// ln J by expanding the larger scale's factor in powers of the smaller one, for one scale
/// far above the other (β ≫ α + T on data without dropout): O(1) work per customer where
/// the series needs ~40·β/α terms and the pieces a few hundred recurrence steps.
///
/// With A > B the larger and smaller scale (exponents e_A, e_B), u = 1 + τ/B, c = B/(A−B):
/// 1 + τ/A = (1 − B/A)(1 + c·u), so
/// J = B (1 − B/A)^−e_A Σ_n (e_A)_n/n! (−c)^n ∫_{u0}^{u1} u^(n−e_B) du
///   = B (1 − B/A)^−e_A u0^(1−e_B) Σ_n (−1)^n (e_A)_n/n! (c·u0)^n (R^p_n − 1)/p_n,
/// R = u1/u0, p_n = n + 1 − e_B. Each term is below q = max(e_A, 1)·c·u1 times the one
/// before ((e_A+n)/(n+1) ≤ max(e_A, 1), and the moment grows by at most u1), and they
/// alternate, so the sum is within the first term's (1 ± q) (no cancellation) and stopping
/// when a term times q/(1−q) falls below 1e-17 of the first leaves an error below that.
/// `None` if q ≥ [`EXPANSION_LIMIT`] (callers check [`expansion_ratio`]).
pub(crate) fn ln_integral_expanded<T: Real>(
    alpha: T,
    m: T,
    beta: T,
    k: T,
    lo: f64,
    hi: f64,
) -> Option<T> {
    let q = expansion_ratio(alpha, m, beta, k, hi);
    // (Also refuses a NaN q.)
    if q.is_nan() || q >= EXPANSION_LIMIT {
        return None;
    }
    let (big, e_big, small, e_small) = if alpha.val() >= beta.val() {
        (alpha, m, beta, k)
    } else {
        (beta, k, alpha, m)
    };
    let gap = big - small;
    let u0 = T::cst(1.0) + T::cst(lo) / small;
    // ln R = ln((B + hi)/(B + lo)).
    let ln_r = (T::cst(hi - lo) / (small + T::cst(lo))).ln_1p();
    let p0 = T::cst(1.0) - e_small;
    // The n-th moment term is (R^p_n − 1)/p_n times `low` = (e_A)_n/n! (c·u0)^n, i.e.
    // (`high` − `low`)/p_n with `high` = (e_A)_n/n! (c·u1)^n R^p0: both shrink by q per
    // term, where R^n alone could overflow. Where p_n·ln R is small that difference would
    // cancel, and ln R·(e^y − 1)/y takes its place.
    let (c_u0, c_u1) = (u0 * small / gap, (small + T::cst(hi)) / gap);
    let mut low = T::cst(1.0);
    let mut high = (p0 * ln_r).exp();
    let mut sum = T::cst(0.0);
    let mut first = 0.0;
    for n in 0..MAX_EXPANSION_TERMS {
        let nf = n as f64;
        let p = p0 + T::cst(nf);
        let y = p * ln_r;
        let term = if y.val().abs() < 0.1 {
            low * ln_r * expm1_over(y)
        } else {
            (high - low) / p
        };
        if n == 0 {
            first = term.val();
            sum = term;
        } else if n % 2 == 1 {
            sum = sum - term;
        } else {
            sum = sum + term;
        }
        if term.val() * q <= 1e-17 * (1.0 - q) * first {
            return Some(small.ln() - e_big * (-(small / big)).ln_1p() + p0 * u0.ln() + sum.ln());
        }
        let growth = (e_big + T::cst(nf)).scale(1.0 / (nf + 1.0));
        low = low * growth * c_u0;
        high = high * growth * c_u1;
    }
    None
}

/// (e^y − 1)/y for |y| < 0.1 by its Taylor series Σ y^j/(j+1)!, j ≤ 10 (the rest is below
/// 1e-19): on dual numbers the quotient would lose its derivative to cancellation.
fn expm1_over<T: Real>(y: T) -> T {
    // 1/(j+1)! for j = 10 down to 0.
    const INVERSE_FACTORIALS: [f64; 11] = [
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        1.0 / 2.0,
        1.0,
    ];
    INVERSE_FACTORIALS
        .iter()
        .fold(T::cst(0.0), |acc, &c| acc * y + T::cst(c))
}

/// Largest m·Δ/(α+y) (and k·Δ/(β+y)) of a piece: the hump of its series (terms first grow
/// like (mΔ/(α+y))^n/n!) stays below e^4, and the integrand falls by about e^−4 across it.
const HUMP: f64 = 4.0;
/// Guards against parameters outside any sensible range (the pieces needed are about
/// log2 of the scale ratio plus 45/HUMP).
const MAX_PIECES: usize = 20_000;
const MAX_PIECE_TERMS: usize = 1000;
/// ln of the relative size below which the rest of the integral is dropped (e^−42 ≈ 6e-19).
const LN_NEGLIGIBLE: f64 = -42.0;

/// ln J summed over pieces [y0, y1] of [lo, hi]: each piece's width is at most the smaller
/// scale plus y0 (its series converges at ratio ≤ 1/2) and at most HUMP·(α+y0)/m and
/// HUMP·(β+y0)/k. The integrand falls, so once it is negligible at a piece's end against
/// the sum so far the rest is dropped. The cut points are constants: J does not depend on
/// them, so the derivatives are those of J.
pub(crate) fn ln_integral_in_pieces<T: Real>(
    alpha: T,
    m: T,
    beta: T,
    k: T,
    lo: f64,
    hi: f64,
) -> Option<T> {
    let (a, b, mv, kv) = (alpha.val(), beta.val(), m.val(), k.val());
    let small = a.min(b);
    let mut total: Option<T> = None;
    let mut y0 = lo;
    for _ in 0..MAX_PIECES {
        let mut width = small + y0;
        if mv > HUMP {
            width = width.min(HUMP * (a + y0) / mv);
        }
        if kv > HUMP {
            width = width.min(HUMP * (b + y0) / kv);
        }
        let y1 = if hi - y0 <= width { hi } else { y0 + width };
        let y = T::cst(y1);
        let ln_f = -(m * (y / alpha).ln_1p()) - k * (y / beta).ln_1p();
        let piece = ln_f + ln_piece(alpha, m, beta, k, y0, y1)?;
        let sum = match total {
            None => piece,
            Some(t) => logaddexp(t, piece),
        };
        total = Some(sum);
        if y1 >= hi || ln_f.val() + (hi - y1).ln() < sum.val() + LN_NEGLIGIBLE {
            return total;
        }
        y0 = y1;
    }
    None
}

/// ln ∫_y0^y1 of the integrand divided by its value at y1: with v = y1 − τ,
/// (1 − v/(α+y1))^−m (1 − v/(β+y1))^−k = Σ c_n v^n, all c_n > 0. With u = Δ/(α+y1),
/// w = Δ/(β+y1) and ĉ_n = c_n Δ^n, the integrand g satisfies (a−v)(b−v) g' = (m(b−v) +
/// k(a−v)) g, which gives
/// (n+1) ĉ_{n+1} = ((u+w) n + m u + k w) ĉ_n − (n−1+m+k) u w ĉ_{n−1},
/// and the piece is Δ Σ ĉ_n/(n+1). Our solution is the recurrence's dominant one (it grows
/// like max(u, w)^n against min(u, w)^n), so forward steps are stable.
fn ln_piece<T: Real>(alpha: T, m: T, beta: T, k: T, y0: f64, y1: f64) -> Option<T> {
    let delta = y1 - y0;
    let u = T::cst(delta) / (alpha + T::cst(y1));
    let w = T::cst(delta) / (beta + T::cst(y1));
    let linear = m * u + k * w;
    let (u_plus_w, uw, mk) = (u + w, u * w, m + k);
    // Past the hump the ratio of successive coefficients is below about 3/4, so once a
    // term is this small the tail (≤ 4 terms' worth) is negligible.
    let past_hump = 2.0 * linear.val() + 2.0;
    let (mut prev, mut cur, mut sum) = (T::cst(0.0), T::cst(1.0), T::cst(1.0));
    for n in 0..MAX_PIECE_TERMS {
        let nf = n as f64;
        let next = ((u_plus_w.scale(nf) + linear) * cur - (mk + T::cst(nf - 1.0)) * uw * prev)
            .scale(1.0 / (nf + 1.0));
        prev = cur;
        cur = next;
        let term = cur.scale(1.0 / (nf + 2.0));
        sum = sum + term;
        if nf + 1.0 >= past_hump && term.val() <= 1e-18 * sum.val() && cur.val() <= prev.val() {
            return Some(sum.ln() + T::cst(delta).ln());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::quadrature;

    /// ∫_lo^hi (1+τ/α)^−m (1+τ/β)^−k dτ by composite Gauss-Legendre on many panels, in
    /// v = ln(c + τ) with c the smaller scale (smooth even when c is tiny).
    fn by_quadrature(alpha: f64, m: f64, beta: f64, k: f64, lo: f64, hi: f64) -> f64 {
        let c = alpha.min(beta);
        quadrature::integrate((c + lo).ln(), (c + hi).ln(), 4096, |v| {
            let tau = v.exp() - c;
            (v - m * (tau / alpha).ln_1p() - k * (tau / beta).ln_1p()).exp()
        })
    }

    /// The tail series (difference of two tails) and the pieces both equal quadrature of the
    /// definition, for α ≥ β and α < β, wherever the series is short enough to compare.
    #[test]
    fn series_and_pieces_match_quadrature() {
        for &(alpha, m, beta, k, lo, hi) in &[
            (10.58, 2.55, 11.67, 1.61, 5.0, 38.0),
            (11.67, 0.6, 3.0, 2.5, 0.0, 20.0),
            (2.0, 30.0, 40.0, 1.2, 10.0, 12.0),
            (4.0, 0.3, 150.0, 1.01, 0.0, 52.0),
            (100.0, 7.5, 2.0, 1.5, 1.0, 40.0),
        ] {
            let want = by_quadrature(alpha, m, beta, k, lo, hi);
            assert!(series_is_short(alpha, beta, lo));
            let [g_lo, g_hi] =
                ln_tail_integrals(alpha, m, beta, k, [lo, hi], adaptive_sums).unwrap();
            let series = logsubexp(g_lo, g_hi).exp();
            let pieces = ln_integral_in_pieces(alpha, m, beta, k, lo, hi)
                .unwrap()
                .exp();
            for got in [series, pieces] {
                assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
            }
        }
    }

    /// Where one scale dwarfs the other the series would need millions of terms; the
    /// pieces agree with quadrature there, and `ln_integral` takes them wherever the
    /// expansion would converge too slowly (the last two: q of 2,000 and 0.6).
    #[test]
    fn far_apart_scales_are_summed_in_pieces() {
        for &(alpha, m, beta, k, lo, hi) in &[
            (10.0, 0.55, 1e7, 1.000_001, 0.0, 52.0),
            (10.0, 25.55, 1e9, 1.5, 30.0, 52.0),
            (0.01, 0.2, 1e4, 1.1, 0.0, 365.0),
            (1e6, 1e5 + 3.0, 50.0, 1.9, 0.0, 100.0),
            (0.01, 0.2, 1e4, 16.0, 0.0, 365.0),
        ] {
            assert!(!series_is_short(alpha, beta, lo));
            let want = by_quadrature(alpha, m, beta, k, lo, hi);
            let pieces = ln_integral_in_pieces(alpha, m, beta, k, lo, hi)
                .unwrap()
                .exp();
            let chosen = ln_integral(alpha, m, beta, k, lo, hi, |_, _, _| None)
                .unwrap()
                .exp();
            for got in [pieces, chosen] {
                assert!((got - want).abs() < 1e-11 * want, "{got} vs {want}");
            }
        }
        assert!(expansion_ratio(1e6, 1e5 + 3.0, 50.0, 1.9, 100.0) > EXPANSION_LIMIT);
        assert!(expansion_ratio(0.01, 0.2, 1e4, 16.0, 365.0) > EXPANSION_LIMIT);
        // q = 0.67 at CDNOW's α with β = 150: the expansion refuses.
        assert!(ln_integral_expanded(10.578, 0.553, 150.0, 1.5, 0.0, 52.0).is_none());
    }

    /// Parameters where the expansion applies, in both orientations, with moment exponents
    /// p_n = n + 1 − e_B at and near zero (e_B = 2, e_B = 1 + 1e-9) and far below (e_B
    /// of 1,000), and q from 1e-12 up to just under the limit (0.45).
    const EXPANDED: [(f64, f64, f64, f64, f64, f64); 11] = [
        (10.0, 0.55, 1e7, 1.000_001, 0.0, 52.0),
        (10.0, 25.55, 1e9, 1.5, 30.0, 52.0),
        (0.01, 0.2, 1e4, 1.1, 0.0, 365.0),
        (10.0, 2.0, 1e4, 1.0, 0.0, 52.0),
        (1e-3, 1.000_000_001, 1e6, 1.2, 1.0, 520.0),
        (0.5, 1000.5, 1e7, 1.1, 51.0, 52.0),
        (1e8, 0.3, 30.0, 1.5, 0.0, 520.0),
        (1e9, 1002.0, 1.0, 4.0, 5.0, 520.0),
        (10.578, 0.553, 1000.0, 1.5, 0.0, 52.0),
        (10.578, 0.553, 220.0, 1.5, 0.0, 52.0),
        (10.0, 0.5, 1e12, 1.000_000_001, 0.0, 1.0),
    ];

    /// The expansion equals quadrature of the definition and the pieces.
    #[test]
    fn expansion_matches_quadrature_and_pieces() {
        for &(alpha, m, beta, k, lo, hi) in &EXPANDED {
            let q = expansion_ratio(alpha, m, beta, k, hi);
            assert!(q < EXPANSION_LIMIT, "q = {q}");
            // Relative to the integrand at lo, whose e^−4640 (m = 1000.5) would underflow.
            let ln_top = -m * (lo / alpha).ln_1p() - k * (lo / beta).ln_1p();
            let c = alpha.min(beta);
            let want = ln_top
                + quadrature::integrate((c + lo).ln(), (c + hi).ln(), 4096, |v| {
                    let tau = v.exp() - c;
                    (v - m * (tau / alpha).ln_1p() - k * (tau / beta).ln_1p() - ln_top).exp()
                })
                .ln();
            let pieces = ln_integral_in_pieces(alpha, m, beta, k, lo, hi).unwrap();
            let got = ln_integral_expanded(alpha, m, beta, k, lo, hi).unwrap();
            let chosen = ln_integral(alpha, m, beta, k, lo, hi, |_, _, _| None).unwrap();
            assert_eq!(got.to_bits(), chosen.to_bits());
            let scale = want.abs().max(1.0);
            assert!((got - want).abs() < 1e-12 * scale, "{got} vs {want}");
            assert!(
                (got - pieces).abs() < 1e-13 * scale,
                "{got} vs pieces {pieces}"
            );
        }
    }

    /// On dual numbers the expansion's derivatives in the four parameters are those of the
    /// pieces (whose cut points are constants, so their derivatives are J's).
    #[test]
    fn expansion_derivatives_match_pieces() {
        use crate::numerics::dual::Dual;
        for &(alpha, m, beta, k, lo, hi) in &EXPANDED {
            let (a, mm, b, kk) = (
                Dual::var(alpha, 0),
                Dual::var(m, 1),
                Dual::var(beta, 2),
                Dual::var(k, 3),
            );
            let got = ln_integral_expanded(a, mm, b, kk, lo, hi).unwrap();
            let want = ln_integral_in_pieces(a, mm, b, kk, lo, hi).unwrap();
            // Relative, or absolute 1e-15 in the derivative in the log of the parameter
            // (β = 1e12 gives d/dβ ≈ 5e-25 whose last digits neither method has).
            let at = [alpha, m, beta, k];
            for i in 0..4 {
                let tolerance = 1e-10 * want.d[i].abs() + 1e-15 / at[i];
                assert!(
                    (got.d[i] - want.d[i]).abs() <= tolerance,
                    "({alpha}, {m}, {beta}, {k}, {lo}, {hi}) d{i}: {} vs {}",
                    got.d[i],
                    want.d[i]
                );
            }
        }
    }
}
