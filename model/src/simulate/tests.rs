//! The simulator against its models: moments, summaries equal to the transaction
//! stream, independence from the thread count, refusals naming the field.

use super::*;
use crate::models::params::ParetoNbdParams;
use rand::RngCore;

fn bg() -> BetaGeoParams {
    BetaGeoParams {
        r: 0.24,
        alpha: 4.4,
        a: 0.79,
        b: 2.43,
    }
}
fn pareto() -> ParetoNbdParams {
    ParetoNbdParams {
        r: 0.55,
        alpha: 10.58,
        s: 0.61,
        beta: 11.67,
    }
}
fn gg() -> GammaGammaParams {
    GammaGammaParams {
        p: 6.0,
        q: 4.0,
        v: 15.0,
    }
}

fn spec(process: TransactionModel, customers: usize, seed: u64) -> SimulationSpec {
    SimulationSpec {
        customers,
        seed,
        process,
        spend: Some(gg()),
        calibration_length: 39.0,
        birth_window: 12.0,
        holdout_length: 39.0,
    }
}

fn all_processes() -> [TransactionModel; 3] {
    [
        TransactionModel::bg_nbd(bg()),
        TransactionModel::mbg_nbd(bg()),
        TransactionModel::pareto_nbd(pareto()),
    ]
}

/// Bitwise equality (NaN-safe) of latent draws.
fn latent_bits(l: &[LatentCustomer]) -> Vec<(u64, u64, u64, u64, bool)> {
    l.iter()
        .map(|c| {
            (
                c.birth.to_bits(),
                c.lambda.to_bits(),
                c.dropout.to_bits(),
                c.nu.to_bits(),
                c.alive_at_calibration_end,
            )
        })
        .collect()
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

fn assert_close(what: &str, sample: &[f64], expected: f64) {
    let (m, sd) = mean_sd(sample);
    let se = sd / (sample.len() as f64).sqrt();
    let z = (m - expected) / se;
    eprintln!("{what}: sample {m:.6} expected {expected:.6} se {se:.2e} z {z:.2}");
    assert!(
        z.abs() < 4.0,
        "{what}: sample mean {m} vs expected {expected} (se {se}, z {z})"
    );
}

/// Gauss 2F1(a, b; c; z) by its power series, |z| < 1.
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..100_000 {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum
}

fn bg_expected_x(p: BetaGeoParams, t: f64) -> f64 {
    let BetaGeoParams { r, alpha, a, b } = p;
    (a + b - 1.0) / (a - 1.0)
        * (1.0 - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)))
}

fn pareto_expected_x(p: ParetoNbdParams, t: f64) -> f64 {
    let ParetoNbdParams { r, alpha, s, beta } = p;
    r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)).powf(s - 1.0))
}

#[test]
fn deterministic_and_thread_independent() {
    for process in all_processes() {
        let s = spec(process, 20_000, 7);
        let a = simulate_summaries(&s).unwrap();
        let b = simulate_summaries(&s).unwrap();
        assert_eq!(a.table, b.table);
        assert_eq!(latent_bits(&a.latent), latent_bits(&b.latent));

        let seq = summaries_impl(&s, false).unwrap();
        assert_eq!(a.table, seq.table);
        assert_eq!(latent_bits(&a.latent), latent_bits(&seq.latent));

        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let one = pool.install(|| simulate_summaries(&s)).unwrap();
        assert_eq!(a.table, one.table);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let three = pool.install(|| simulate_summaries(&s)).unwrap();
        assert_eq!(a.table, three.table);

        let other = simulate_summaries(&SimulationSpec {
            seed: 8,
            ..s.clone()
        })
        .unwrap();
        assert_ne!(a.table.rfm, other.table.rfm);
        assert_ne!(latent_bits(&a.latent), latent_bits(&other.latent));
    }
}

#[test]
fn seeds_and_indices_do_not_alias() {
    let mut a = SimRng::new(1, 0);
    let mut b = SimRng::new(0, 1);
    assert_ne!(a.next_u64(), b.next_u64());
}

#[test]
fn summaries_match_transaction_stream() {
    for process in all_processes() {
        for spend in [Some(gg()), None] {
            let s = SimulationSpec {
                spend,
                ..spec(process.clone(), 400, 11)
            };
            let sim = simulate_summaries(&s).unwrap();
            let n = s.customers;
            let cal = s.calibration_length;
            let mut tx = Vec::new();
            let latent = simulate_transactions(&s, |t| tx.push(t)).unwrap();
            assert_eq!(latent_bits(&latent), latent_bits(&sim.latent));

            // Tiny independent aggregation of the stream.
            let mut first = vec![f64::NAN; n];
            let mut last = vec![f64::NAN; n];
            let mut x = vec![0u32; n];
            let mut spend_sum = vec![0.0; n];
            let mut hx = vec![0u32; n];
            let mut hs = vec![0.0; n];
            let mut prev: Option<SimulatedTransaction> = None;
            for t in &tx {
                let c = t.customer as usize;
                if let Some(p) = prev {
                    assert!(
                        p.customer < t.customer || (p.customer == t.customer && p.time < t.time)
                    );
                }
                prev = Some(*t);
                assert!(t.time <= cal + s.holdout_length);
                assert_eq!(t.amount.is_nan(), spend.is_none());
                if first[c].is_nan() {
                    first[c] = t.time;
                    last[c] = t.time;
                } else if t.time <= cal {
                    x[c] += 1;
                    last[c] = t.time;
                    spend_sum[c] += t.amount;
                } else {
                    hx[c] += 1;
                    hs[c] += t.amount;
                }
            }
            let h = sim.table.holdout.as_ref().unwrap();
            assert_eq!(sim.table.ids.len(), n);
            for c in 0..n {
                assert_eq!(sim.table.ids[c], c.to_string());
                assert_eq!(first[c], latent[c].birth);
                let r = sim.table.rfm[c];
                assert_eq!(r.frequency, x[c]);
                assert_eq!(r.recency, last[c] - first[c]);
                assert_eq!(r.age, cal - first[c]);
                let m = if x[c] > 0 && spend.is_some() {
                    spend_sum[c] / x[c] as f64
                } else {
                    0.0
                };
                assert_eq!(sim.table.monetary_value[c], m);
                assert_eq!(h.frequency[c], hx[c]);
                assert_eq!(h.spend[c], if spend.is_some() { hs[c] } else { 0.0 });
            }
        }
    }
}

#[test]
fn invariants() {
    for process in all_processes() {
        let s = spec(process, 50_000, 3);
        let sim = simulate_summaries(&s).unwrap();
        let h = sim.table.holdout.as_ref().unwrap();
        assert_eq!(h.duration, 39.0);
        for (i, r) in sim.table.rfm.iter().enumerate() {
            r.validate().unwrap();
            assert!(r.recency <= r.age);
            assert!(r.age > 39.0 - 12.0 && r.age <= 39.0);
            if r.frequency == 0 {
                assert_eq!(r.recency, 0.0);
            }
            assert_eq!(sim.table.monetary_value[i] == 0.0, r.frequency == 0);
            assert_eq!(h.spend[i] == 0.0, h.frequency[i] == 0);
            let l = sim.latent[i];
            assert!(l.nu > 0.0 && l.lambda >= 0.0);
            // Not alive at calibration end => no holdout purchases.
            if !l.alive_at_calibration_end {
                assert_eq!(h.frequency[i], 0);
            }
        }
    }
    // No holdout => no holdout columns; no spend => zeros and NaN nu.
    let s = SimulationSpec {
        holdout_length: 0.0,
        spend: None,
        ..spec(TransactionModel::bg_nbd(bg()), 100, 1)
    };
    let sim = simulate_summaries(&s).unwrap();
    assert!(sim.table.holdout.is_none());
    assert!(sim.table.monetary_value.iter().all(|&m| m == 0.0));
    assert!(sim.latent.iter().all(|l| l.nu.is_nan()));
    // birth_window 0 => all born at 0.
    let s = SimulationSpec {
        birth_window: 0.0,
        ..s
    };
    let sim = simulate_summaries(&s).unwrap();
    assert!(sim.latent.iter().all(|l| l.birth == 0.0));
    assert!(sim.table.rfm.iter().all(|r| r.age == 39.0));
}

#[test]
fn bad_specs_are_rejected() {
    let base = spec(TransactionModel::bg_nbd(bg()), 10, 1);
    let field = |s: SimulationSpec| match simulate_summaries(&s) {
        Err(ModelError::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(
        field(SimulationSpec {
            customers: 0,
            ..base.clone()
        }),
        "customers"
    );
    assert_eq!(
        field(SimulationSpec {
            calibration_length: 0.0,
            ..base.clone()
        }),
        "calibration_length"
    );
    assert_eq!(
        field(SimulationSpec {
            calibration_length: f64::INFINITY,
            ..base.clone()
        }),
        "calibration_length"
    );
    assert_eq!(
        field(SimulationSpec {
            calibration_length: f64::NAN,
            ..base.clone()
        }),
        "calibration_length"
    );
    assert_eq!(
        field(SimulationSpec {
            birth_window: -1.0,
            ..base.clone()
        }),
        "birth_window"
    );
    assert_eq!(
        field(SimulationSpec {
            birth_window: 40.0,
            ..base.clone()
        }),
        "birth_window"
    );
    assert_eq!(
        field(SimulationSpec {
            birth_window: f64::NAN,
            ..base.clone()
        }),
        "birth_window"
    );
    assert_eq!(
        field(SimulationSpec {
            holdout_length: -1.0,
            ..base.clone()
        }),
        "holdout_length"
    );
    assert_eq!(
        field(SimulationSpec {
            holdout_length: f64::INFINITY,
            ..base.clone()
        }),
        "holdout_length"
    );
    // A process with parameters out of their domain cannot be built at all: the
    // TransactionModel checks them, naming the parameter.
    let named = |name: &str, a: f64| {
        let m = TransactionModel::from_named(
            name,
            &[("r", 0.24), ("alpha", 4.4), ("a", a), ("b", 2.43)],
        );
        match m {
            Err(ModelError::InvalidInput { field, .. }) => field,
            other => panic!("expected an invalid-input error, got {other:?}"),
        }
    };
    assert_eq!(named("mbgnbd", 0.0), "a");
    assert_eq!(named("bgnbd", f64::NAN), "a");
    let bad_g = GammaGammaParams { v: -1.0, ..gg() };
    assert_eq!(
        field(SimulationSpec {
            spend: Some(bad_g),
            ..base.clone()
        }),
        "spend.v"
    );
    assert!(
        simulate_transactions(
            &SimulationSpec {
                customers: 0,
                ..base
            },
            |_| {}
        )
        .is_err()
    );
}

#[test]
fn runaway_rates_fail_instead_of_hanging() {
    let s = SimulationSpec {
        process: TransactionModel::pareto_nbd(ParetoNbdParams {
            r: 1.0,
            alpha: 1e-300,
            s: 1.0,
            beta: 1.0,
        }),
        ..spec(TransactionModel::bg_nbd(bg()), 1, 1)
    };
    assert!(matches!(
        simulate_summaries(&s),
        Err(ModelError::Numerical { .. })
    ));
}

const N: usize = 200_000;

#[test]
fn bg_nbd_moments() {
    let p = bg();
    let s = SimulationSpec {
        birth_window: 0.0,
        ..spec(TransactionModel::bg_nbd(p), N, 2024)
    };
    let sim = simulate_summaries(&s).unwrap();
    let x: Vec<f64> = sim.table.rfm.iter().map(|r| r.frequency as f64).collect();
    assert_close("BG/NBD E[X(39)]", &x, bg_expected_x(p, 39.0));
    let h = sim.table.holdout.as_ref().unwrap();
    let hx: Vec<f64> = h.frequency.iter().map(|&f| f as f64).collect();
    assert_close(
        "BG/NBD E[X(39,78)]",
        &hx,
        bg_expected_x(p, 78.0) - bg_expected_x(p, 39.0),
    );
    // Gamma-Gamma: mean of per-customer average repeat spend (ν ⟂ x) is p v / (q − 1).
    let g = gg();
    let m: Vec<f64> = sim
        .table
        .monetary_value
        .iter()
        .zip(&sim.table.rfm)
        .filter(|(_, r)| r.frequency > 0)
        .map(|(m, _)| *m)
        .collect();
    assert!(m.len() > 10_000);
    assert_close("Gamma-Gamma mean spend", &m, g.p * g.v / (g.q - 1.0));
    let nu: Vec<f64> = sim.latent.iter().map(|l| l.nu).collect();
    assert_close("E[nu]", &nu, g.q / g.v);
    let lam: Vec<f64> = sim.latent.iter().map(|l| l.lambda).collect();
    assert_close("E[lambda]", &lam, p.r / p.alpha);
    let pp: Vec<f64> = sim.latent.iter().map(|l| l.dropout).collect();
    assert_close("E[p]", &pp, p.a / (p.a + p.b));
}

#[test]
fn bg_nbd_moments_small_z() {
    // α chosen so z = t/(α+t) = 0.5: the series converges fast.
    let p = BetaGeoParams {
        r: 0.8,
        alpha: 20.0,
        a: 1.5,
        b: 3.0,
    };
    let s = SimulationSpec {
        birth_window: 0.0,
        calibration_length: 20.0,
        holdout_length: 0.0,
        spend: None,
        ..spec(TransactionModel::bg_nbd(p), N, 99)
    };
    let sim = simulate_summaries(&s).unwrap();
    let x: Vec<f64> = sim.table.rfm.iter().map(|r| r.frequency as f64).collect();
    assert_close("BG/NBD E[X(20)] z=0.5", &x, bg_expected_x(p, 20.0));
}

#[test]
fn pareto_nbd_moments() {
    let p = pareto();
    let s = SimulationSpec {
        birth_window: 0.0,
        spend: None,
        ..spec(TransactionModel::pareto_nbd(p), N, 5)
    };
    let sim = simulate_summaries(&s).unwrap();
    let x: Vec<f64> = sim.table.rfm.iter().map(|r| r.frequency as f64).collect();
    assert_close("Pareto E[X(39)]", &x, pareto_expected_x(p, 39.0));
    let h = sim.table.holdout.as_ref().unwrap();
    let hx: Vec<f64> = h.frequency.iter().map(|&f| f as f64).collect();
    assert_close(
        "Pareto E[X(39,78)]",
        &hx,
        pareto_expected_x(p, 78.0) - pareto_expected_x(p, 39.0),
    );
    let alive: Vec<f64> = sim
        .latent
        .iter()
        .map(|l| if l.alive_at_calibration_end { 1.0 } else { 0.0 })
        .collect();
    assert_close(
        "Pareto P(alive at 39)",
        &alive,
        (p.beta / (p.beta + 39.0)).powf(p.s),
    );
}

#[test]
fn mbg_nbd_dropout_at_first_purchase() {
    let p = bg();
    let s = SimulationSpec {
        birth_window: 0.0,
        spend: None,
        ..spec(TransactionModel::mbg_nbd(p), N, 6)
    };
    let sim = simulate_summaries(&s).unwrap();
    let d: Vec<f64> = sim
        .table
        .rfm
        .iter()
        .zip(&sim.latent)
        .map(|(r, l)| {
            if r.frequency == 0 && !l.alive_at_calibration_end {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    assert_close("MBG P(dropped at first purchase)", &d, p.a / (p.a + p.b));
    // BG/NBD never drops at the first purchase.
    let s = SimulationSpec {
        process: TransactionModel::bg_nbd(p),
        ..s
    };
    let sim = simulate_summaries(&s).unwrap();
    assert!(
        sim.table
            .rfm
            .iter()
            .zip(&sim.latent)
            .all(|(r, l)| r.frequency > 0 || l.alive_at_calibration_end)
    );
}
