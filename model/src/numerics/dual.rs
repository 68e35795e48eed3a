//! Forward-mode dual numbers with four derivative lanes: exact gradients of closed forms
//! (series included) whose parameter derivatives have no closed form of their own.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// The arithmetic the generic likelihood code needs; implemented for `f64` (values only)
/// and [`Dual`] (values with gradients).
pub(crate) trait Real:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    fn cst(v: f64) -> Self;
    fn val(self) -> f64;
    fn ln(self) -> Self;
    fn exp(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn scale(self, k: f64) -> Self;
}

impl Real for f64 {
    fn cst(v: f64) -> Self {
        v
    }
    fn val(self) -> f64 {
        self
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
    fn exp_m1(self) -> Self {
        f64::exp_m1(self)
    }
    fn scale(self, k: f64) -> Self {
        self * k
    }
}

/// A value with its gradient with respect to four parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dual {
    pub v: f64,
    pub d: [f64; 4],
}

impl Dual {
    /// The `i`-th independent variable with value `v`.
    pub fn var(v: f64, i: usize) -> Self {
        let mut d = [0.0; 4];
        d[i] = 1.0;
        Dual { v, d }
    }

    fn chain(self, v: f64, dv: f64) -> Self {
        Dual {
            v,
            d: self.d.map(|x| x * dv),
        }
    }
}

impl Add for Dual {
    type Output = Dual;
    fn add(self, o: Dual) -> Dual {
        Dual {
            v: self.v + o.v,
            d: std::array::from_fn(|i| self.d[i] + o.d[i]),
        }
    }
}

impl Sub for Dual {
    type Output = Dual;
    fn sub(self, o: Dual) -> Dual {
        Dual {
            v: self.v - o.v,
            d: std::array::from_fn(|i| self.d[i] - o.d[i]),
        }
    }
}

#[allow(clippy::suspicious_arithmetic_impl)] // product rule
impl Mul for Dual {
    type Output = Dual;
    fn mul(self, o: Dual) -> Dual {
        Dual {
            v: self.v * o.v,
            d: std::array::from_fn(|i| self.d[i] * o.v + self.v * o.d[i]),
        }
    }
}

#[allow(clippy::suspicious_arithmetic_impl)] // quotient rule
impl Div for Dual {
    type Output = Dual;
    fn div(self, o: Dual) -> Dual {
        let q = self.v / o.v;
        Dual {
            v: q,
            d: std::array::from_fn(|i| (self.d[i] - q * o.d[i]) / o.v),
        }
    }
}

impl Neg for Dual {
    type Output = Dual;
    fn neg(self) -> Dual {
        Dual {
            v: -self.v,
            d: self.d.map(|x| -x),
        }
    }
}

impl Real for Dual {
    fn cst(v: f64) -> Self {
        Dual { v, d: [0.0; 4] }
    }
    fn val(self) -> f64 {
        self.v
    }
    fn ln(self) -> Self {
        self.chain(self.v.ln(), 1.0 / self.v)
    }
    fn exp(self) -> Self {
        let e = self.v.exp();
        self.chain(e, e)
    }
    fn ln_1p(self) -> Self {
        self.chain(self.v.ln_1p(), 1.0 / (1.0 + self.v))
    }
    fn exp_m1(self) -> Self {
        self.chain(self.v.exp_m1(), self.v.exp())
    }
    fn scale(self, k: f64) -> Self {
        Dual {
            v: self.v * k,
            d: self.d.map(|x| x * k),
        }
    }
}

/// ln(e^a + e^b) without overflow.
pub(crate) fn logaddexp<T: Real>(a: T, b: T) -> T {
    if a.val() == f64::NEG_INFINITY {
        return b;
    }
    if b.val() == f64::NEG_INFINITY {
        return a;
    }
    if a.val() >= b.val() {
        a + (b - a).exp().ln_1p()
    } else {
        b + (a - b).exp().ln_1p()
    }
}

/// ln(e^a − e^b) for a > b, accurate when they are close.
pub(crate) fn logsubexp<T: Real>(a: T, b: T) -> T {
    if b.val() == f64::NEG_INFINITY {
        return a;
    }
    let d = b - a; // < 0
    if d.val() > -std::f64::consts::LN_2 {
        a + (-(d.exp_m1())).ln()
    } else {
        a + (-(d.exp())).ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_of_a_composite_match_hand_derivation() {
        // f(x, y) = ln(x·y + e^x) / y
        let (x, y) = (Dual::var(0.7, 0), Dual::var(1.3, 1));
        let f = (x * y + x.exp()).ln() / y;
        let (xv, yv) = (0.7f64, 1.3f64);
        let inner = xv * yv + xv.exp();
        assert!((f.v - inner.ln() / yv).abs() < 1e-15);
        assert!((f.d[0] - (yv + xv.exp()) / inner / yv).abs() < 1e-14);
        assert!((f.d[1] - (xv / inner / yv - inner.ln() / (yv * yv))).abs() < 1e-14);
    }

    #[test]
    fn log_sums_are_stable() {
        assert!((logaddexp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(logaddexp(f64::NEG_INFINITY, 3.0), 3.0);
        assert!((logsubexp(0.0, -1e-10) - (1e-10f64).ln()).abs() < 1e-6);
        assert!((logsubexp(2.0, 1.0) - (2f64.exp() - 1f64.exp()).ln()).abs() < 1e-14);
    }
}
