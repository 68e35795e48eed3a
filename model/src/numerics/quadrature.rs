//! Composite Gauss-Legendre quadrature for the smooth one-dimensional integrals that have
//! no convenient closed form (Pareto/NBD P(N = n), DERT).

use std::sync::OnceLock;

const ORDER: usize = 16;

/// Nodes and weights of the 16-point rule on [−1, 1], by Newton iteration on P_16.
fn rule() -> &'static ([f64; ORDER], [f64; ORDER]) {
    static RULE: OnceLock<([f64; ORDER], [f64; ORDER])> = OnceLock::new();
    RULE.get_or_init(|| {
        let n = ORDER;
        let (mut nodes, mut weights) = ([0.0; ORDER], [0.0; ORDER]);
        for i in 0..n {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                // Legendre recurrence for P_n(x) and its derivative.
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let kf = k as f64;
                    let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-16 {
                    break;
                }
            }
            nodes[i] = x;
            weights[i] = 2.0 / ((1.0 - x * x) * dp * dp);
        }
        (nodes, weights)
    })
}

/// ∫_a^b f with `panels` equal panels of the 16-point rule.
pub(crate) fn integrate(a: f64, b: f64, panels: usize, f: impl Fn(f64) -> f64) -> f64 {
    let (nodes, weights) = rule();
    let panels = panels.max(1);
    let h = (b - a) / panels as f64;
    let mut total = 0.0;
    for p in 0..panels {
        let mid = a + (p as f64 + 0.5) * h;
        let half = 0.5 * h;
        let mut s = 0.0;
        for (x, w) in nodes.iter().zip(weights) {
            s += w * f(mid + half * x);
        }
        total += s * half;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_known_functions() {
        assert!((integrate(0.0, 1.0, 1, |x| x.powi(31)) - 1.0 / 32.0).abs() < 1e-15);
        assert!((integrate(0.0, std::f64::consts::PI, 4, f64::sin) - 2.0).abs() < 1e-14);
        assert!((integrate(0.0, 30.0, 16, |x| (-x).exp()) - (1.0 - (-30f64).exp())).abs() < 1e-13);
        let w: f64 = rule().1.iter().sum();
        assert!((w - 2.0).abs() < 1e-14);
    }
}
