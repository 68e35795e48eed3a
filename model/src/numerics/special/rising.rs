//! Sums over a run of consecutive arguments, Σ_{j<n} ln(x+j), 1/(x+j) and 1/(x+j)²: the
//! log of the rising factorial (x)_n = Γ(x+n)/Γ(x) and its first two derivatives in x.
//! The likelihoods need them at every frequency that occurs, for a base (r, b, a+b) that
//! changes each evaluation. Frequencies close together are reached by adding the terms in
//! between, as they always were; a gap wider than [`STEP_LIMIT`] is crossed in closed form
//! (ln Γ, ψ and ψ' differences, each O(1) whatever n), so a table costs at most
//! `STEP_LIMIT` steps per distinct frequency, never one per purchase of the largest
//! customer (a million at `MAX_FREQUENCY`).

use super::gamma::STIRLING_MIN;

/// The widest gap between two frequencies crossed term by term: the closed form costs
/// about as much as a few dozen terms, and ordinary data (every frequency up to a few
/// hundred occurs) keeps its term-by-term sums bit for bit.
pub(crate) const STEP_LIMIT: u32 = 64;

/// Σ_{j<n} of ln(x+j), 1/(x+j) and 1/(x+j)² for a fixed x.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RisingSums {
    /// ln Γ(x+n) − ln Γ(x).
    pub ln: f64,
    /// ψ(x+n) − ψ(x).
    pub inv: f64,
    /// ψ'(x) − ψ'(x+n).
    pub inv2: f64,
}

/// The sums for base `x` at n = 0, 1, 2, ... in increasing order: see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RisingRun {
    x: f64,
    n: u32,
    sums: RisingSums,
    /// Terms added one by one so far (for the cost bound's tests).
    steps: u64,
}

impl RisingRun {
    /// The run at n = 0 (all sums 0).
    pub(crate) fn new(x: f64) -> RisingRun {
        RisingRun {
            x,
            n: 0,
            sums: RisingSums::default(),
            steps: 0,
        }
    }

    /// The sums up to (not including) term `n`; `n` must not be below the last one asked.
    pub(crate) fn at(&mut self, n: u32) -> RisingSums {
        debug_assert!(n >= self.n, "{n} < {}", self.n);
        if n - self.n > STEP_LIMIT {
            let h = f64::from(n);
            self.sums = RisingSums {
                ln: super::ln_gamma_shift(self.x, h),
                inv: digamma_shift(self.x, h),
                inv2: trigamma_shift(self.x, h),
            };
            self.n = n;
        }
        while self.n < n {
            let y = self.x + f64::from(self.n);
            self.sums.ln += y.ln();
            self.sums.inv += 1.0 / y;
            self.sums.inv2 += y.powi(-2);
            self.n += 1;
            self.steps += 1;
        }
        self.sums
    }

    /// Terms added one by one so far.
    #[cfg(test)]
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }
}

/// B_2k / 2k, k = 1..7: ψ(z) ~ ln z − 1/(2z) − Σ c_k z^−2k.
const DIGAMMA_TAIL: [f64; 7] = [
    1.0 / 12.0,
    -1.0 / 120.0,
    1.0 / 252.0,
    -1.0 / 240.0,
    1.0 / 132.0,
    -691.0 / 32_760.0,
    1.0 / 12.0,
];

/// B_2k, k = 1..7: ψ'(z) ~ 1/z + 1/(2z²) + Σ B_2k z^−(2k+1).
const TRIGAMMA_TAIL: [f64; 7] = [
    1.0 / 6.0,
    -1.0 / 30.0,
    1.0 / 42.0,
    -1.0 / 30.0,
    5.0 / 66.0,
    -691.0 / 2730.0,
    7.0 / 6.0,
];

/// How far below STIRLING_MIN an argument is: the number of unit shifts that lift it there.
fn shifts(x: f64) -> u32 {
    if x < STIRLING_MIN {
        (STIRLING_MIN - x).ceil() as u32
    } else {
        0
    }
}

/// Σ_k c_k (z^−p(k) at z = 1/s minus at z = 1/t) for the asymptotic tails above, with
/// p(k) = 2k + `odd`: the difference of the two tails term by term.
fn tail_difference(coefficients: &[f64], s: f64, t: f64, odd: bool) -> f64 {
    let (s2, t2) = (s * s, t * t);
    let (mut ps, mut pt) = if odd { (s * s2, t * t2) } else { (s2, t2) };
    let mut acc = 0.0;
    for c in coefficients {
        acc += c * (ps - pt);
        ps *= s2;
        pt *= t2;
    }
    acc
}

/// ψ(x+h) − ψ(x) for x > 0, h ≥ 0 (NaN otherwise): both arguments lifted to at least
/// STIRLING_MIN by the same shifts, then the asymptotic series as a difference whose
/// leading part is ln(1 + h/y), so nothing of size ln x cancels.
pub(crate) fn digamma_shift(x: f64, h: f64) -> f64 {
    if !(x > 0.0 && h >= 0.0 && x.is_finite() && h.is_finite()) {
        return f64::NAN;
    }
    if h == 0.0 {
        return 0.0;
    }
    let k = shifts(x);
    // ψ(z) = ψ(z+k) − Σ_{i<k} 1/(z+i): the shifted-away terms of both, as differences.
    let mut low = 0.0;
    for i in 0..k {
        let xi = x + f64::from(i);
        low += h / (xi * (xi + h));
    }
    let y = x + f64::from(k);
    let (s, t) = (1.0 / y, 1.0 / (y + h));
    // ln(y+h) − ln y − [1/(2(y+h)) − 1/(2y)] − Σ c_k [(y+h)^−2k − y^−2k]
    (h / y).ln_1p() + 0.5 * h * s * t + tail_difference(&DIGAMMA_TAIL, s, t, false) + low
}

/// ψ'(x) − ψ'(x+h) = Σ_{j≥0} [1/(x+j)² − 1/(x+h+j)²] for x > 0, h ≥ 0 (NaN otherwise),
/// as [`digamma_shift`] does it.
pub(crate) fn trigamma_shift(x: f64, h: f64) -> f64 {
    if !(x > 0.0 && h >= 0.0 && x.is_finite() && h.is_finite()) {
        return f64::NAN;
    }
    if h == 0.0 {
        return 0.0;
    }
    let k = shifts(x);
    let mut low = 0.0;
    for i in 0..k {
        let (a, b) = (x + f64::from(i), x + h + f64::from(i));
        // 1/a² − 1/b² = h(a+b)/(a²b²)
        low += h * (a + b) / (a * a * b * b);
    }
    let y = x + f64::from(k);
    let (s, t) = (1.0 / y, 1.0 / (y + h));
    // [1/y − 1/(y+h)] + ½[1/y² − 1/(y+h)²] + Σ B_2k [y^−(2k+1) − (y+h)^−(2k+1)]
    h * s * t + 0.5 * h * (s + t) * s * t + tail_difference(&TRIGAMMA_TAIL, s, t, true) + low
}

/// (ln Γ(x+h) − ln Γ(x))/h, for the tests' cross-check of the closed forms.
#[cfg(test)]
fn ln_gamma_shift_over(x: f64, h: f64) -> f64 {
    super::gamma::lgr_pos(x, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Term-by-term sums, for comparison (compensated, so the reference is the better one).
    fn direct(x: f64, n: u32) -> RisingSums {
        let (mut ln, mut inv, mut inv2) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
        let add = |acc: &mut [f64; 2], v: f64| {
            // Kahan summation.
            let y = v - acc[1];
            let t = acc[0] + y;
            acc[1] = (t - acc[0]) - y;
            acc[0] = t;
        };
        for j in 0..n {
            let y = x + f64::from(j);
            add(&mut ln, y.ln());
            add(&mut inv, 1.0 / y);
            add(&mut inv2, 1.0 / (y * y));
        }
        RisingSums {
            ln: ln[0],
            inv: inv[0],
            inv2: inv2[0],
        }
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }

    /// The closed forms equal the sums they replace, from tiny to huge bases and gaps.
    #[test]
    fn closed_forms_equal_the_sums() {
        for x in [1e-8, 1e-3, 0.243, 1.0, 2.426, 9.5, 10.0, 37.0, 1e4, 1e8] {
            for n in [1u32, 2, 7, 65, 300, 10_000, 200_000] {
                let want = direct(x, n);
                let h = f64::from(n);
                let got = RisingSums {
                    ln: h * ln_gamma_shift_over(x, h),
                    inv: digamma_shift(x, h),
                    inv2: trigamma_shift(x, h),
                };
                // ln Γ(x+n) − ln Γ(x) crosses 0 (x = 1, n = 1): relative to at least 1.
                let ln_err = (got.ln - want.ln).abs() / want.ln.abs().max(1.0);
                assert!(ln_err < 1e-13, "ln x={x} n={n}: {got:?} {want:?}");
                assert!(
                    rel(got.inv, want.inv) < 1e-13,
                    "ψ x={x} n={n}: {got:?} {want:?}"
                );
                assert!(
                    rel(got.inv2, want.inv2) < 1e-13,
                    "ψ' x={x} n={n}: {got:?} {want:?}"
                );
            }
        }
    }

    /// 50-digit mpmath values at a million terms (beyond what a direct sum checks well):
    /// mp.digamma(x + n) − mp.digamma(x) and mp.psi(1, x) − mp.psi(1, x + n).
    #[test]
    #[allow(clippy::excessive_precision)] // reference values: 20 digits
    fn closed_forms_match_mpmath_at_a_million_terms() {
        // (x, n, ψ(x+n) − ψ(x), ψ'(x) − ψ'(x+n))
        let cases = [
            (0.243, 1e6, 18.16660416538749347512, 18.14177878709557250132),
            (1e-8, 1e6, 100000014.3927257043241, 10000000000000001.22648),
            (
                1.5e10,
                1e6,
                6.666444454542701261896e-5,
                4.444148168196184452569e-15,
            ),
        ];
        for (x, n, psi, psi1) in cases {
            assert!(
                rel(digamma_shift(x, n), psi) < 1e-14,
                "ψ at {x}: {}",
                digamma_shift(x, n)
            );
            assert!(
                rel(trigamma_shift(x, n), psi1) < 1e-13,
                "ψ' at {x}: {}",
                trigamma_shift(x, n)
            );
        }
    }

    /// A run steps through close frequencies term by term (bit for bit the old sums) and
    /// jumps wide gaps, so its cost is bounded per frequency asked, not by the largest.
    #[test]
    fn a_run_steps_short_gaps_and_jumps_long_ones() {
        let x = 0.243;
        let mut run = RisingRun::new(x);
        let mut by_hand = RisingSums::default();
        for n in 0..=40u32 {
            assert_eq!(run.at(n), by_hand, "n = {n}");
            let y = x + f64::from(n);
            by_hand.ln += y.ln();
            by_hand.inv += 1.0 / y;
            by_hand.inv2 += y.powi(-2);
        }
        assert_eq!(run.steps(), 40);
        for n in [1_000u32, 1_001, 500_000, 1_000_000] {
            let got = run.at(n);
            let want = direct(x, n);
            assert!(rel(got.ln, want.ln) < 1e-12 && rel(got.inv, want.inv) < 1e-12);
            assert!(rel(got.inv2, want.inv2) < 1e-12);
        }
        assert_eq!(
            run.steps(),
            41,
            "one step from 1,000 to 1,001, the rest jumped"
        );
    }
}
