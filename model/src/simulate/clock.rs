//! Customers whose activity depends on the calendar: the whole latent process runs on a
//! clock that goes `m(t)` times as fast at calendar time `t` (a December peak, a step up
//! after some date), which none of the fitted families can express. The diagnosis of
//! seasonal holdout error is tested against it.
//!
//! A process in operational time `τ = Λ(t) = ∫₀ᵗ m(s) ds` with rate λ is, in calendar
//! time, a process with rate `λ·m(t)`. For BG/NBD and MBG/NBD, whose dropout happens at
//! purchases, that is exactly "every rate × m(t)"; for Pareto/NBD the exponential lifetime
//! runs on the same clock (a customer's lifetime passes faster in busy periods). Births run
//! on it too.

use super::{LatentCustomer, SimulatedTransaction, SimulationSpec, simulate_transactions};
use crate::error::{ModelError, Result};

/// A piecewise-constant multiplier of calendar time: `m(t)` = the multiplier of the last
/// piece starting at or before `t`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarClock {
    /// (start, multiplier), starts ascending from 0; with `operational`, Λ at each start.
    pieces: Vec<(f64, f64, f64)>,
}

impl CalendarClock {
    /// `pieces`: (start time, multiplier), the first starting at 0, starts strictly
    /// ascending, multipliers finite and > 0.
    pub fn new(pieces: &[(f64, f64)]) -> Result<Self> {
        if pieces.first().map(|p| p.0) != Some(0.0) {
            return Err(ModelError::invalid(
                "pieces",
                "the first piece must start at 0",
            ));
        }
        let mut out: Vec<(f64, f64, f64)> = Vec::with_capacity(pieces.len());
        for (i, &(start, m)) in pieces.iter().enumerate() {
            if !(m.is_finite() && m > 0.0) {
                return Err(ModelError::invalid(
                    format!("pieces[{i}].multiplier"),
                    format!("must be finite and > 0, got {m}"),
                ));
            }
            let operational = match out.last() {
                None => 0.0,
                Some(&(s, pm, op)) if start.is_finite() && start > s => op + pm * (start - s),
                Some(_) => {
                    return Err(ModelError::invalid(
                        format!("pieces[{i}].start"),
                        format!("must be finite and after the previous start, got {start}"),
                    ));
                }
            };
            out.push((start, m, operational));
        }
        Ok(CalendarClock { pieces: out })
    }

    /// The steady clock (m = 1): calendar and operational time agree.
    pub fn steady() -> Self {
        CalendarClock {
            pieces: vec![(0.0, 1.0, 0.0)],
        }
    }

    /// `m(t)`.
    pub fn multiplier(&self, t: f64) -> f64 {
        self.piece_at(|p| p.0 <= t).1
    }

    /// Λ(t), for t ≥ 0.
    pub fn operational(&self, t: f64) -> f64 {
        let (start, m, op) = self.piece_at(|p| p.0 <= t);
        op + m * (t - start)
    }

    /// Λ⁻¹(τ), for τ ≥ 0.
    pub fn calendar(&self, tau: f64) -> f64 {
        let (start, m, op) = self.piece_at(|p| p.2 <= tau);
        start + (tau - op) / m
    }

    /// The last piece satisfying `before` (which holds for a prefix of the pieces).
    fn piece_at(&self, before: impl Fn(&(f64, f64, f64)) -> bool) -> (f64, f64, f64) {
        let i = self.pieces.partition_point(before).max(1) - 1;
        self.pieces[i]
    }
}

/// [`simulate_transactions`] on `clock`: `spec`'s lengths (calibration, birth window,
/// holdout) are calendar times, and so are the transactions' times.
pub fn simulate_transactions_on_clock(
    spec: &SimulationSpec,
    clock: &CalendarClock,
    mut sink: impl FnMut(SimulatedTransaction),
) -> Result<Vec<LatentCustomer>> {
    let calibration_length = clock.operational(spec.calibration_length);
    let end = clock.operational(spec.calibration_length + spec.holdout_length);
    let operational = SimulationSpec {
        calibration_length,
        birth_window: clock.operational(spec.birth_window).min(calibration_length),
        holdout_length: (end - calibration_length).max(0.0),
        ..spec.clone()
    };
    let mut latent = simulate_transactions(&operational, |t| {
        sink(SimulatedTransaction {
            time: clock.calendar(t.time),
            ..t
        })
    })?;
    for l in &mut latent {
        l.birth = clock.calendar(l.birth);
    }
    Ok(latent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BetaGeoParams;
    use crate::models::TransactionModel;

    #[test]
    fn the_clock_and_its_inverse_agree() {
        let clock = CalendarClock::new(&[(0.0, 1.0), (10.0, 3.0), (12.0, 0.5)]).unwrap();
        assert_eq!(clock.operational(5.0), 5.0);
        assert_eq!(clock.operational(11.0), 13.0);
        assert_eq!(clock.operational(14.0), 17.0);
        for t in [0.0, 3.0, 10.0, 11.5, 12.0, 20.0] {
            assert!(
                (clock.calendar(clock.operational(t)) - t).abs() < 1e-12,
                "{t}"
            );
        }
        assert_eq!(clock.multiplier(11.0), 3.0);
        assert!(CalendarClock::new(&[(1.0, 1.0)]).is_err());
        assert!(CalendarClock::new(&[(0.0, 1.0), (0.0, 2.0)]).is_err());
        assert!(CalendarClock::new(&[(0.0, 0.0)]).is_err());
    }

    #[test]
    fn a_peak_multiplies_the_purchases_in_it() {
        // Customers who never leave (p ≈ 0), 20 units, the clock 3× as fast in [12, 16).
        let spec = SimulationSpec {
            customers: 3000,
            seed: 11,
            process: TransactionModel::bg_nbd(BetaGeoParams::new(2.0, 4.0, 1e-4, 10.0).unwrap()),
            spend: None,
            calibration_length: 10.0,
            birth_window: 0.0,
            holdout_length: 10.0,
        };
        let clock = CalendarClock::new(&[(0.0, 1.0), (12.0, 3.0), (16.0, 1.0)]).unwrap();
        let (mut peak, mut rest) = (0u64, 0u64);
        simulate_transactions_on_clock(&spec, &clock, |t| {
            assert!(t.time <= 20.0 + 1e-9);
            if t.time > 10.0 {
                if (12.0..16.0).contains(&t.time) {
                    peak += 1;
                } else {
                    rest += 1;
                }
            }
        })
        .unwrap();
        // Per unit of time: 3 times as many in the 4 peak units as in the 6 others.
        let ratio = (peak as f64 / 4.0) / (rest as f64 / 6.0);
        assert!((ratio - 3.0).abs() < 0.2, "{ratio}");
        // The steady clock is the plain simulation.
        // (Amounts are NaN without a spend model: compare customers and times.)
        let mut plain = Vec::new();
        simulate_transactions(&spec, |t| plain.push((t.customer, t.time))).unwrap();
        let mut steady = Vec::new();
        simulate_transactions_on_clock(&spec, &CalendarClock::steady(), |t| {
            steady.push((t.customer, t.time))
        })
        .unwrap();
        assert!(plain == steady, "the steady clock changed the simulation");
    }
}
