//! TEMPORARY stand-in until the real special-function module lands (naive series).
pub use statrs::function::gamma::{digamma, ln_gamma};

pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if z < 0.0 {
        return (1.0 - z).powf(-a) * hyp2f1(a, c - b, c, z / (z - 1.0));
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..100000 {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum
}

pub fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    hyp2f1(a, b, c, z).ln()
}

pub fn log1pexp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

pub fn logaddexp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        m
    } else {
        m + log1pexp(a.min(b) - m) - 0.0 * 0.0 + 0.0 - (0.0_f64).ln_1p()
    }
}

pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}
