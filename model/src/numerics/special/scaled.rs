//! Scaled numbers `m · e^E`: products and sums of ₂F₁'s parts without overflow, converted
//! to f64 (or to a logarithm) only at the end.

#[derive(Clone, Copy, Debug)]
pub(super) struct Scaled {
    pub(super) m: f64,
    pub(super) e: f64,
}

impl Scaled {
    pub(super) const ZERO: Scaled = Scaled { m: 0.0, e: 0.0 };
    pub(super) const ONE: Scaled = Scaled { m: 1.0, e: 0.0 };
    pub(super) const NAN: Scaled = Scaled {
        m: f64::NAN,
        e: 0.0,
    };

    pub(super) fn new(m: f64, e: f64) -> Self {
        Scaled { m, e }.norm()
    }

    /// `sign · exp(ln_abs)`; sign 0 gives zero.
    pub(super) fn from_log(sign: f64, ln_abs: f64) -> Self {
        if sign == 0.0 || ln_abs == f64::NEG_INFINITY {
            return Scaled::ZERO;
        }
        if ln_abs.is_nan() || sign.is_nan() {
            return Scaled::NAN;
        }
        if ln_abs.abs() < 600.0 {
            Scaled {
                m: sign * ln_abs.exp(),
                e: 0.0,
            }
        } else {
            Scaled { m: sign, e: ln_abs }
        }
    }

    pub(super) fn norm(self) -> Self {
        let a = self.m.abs();
        if a == 0.0 || !a.is_finite() || !self.e.is_finite() {
            return if a == 0.0 { Scaled::ZERO } else { self };
        }
        if !(1e-150..=1e150).contains(&a) {
            Scaled {
                m: self.m.signum(),
                e: self.e + a.ln(),
            }
        } else {
            self
        }
    }

    pub(super) fn mul(self, o: Scaled) -> Self {
        Scaled {
            m: self.m * o.m,
            e: self.e + o.e,
        }
        .norm()
    }

    pub(super) fn add(self, o: Scaled) -> Self {
        if self.m == 0.0 {
            return o;
        }
        if o.m == 0.0 {
            return self;
        }
        let e = self.e.max(o.e);
        Scaled {
            m: self.m * (self.e - e).exp() + o.m * (o.e - e).exp(),
            e,
        }
        .norm()
    }

    pub(super) fn abs(self) -> Self {
        Scaled {
            m: self.m.abs(),
            e: self.e,
        }
    }

    pub(super) fn ln_abs(self) -> f64 {
        self.m.abs().ln() + self.e
    }

    pub(super) fn to_f64(self) -> f64 {
        if self.m == 0.0 || self.e == 0.0 || self.m.is_nan() {
            return self.m;
        }
        if self.e.abs() < 700.0 {
            let v = self.m * self.e.exp();
            if v.is_finite() && v != 0.0 {
                return v;
            }
        }
        self.m.signum() * (self.m.abs().ln() + self.e).exp()
    }
}
