//! Terminating ₂F₁ (a or b a non-positive integer): a polynomial, summed exactly.

use super::super::gamma::is_nonpos_int;
use super::super::scaled::Scaled;
use super::MAX_POLY_DEGREE;
use super::series::Series;

/// Terminating series (a or b = −N); exactly N terms after the first.
pub(super) fn polynomial(a: f64, b: f64, c: f64, z: f64) -> Scaled {
    let mut deg = f64::INFINITY;
    if is_nonpos_int(a) {
        deg = -a;
    }
    if is_nonpos_int(b) {
        deg = deg.min(-b);
    }
    if deg.is_nan() || deg > MAX_POLY_DEGREE {
        return Scaled::NAN;
    }
    let mut s = Series::new(a, b, c, z);
    s.run(deg as usize);
    if s.failed {
        return Scaled::NAN;
    }
    Scaled::new(s.sum + s.comp, s.e)
}
