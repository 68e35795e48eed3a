//! ₂F₁ near z = 1: the 1−z connection formula (A&S 15.3.6) in a form uniform in
//! m = c − a − b, integer or not (see the method in the parent module).

use std::f64::consts::PI;

use super::super::double_double::Dd;
use super::super::gamma::{
    expm1_over, lgamma_lam, lgamma_pos, ln_gamma_quot, ln_gamma_quot4, sinc,
};
use super::super::scaled::Scaled;
use super::series::ratio_bound;
use super::{BIG, HARD_CAP, MAX_CONN_FINITE, RESCALE, RESCALE_LN, TOL};

/// The 1−z connection formula (A&S 15.3.6) in a form uniform in m = c−a−b (see module
/// docs). Returns the value and its cancellation factor Σ|contributions| / |value|, or None
/// if it cannot be evaluated (a series did not converge, or round(m) is too large).
pub(super) fn connection(a0: Dd, b0: Dd, c: f64, wd: Dd) -> Option<(Scaled, f64)> {
    let cd = Dd::exact(c);
    let m0 = cd.sub(a0).sub(b0);
    // Work with m ≥ 0 (Euler transformation otherwise); keep the exact relations
    // c − a, c − b for the gamma prefactors.
    let (a, b, ca, cb, m, pre) = if m0.hi < 0.0 {
        (cd.sub(a0), cd.sub(b0), a0, b0, m0.neg(), wd.pow(m0))
    } else {
        (a0, b0, cd.sub(a0), cd.sub(b0), m0, Scaled::ONE)
    };
    let nf = m.hi.round();
    if nf.is_nan() || nf > MAX_CONN_FINITE {
        return None;
    }
    let eps = (m.hi - nf) + m.lo;
    let w = wd.hi;
    let lnw = wd.ln();
    let mm = m.hi;

    // Finite part: Γ(c)Γ(m)/(Γ(c−a)Γ(c−b)) Σ_{k<n} (a)_k (b)_k / ((1−m)_k k!) w^k
    let mut fin = Scaled::ZERO;
    let mut fin_abs = Scaled::ZERO;
    if nf >= 1.0 {
        let (sq, lq) = ln_gamma_quot4(c, m, ca, cb);
        let pref = Scaled::from_log(sq, lq);
        let (mut t, mut s, mut sabs, mut e) = (1.0f64, 1.0f64, 1.0f64, 0.0f64);
        let mut k = 0.0;
        while k < nf - 1.0 {
            t *= (a.hi + k) * (b.hi + k) * w / ((1.0 - mm + k) * (k + 1.0));
            s += t;
            sabs += t.abs();
            if sabs > BIG {
                t *= RESCALE;
                s *= RESCALE;
                sabs *= RESCALE;
                e += RESCALE_LN;
            }
            k += 1.0;
        }
        fin = pref.mul(Scaled::new(s, e));
        fin_abs = pref.abs().mul(Scaled::new(sabs, e));
    }

    // Infinite part: (−1)^n Γ(c)/(Γ(a)Γ(b)) · πε/sin(πε) · Σ_j v_j δ_j, with
    // v_j = w^(n+j) Γ(a+n+j)Γ(b+n+j) / ((n+j)! j! Γ(a+n+ε)Γ(b+n+ε)),
    // δ_j = [j!/Γ(1+j−ε) − w^ε Γ(a+n+j+ε)Γ(b+n+j+ε)(n+j)!/(Γ(a+n+j)Γ(b+n+j)Γ(1+n+j+ε))]/ε.
    let (sp, lp) = ln_gamma_quot(c, a, b);
    let sign_n = if (nf * 0.5).fract() == 0.0 { 1.0 } else { -1.0 };
    let pref_inf = Scaled::from_log(sign_n * sp, lp - sinc(PI * eps).ln());
    let (ap, bp, np1) = (a.hi + nf, b.hi + nf, 1.0 + nf);
    let (s_a, la) = lgamma_lam(ap, eps);
    let (s_b, lb) = lgamma_lam(bp, eps);
    let (_, ln1) = lgamma_lam(np1, eps);
    let (_, l1) = lgamma_lam(1.0, -eps);
    let lam2 = lnw + la + lb - ln1;
    if !(lam2.is_finite() && l1.is_finite() && s_a.is_finite() && s_b.is_finite()) {
        return None;
    }
    let s2 = s_a * s_b;
    let mut r1 = (eps * l1).exp();
    let mut r2 = s2 * (eps * lam2).exp();
    let mut dt = if s2 > 0.0 {
        let d = lam2 - l1;
        -r1 * d * expm1_over(eps * d)
    } else {
        (r1 - r2) / eps
    };
    let v0 = Scaled::from_log(s2, nf * lnw - lgamma_pos(np1) - eps * (la + lb));

    let j_min = (0.0f64).max(-ap).max(-bp).floor() + 1.0;
    let (mut vt, mut e_inf) = (1.0f64, 0.0f64);
    let mut s = dt;
    let mut comp = 0.0;
    let mut sabs = dt.abs();
    let mut j = 0.0;
    let mut converged = false;
    for _ in 0..HARD_CAP {
        let big_a = ap + j;
        let big_b = bp + j;
        let big_n = np1 + j;
        let den = 1.0 + j - eps;
        let ab = big_a * big_b;
        let d2 = ab * (big_n + eps);
        let d3 = big_n * (j + 1.0);
        // one division for 1/den, 1/d2, 1/d3
        let inv = 1.0 / (den * d2 * d3);
        let inv_den = d2 * d3 * inv;
        let inv_d2 = den * d3 * inv;
        let dpq = inv_den - ((big_a + big_b + eps) * big_n - ab) * inv_d2;
        let p = (1.0 + j) * inv_den;
        dt = dt * p + r2 * dpq;
        r1 *= p;
        r2 *= (big_a + eps) * (big_b + eps) * big_n * inv_d2;
        vt *= ab * w * (den * d2 * inv);
        j += 1.0;
        let t = vt * dt;
        let ns = s + t;
        if s.abs() >= t.abs() {
            comp += (s - ns) + t;
        } else {
            comp += (t - ns) + s;
        }
        s = ns;
        sabs += t.abs();
        if !(sabs.is_finite() && s.is_finite()) {
            return None;
        }
        if sabs > BIG || vt.abs() > BIG {
            vt *= RESCALE;
            s *= RESCALE;
            comp *= RESCALE;
            sabs *= RESCALE;
            e_inf += RESCALE_LN;
        }
        if j >= j_min {
            let scale = 2.0 * (dt.abs() + r1.abs() + r2.abs());
            let at = vt.abs() * scale;
            let st = (s + comp).abs();
            if at <= TOL * st {
                let rho = ratio_bound(ap, bp, np1, j, w);
                if rho < 1.0 && at * rho <= TOL * (1.0 - rho) * st {
                    converged = true;
                    break;
                }
            }
        }
    }
    if !converged {
        return None;
    }
    let inf = pref_inf.mul(v0).mul(Scaled::new(s + comp, e_inf));
    let inf_abs = pref_inf.abs().mul(v0.abs()).mul(Scaled::new(sabs, e_inf));
    let total = fin.add(inf);
    let total_abs = fin_abs.add(inf_abs);
    if total.m == 0.0 || total.m.is_nan() {
        return None;
    }
    let kappa = (total_abs.ln_abs() - total.ln_abs()).exp();
    Some((pre.mul(total), kappa))
}
