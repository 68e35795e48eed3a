//! ln Γ without cancellation: ln Γ for positive arguments by Stirling's series, its sign
//! for negative ones, ψ, and differences `ln Γ(x + h) − ln Γ(x)` computed relative to `h`
//! (never as a difference of two ln Γ), also for double-double arguments.

use std::f64::consts::PI;

use super::double_double::{Dd, two_diff};

pub(super) const LN_PI: f64 = 1.144_729_885_849_400_2;
pub(super) const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// Stirling coefficients B_2k / (2k (2k−1)), k = 1..8.
pub(super) const STIRLING: [f64; 8] = [
    1.0 / 12.0,
    -1.0 / 360.0,
    1.0 / 1260.0,
    -1.0 / 1680.0,
    1.0 / 1188.0,
    -691.0 / 360_360.0,
    1.0 / 156.0,
    -3617.0 / 122_400.0,
];
/// Arguments are shifted up to at least this before Stirling's series is used.
pub(super) const STIRLING_MIN: f64 = 10.0;

pub(super) fn log1p_over(u: f64) -> f64 {
    if u == 0.0 { 1.0 } else { u.ln_1p() / u }
}

pub(super) fn expm1_over(x: f64) -> f64 {
    if x == 0.0 { 1.0 } else { x.exp_m1() / x }
}

pub(super) fn sinc(x: f64) -> f64 {
    if x == 0.0 { 1.0 } else { x.sin() / x }
}

/// Reduces x to r ∈ [−1, 1] with x − r an even integer (exact).
pub(super) fn reduce2(x: f64) -> f64 {
    x - 2.0 * (0.5 * x).round()
}

/// sin(πx), exact at the integers.
pub(super) fn sinpi(x: f64) -> f64 {
    let r = reduce2(x);
    let rr = if r > 0.5 {
        1.0 - r
    } else if r < -0.5 {
        -1.0 - r
    } else {
        r
    };
    (PI * rr).sin()
}

/// cos(πx), exact at the half-integers.
pub(super) fn cospi(x: f64) -> f64 {
    let r = reduce2(x).abs();
    if r <= 0.25 {
        (PI * r).cos()
    } else {
        (PI * (0.5 - r)).sin()
    }
}

pub(super) fn is_nonpos_int(x: f64) -> bool {
    x <= 0.0 && x == x.floor()
}

/// ln Γ(x) for x > 0.
pub(super) fn lgamma_pos(x: f64) -> f64 {
    if x >= STIRLING_MIN {
        stirling(x)
    } else {
        let k = (STIRLING_MIN - x).ceil();
        let mut prod = x;
        let mut i = 1.0;
        while i < k {
            prod *= x + i;
            i += 1.0;
        }
        stirling(x + k) - prod.ln()
    }
}

pub(super) fn stirling(y: f64) -> f64 {
    let r = 1.0 / y;
    let r2 = r * r;
    let mut acc = 0.0;
    for c in STIRLING.iter().rev() {
        acc = acc * r2 + c;
    }
    (y - 0.5) * y.ln() - y + HALF_LN_2PI + acc * r
}

/// (sign of Γ(x), ln |Γ(x)|); (0, +∞) at the poles.
pub(super) fn lgamma_sign(x: f64) -> (f64, f64) {
    if x > 0.0 {
        (1.0, lgamma_pos(x))
    } else if x == x.floor() {
        (0.0, f64::INFINITY)
    } else {
        let s = sinpi(x);
        (s.signum(), LN_PI - s.abs().ln() - lgamma_pos(1.0 - x))
    }
}

/// (ln Γ(x+h) − ln Γ(x)) / h for x > 0, x + h > 0, with the limit ψ(x) at h = 0.
/// Accurate relative to h·ψ for small h (it never subtracts two ln Γ values).
pub(super) fn lgr_pos(x: f64, h: f64) -> f64 {
    let lo = x.min(x + h);
    // shift by k so that min(y, y+h) ≥ STIRLING_MIN; Π_{i<k} (1 + h/(x+i)) = 1 + h·q
    let k = if lo < STIRLING_MIN {
        (STIRLING_MIN - lo).ceil()
    } else {
        0.0
    };
    let y = x + k;
    let mut q = 0.0;
    let mut prod = 1.0;
    let mut i = 0.0;
    while i < k {
        let inv = 1.0 / (x + i);
        q += prod * inv;
        prod *= 1.0 + h * inv;
        i += 1.0;
    }
    // ln Π(1 + h/(x+i)) / h: one log1p when the product is near 1 (small h), else a sum of
    // logs (the product may be tiny or huge and 1 + h·q would lose it).
    let hq = h * q;
    let shift = if hq.abs() < 0.5 {
        q * log1p_over(hq)
    } else {
        let mut acc = 0.0;
        let mut i = 0.0;
        while i < k {
            acc += (h / (x + i)).ln_1p();
            i += 1.0;
        }
        acc / h
    };
    // Stirling: [(y+h−½)ln(y+h) − (y−½)ln y − h]/h + Σ c_k ((y+h)^(1−2k) − y^(1−2k))/h
    let main = (y - 0.5) / y * log1p_over(h / y) + (y + h).ln() - 1.0;
    let s = 1.0 / y;
    let t = 1.0 / (y + h);
    let st = s + t;
    let (s2, t2) = (s * s, t * t);
    let mut g = 1.0; // Σ_{i<p} t^i s^(p−1−i), p = 1, 3, 5, ...
    let mut sp = s;
    let mut acc = STIRLING[0];
    for c in STIRLING.iter().skip(1) {
        g = t2 * g + sp * st;
        sp *= s2;
        acc += c * g;
    }
    main - s * t * acc - shift
}

/// Γ(x+h)/Γ(x) = sign · exp(h · lam): returns (sign, lam). Neither x nor x+h may be a pole.
pub(super) fn lgamma_lam(x: f64, h: f64) -> (f64, f64) {
    let y = x + h;
    if x > 0.0 && y > 0.0 {
        return (1.0, lgr_pos(x, h));
    }
    if is_nonpos_int(x) || is_nonpos_int(y) {
        return (f64::NAN, f64::NAN);
    }
    if x < 0.0 && y < 0.0 {
        // Γ(x+h)/Γ(x) = [sin πx / sin π(x+h)] · Γ(1−x)/Γ(1−x−h)
        let base = lgr_pos(1.0 - y, h);
        let cot = cospi(x) / sinpi(x);
        // u = sin π(x+h) / sin πx − 1 = cot(πx) sin(πh) − 2 sin²(πh/2);  uh = u/h
        let uh = PI * (cot * sinc(PI * h) - (0.5 * PI * h).sin() * sinc(0.5 * PI * h));
        let u = h * uh;
        if 1.0 + u > 0.0 {
            (1.0, base - uh * log1p_over(u))
        } else {
            (-1.0, base - (-(1.0 + u)).ln() / h)
        }
    } else {
        // opposite signs: h is not small compared with the distance to the pole in between
        let (s1, l1) = lgamma_sign(y);
        let (s0, l0) = lgamma_sign(x);
        (s1 * s0, (l1 - l0) / h)
    }
}

/// ψ(x) (not at the poles).
pub(super) fn psi(x: f64) -> f64 {
    lgamma_lam(x, 0.0).1
}

/// (sign of Γ, ln |Γ|) at hi + lo, to first order in lo.
pub(super) fn lgamma_sign_dd(x: Dd) -> (f64, f64) {
    let (s, l) = lgamma_sign(x.hi);
    if x.lo == 0.0 || s == 0.0 {
        (s, l)
    } else {
        (s, l + x.lo * psi(x.hi))
    }
}

pub(super) fn is_pole(x: Dd) -> bool {
    x.lo == 0.0 && is_nonpos_int(x.hi)
}

/// (sign, ln |Γ(n) / Γ(d)|) formed as one log-gamma difference (accurate even when both
/// ln Γ are large), to first order in the low parts. Sign 0 if d is a pole.
pub(super) fn ln_gamma_ratio(n: Dd, d: Dd) -> (f64, f64) {
    if is_pole(d) {
        return (0.0, f64::NEG_INFINITY);
    }
    if is_pole(n) {
        return (f64::NAN, f64::NAN);
    }
    let h = two_diff(n.hi, d.hi);
    let (s, lam) = lgamma_lam(d.hi, h.hi);
    let mut l = if h.hi == 0.0 { 0.0 } else { h.hi * lam };
    let dn = h.lo + n.lo;
    if dn != 0.0 {
        l += dn * psi(n.hi);
    }
    if d.lo != 0.0 {
        l -= d.lo * psi(d.hi);
    }
    (s, l)
}

/// (sign, ln |Γ(c) / (Γ(p) Γ(q))|): Γ(c) is paired with the closer of p, q.
pub(super) fn ln_gamma_quot(c: f64, p: Dd, q: Dd) -> (f64, f64) {
    if is_pole(p) || is_pole(q) {
        return (0.0, f64::NEG_INFINITY);
    }
    let cd = Dd::exact(c);
    let (near, far) = if (c - p.hi).abs() <= (c - q.hi).abs() {
        (p, q)
    } else {
        (q, p)
    };
    let (s1, l1) = ln_gamma_ratio(cd, near);
    let (s2, l2) = lgamma_sign_dd(far);
    (s1 * s2, l1 - l2)
}

/// (sign, ln |Γ(c) Γ(m) / (Γ(p) Γ(q))|), numerator and denominator paired so that the
/// arguments of each ratio are close.
pub(super) fn ln_gamma_quot4(c: f64, m: Dd, p: Dd, q: Dd) -> (f64, f64) {
    if is_pole(p) || is_pole(q) {
        return (0.0, f64::NEG_INFINITY);
    }
    let cd = Dd::exact(c);
    let straight = (c - p.hi).abs() + (m.hi - q.hi).abs();
    let crossed = (c - q.hi).abs() + (m.hi - p.hi).abs();
    let (p1, q1) = if straight <= crossed { (p, q) } else { (q, p) };
    let (s1, l1) = ln_gamma_ratio(cd, p1);
    let (s2, l2) = ln_gamma_ratio(m, q1);
    (s1 * s2, l1 + l2)
}
