//! Double-double arithmetic: error-free sums and products, and [`Dd`], an unevaluated sum
//! `hi + lo` for `1 − z` and for parameters obtained by subtraction.

use super::scaled::Scaled;

/// An unevaluated sum hi + lo (|lo| ≤ ulp(hi)/2). Used for w = 1 − z and for parameters
/// derived by subtraction (c − a, c − a − b, ...): factors such as w^m or Γ(c − a) with
/// arguments in the hundreds would otherwise inherit a relative error of
/// |m ln w| or |ψ| times the rounding error of the argument (≈ 1e-13 at x ≈ 1000).
#[derive(Clone, Copy, Debug)]
pub(super) struct Dd {
    pub(super) hi: f64,
    pub(super) lo: f64,
}

/// a − b exactly (TwoSum).
pub(super) fn two_diff(a: f64, b: f64) -> Dd {
    let s = a - b;
    let bb = s - a;
    Dd {
        hi: s,
        lo: (a - (s - bb)) + (-b - bb),
    }
}

/// Veltkamp split: a = hi + lo with 26-bit halves.
pub(super) fn split(a: f64) -> (f64, f64) {
    let t = 134_217_729.0 * a;
    let hi = t - (t - a);
    (hi, a - hi)
}

/// a · b exactly (Dekker), for |a|, |b| < 1e290.
pub(super) fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    Dd {
        hi: p,
        lo: ((ah * bh - p) + ah * bl + al * bh) + al * bl,
    }
}

/// a + b with |a| ≥ |b| (or a = 0), exactly.
pub(super) fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd {
        hi: s,
        lo: b - (s - a),
    }
}

impl Dd {
    pub(super) fn exact(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }

    /// 1 − z exactly.
    pub(super) fn one_minus(z: f64) -> Dd {
        two_diff(1.0, z)
    }

    pub(super) fn sub(self, o: Dd) -> Dd {
        let d = two_diff(self.hi, o.hi);
        fast_two_sum(d.hi, d.lo + (self.lo - o.lo))
    }

    pub(super) fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    /// 1 / self, to about 2^-104 relative (for |hi| < 1e290).
    pub(super) fn recip(self) -> Dd {
        let r = 1.0 / self.hi;
        if !(self.hi.abs() < 1e290 && r.abs() < 1e290) {
            return Dd::exact(r);
        }
        let p = two_prod(r, self.hi);
        let res = ((1.0 - p.hi) - p.lo) - r * self.lo;
        Dd { hi: r, lo: res * r }
    }

    /// ln(self) for self > 0 (ln(1 + lo/hi) = lo/hi to double precision).
    pub(super) fn ln(self) -> f64 {
        self.hi.ln() + self.lo / self.hi
    }

    /// self^p for self > 0.
    pub(super) fn pow(self, p: Dd) -> Scaled {
        if p.hi == 0.0 && p.lo == 0.0 {
            return Scaled::ONE;
        }
        let lnw = self.ln();
        let l = p.hi * lnw;
        if l.abs() < 600.0 {
            // hi^p.hi · exp(corr), corr = p.hi·lo/hi + p.lo·ln w (tiny: |corr| ≲ 1e-12)
            let corr = p.hi * (self.lo / self.hi) + p.lo * lnw;
            let fix = if corr.abs() < 1e-8 {
                1.0 + corr
            } else {
                corr.exp()
            };
            Scaled {
                m: self.hi.powf(p.hi) * fix,
                e: 0.0,
            }
        } else {
            Scaled {
                m: 1.0,
                e: l + p.lo * lnw,
            }
        }
    }
}
