//! Segments, tiers, concentration and recommendations on CDNOW and on simulated customers
//! whose future is known.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use custval_model::decide::recommend::{self, Action, ActionOption, CustomerView, Economics};
use custval_model::decide::segments::{self, Feature, SegmentOptions, Tier};
use custval_model::simulate::{SimulationSpec, simulate_summaries};
use custval_model::*;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

fn cdnow() -> (Vec<Rfm>, Vec<f64>, Scores, ClvSpec) {
    let rows = common::cdnow_summary();
    let rfm: Vec<Rfm> = rows.iter().map(|r| r.1).collect();
    let monetary: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let model = CustomerModel {
        unit: TimeUnit::Week,
        transaction: TransactionModel::bg_nbd(
            BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap(),
        ),
        spend: Some(GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()),
    };
    let spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
    let scores = model.score(&rfm, &monetary, TimeUnit::Week, &spec).unwrap();
    (rfm, monetary, scores, spec)
}

#[test]
fn segments_are_deterministic_for_a_seed() {
    let (rfm, m, s, spec) = cdnow();
    let opts = SegmentOptions {
        k: 5,
        ..Default::default()
    };
    let a = segments::segment(
        &rfm,
        &m,
        &s,
        UnitConversion::identity(TimeUnit::Week),
        spec,
        &opts,
    )
    .unwrap();
    let b = segments::segment(
        &rfm,
        &m,
        &s,
        UnitConversion::identity(TimeUnit::Week),
        spec,
        &opts,
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.model.centroids.len(), 5);
    // Later customers fall into the segment they were fitted in.
    let placed = a
        .model
        .assign(&rfm, &m, &s, UnitConversion::identity(TimeUnit::Week))
        .unwrap();
    assert_eq!(placed.labels, a.labels);
    assert_eq!(placed.tiers, a.tiers);
    assert_eq!(placed.rfm_scores, a.rfm_scores);
}

#[test]
fn automatic_k_is_chosen_by_silhouette_within_the_range() {
    let (rfm, m, s, spec) = cdnow();
    let opts = SegmentOptions {
        k: 0,
        k_min: 2,
        k_max: 6,
        ..Default::default()
    };
    let seg = segments::segment(
        &rfm,
        &m,
        &s,
        UnitConversion::identity(TimeUnit::Week),
        spec,
        &opts,
    )
    .unwrap();
    let k = seg.model.centroids.len();
    assert!((2..=6).contains(&k));
    assert_eq!(seg.model.silhouette_by_k.len(), 5);
    let best = seg
        .model
        .silhouette_by_k
        .iter()
        .map(|x| x.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let chosen = seg
        .model
        .silhouette_by_k
        .iter()
        .find(|x| x.0 == k)
        .unwrap()
        .1;
    assert!(
        chosen >= best - 1e-3,
        "ties go to fewer clusters, not worse ones"
    );
}

#[test]
fn names_agree_with_centroids_and_shares_add_up() {
    let (rfm, m, s, spec) = cdnow();
    let seg = segments::segment(
        &rfm,
        &m,
        &s,
        UnitConversion::identity(TimeUnit::Week),
        spec,
        &SegmentOptions {
            k: 6,
            ..Default::default()
        },
    )
    .unwrap();
    let n = rfm.len() as f64;
    let clv: Vec<f64> = s.clv.iter().map(|c| c.unwrap()).collect();
    let mean_value = clv.iter().sum::<f64>() / n;
    let profiles = &seg.model.profiles;
    let centroid =
        |p: &segments::SegmentProfile, f: Feature| p.centroid.iter().find(|c| c.0 == f).unwrap().1;
    for w in profiles.windows(2) {
        assert!(
            w[0].total_value / w[0].customers as f64 >= w[1].total_value / w[1].customers as f64,
            "segments are ordered by mean value"
        );
    }
    for p in profiles {
        let base = p
            .name
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
        let alive = centroid(p, Feature::PAlive);
        let value = centroid(p, Feature::Clv);
        match base {
            "Champions" => assert!(alive >= 0.7 && value >= 2.0 * mean_value, "{p:?}"),
            "Loyal" | "Potential loyalists" => assert!(alive >= 0.7, "{p:?}"),
            "Can't lose them" => assert!(alive < 0.7 && value >= 2.0 * mean_value, "{p:?}"),
            "At risk" => assert!(alive < 0.7 && value >= 0.75 * mean_value, "{p:?}"),
            "Hibernating" => assert!(value < 2.0 * mean_value && alive < 0.7, "{p:?}"),
            "Lost" => assert!(value < 2.0 * mean_value && alive < 0.2, "{p:?}"),
            "New" | "One-time buyers" => {
                assert!(
                    centroid(p, Feature::Frequency) < 0.5 && alive >= 0.7,
                    "{p:?}"
                )
            }
            other => panic!("unexpected name {other}"),
        }
        // The centroid is the mean of its customers in original units.
        let members: Vec<usize> = (0..rfm.len())
            .filter(|&i| seg.labels[i] == p.index)
            .collect();
        assert_eq!(members.len() as u64, p.customers);
        let mean_x = members
            .iter()
            .map(|&i| f64::from(rfm[i].frequency))
            .sum::<f64>()
            / members.len() as f64;
        assert!((centroid(p, Feature::Frequency) - mean_x).abs() < 1e-9);
    }
    let share: f64 = profiles.iter().map(|p| p.customer_share).sum();
    let value_share: f64 = profiles.iter().map(|p| p.value_share).sum();
    assert!((share - 1.0).abs() < 1e-12 && (value_share - 1.0).abs() < 1e-12);

    // Concentration: monotone, ends at 1, and the top 20% hold what a sort says they hold.
    let c = &seg.concentration;
    assert_eq!(c.curve[0], 0.0);
    assert!((c.curve[100] - 1.0).abs() < 1e-12);
    assert!(c.curve.windows(2).all(|w| w[1] >= w[0]));
    let mut sorted = clv.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let top20 =
        sorted[..(0.2 * n).ceil() as usize].iter().sum::<f64>() / sorted.iter().sum::<f64>();
    let (_, reported) = c.top_shares.iter().find(|x| x.0 == 0.2).copied().unwrap();
    assert!((reported - top20).abs() < 1e-12);

    // Tiers: every customer has one, key customers hold about half the value.
    let in_tier = |t: Tier| {
        (0..rfm.len())
            .filter(|&i| seg.tiers[i] == t)
            .collect::<Vec<_>>()
    };
    let total: f64 = clv.iter().sum();
    let key_share = in_tier(Tier::Key).iter().map(|&i| clv[i]).sum::<f64>() / total;
    assert!((0.5..0.55).contains(&key_share), "{key_share}");
    let counted: usize = Tier::ALL.iter().map(|&t| in_tier(t).len()).sum();
    assert_eq!(counted, rfm.len());

    // RFM quintiles: ties share a score.
    for i in 0..rfm.len() {
        for j in 0..rfm.len().min(200) {
            if rfm[i].frequency == rfm[j].frequency {
                assert_eq!(seg.rfm_scores[i][1], seg.rfm_scores[j][1]);
            }
        }
    }
    assert!(
        seg.rfm_scores
            .iter()
            .all(|s| s.iter().all(|&v| (1..=5).contains(&v)))
    );
}

#[test]
fn bad_segment_options_name_the_field() {
    let (rfm, m, s, spec) = cdnow();
    let field = |o: SegmentOptions| match segments::segment(
        &rfm,
        &m,
        &s,
        UnitConversion::identity(TimeUnit::Week),
        spec,
        &o,
    ) {
        Err(ModelError::InvalidInput { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(SegmentOptions {
            k: rfm.len() + 1,
            ..Default::default()
        }),
        "k"
    );
    assert_eq!(
        field(SegmentOptions {
            k: 0,
            k_min: 1,
            ..Default::default()
        }),
        "k_range"
    );
    let mut o = SegmentOptions::default();
    o.tiers.key = 0.9;
    assert_eq!(field(o), "tiers");
}

/// Simulated customers with a known future: the budget plan must beat random plans that
/// spend the same, judged on what the customers really did in the holdout.
#[test]
fn allocation_beats_random_plans_of_equal_cost_on_known_futures() {
    let spec = SimulationSpec {
        holdout_length: 52.0,
        ..SimulationSpec::cdnow_like(20_000, 11, 52.0)
    };
    let sim = simulate_summaries(&spec).unwrap();
    let t = &sim.table;
    let truth = &t.holdout.as_ref().unwrap().spend;
    let model = CustomerModel {
        unit: TimeUnit::Week,
        transaction: TransactionModel::bg_nbd(
            BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap(),
        ),
        spend: Some(GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()),
    };
    let clv_spec = ClvSpec {
        horizon: Duration::new(52.0, TimeUnit::Week),
        discount: Discount {
            rate: 0.0,
            period: Duration::new(52.0, TimeUnit::Week),
        },
    };
    let s = model
        .score(&t.rfm, &t.monetary_value, TimeUnit::Week, &clv_spec)
        .unwrap();
    let seg = segments::segment(
        &t.rfm,
        &t.monetary_value,
        &s,
        UnitConversion::identity(TimeUnit::Week),
        clv_spec,
        &SegmentOptions {
            k: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let econ = Economics::default();
    let recs: Vec<recommend::Recommendation> = (0..t.len())
        .map(|i| {
            let view = CustomerView {
                frequency: t.rfm[i].frequency,
                p_alive: s.p_alive[i],
                propensity: s.propensity[i],
                expected_spend: s.expected_spend[i],
                clv: s.clv[i].unwrap(),
                segment_spend: None,
                high_value: matches!(seg.tiers[i], Tier::Key | Tier::Growth),
            };
            recommend::recommend(&view, &econ)
        })
        .collect();
    // Never spend on a customer whose expected value is below the cost to serve.
    let costly = Economics {
        cost_to_serve: 10.0,
        ..econ
    };
    for i in 0..t.len() {
        let view = CustomerView {
            frequency: t.rfm[i].frequency,
            p_alive: s.p_alive[i],
            propensity: s.propensity[i],
            expected_spend: s.expected_spend[i],
            clv: s.clv[i].unwrap(),
            segment_spend: None,
            high_value: true,
        };
        let r = recommend::recommend(&view, &costly);
        if costly.margin * s.clv[i].unwrap() < costly.cost_to_serve {
            assert_eq!(r.action, Action::Deprioritize);
            assert_eq!(r.cost, 0.0);
        }
    }

    let candidates: Vec<Vec<ActionOption>> = recs.iter().map(|r| r.candidates.clone()).collect();
    let budget = 2_000.0;
    let plan = recommend::allocate(&candidates, budget).unwrap();
    assert!(plan.spent <= budget + 1e-9);
    assert!(!plan.funded.is_empty());
    let uplift = |a: Action| match a {
        Action::Retain => econ.retain,
        Action::Grow => econ.grow,
        Action::Nurture => econ.nurture,
        _ => unreachable!(),
    };
    // Realized value of a plan: the uplift applied to what the customer really spent.
    let realized = |funded: &[(usize, Action)]| -> f64 {
        funded
            .iter()
            .map(|&(i, a)| uplift(a).uplift * econ.margin * truth[i] - uplift(a).cost)
            .sum()
    };
    let ours = realized(&plan.funded);
    let mut rng = StdRng::seed_from_u64(5);
    // A random plan of (at most) equal cost: shuffle the (customer, action) pool and fund
    // in that order while the money lasts.
    let mut random_plan = |mut pool: Vec<(usize, Action, f64)>| {
        pool.shuffle(&mut rng);
        let mut spent = 0.0;
        let mut taken = vec![false; t.len()];
        let mut funded = Vec::new();
        for (i, a, c) in pool {
            if taken[i] || spent + c > plan.spent {
                continue;
            }
            taken[i] = true;
            spent += c;
            funded.push((i, a));
        }
        realized(&funded)
    };
    // Random customers, random actions: beaten every time.
    let everyone: Vec<(usize, Action, f64)> = (0..t.len())
        .flat_map(|i| {
            [Action::Retain, Action::Grow, Action::Nurture]
                .into_iter()
                .map(move |a| (i, a, uplift(a).cost))
        })
        .collect();
    for _ in 0..20 {
        assert!(ours > random_plan(everyone.clone()));
    }
    // Random choices among the profitable candidates only: beaten on average, by a margin.
    let eligible: Vec<(usize, Action, f64)> = recs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.candidates.iter().map(move |o| (i, o.action, o.cost)))
        .collect();
    let mean_random = (0..20).map(|_| random_plan(eligible.clone())).sum::<f64>() / 20.0;
    assert!(
        ours > 1.2 * mean_random,
        "ours {ours}, random {mean_random}"
    );
}

#[test]
fn kmeans_fit_recovers_separated_clusters_and_names_bad_input() {
    use custval_model::decide::segments::kmeans_fit;
    use ndarray::Array2;
    // Three tight blobs of 3,000 rows (more than linfa's seeding sample) in 2-D.
    let centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)];
    let mut rows = Vec::new();
    for i in 0..9_000usize {
        let (cx, cy) = centres[i % 3];
        let jitter = ((i * 7919) % 101) as f64 / 101.0 - 0.5;
        rows.extend([cx + jitter, cy - jitter]);
    }
    let x = Array2::from_shape_vec((9_000, 2), rows).unwrap();
    let options = SegmentOptions {
        k: 3,
        seed: 5,
        ..Default::default()
    };
    let fit = kmeans_fit(&x, 3, &options).unwrap();
    assert_eq!(fit.labels.len(), 9_000);
    // Every blob is one cluster: rows i and i + 3 always share a label.
    assert!((0..8_997).all(|i| fit.labels[i] == fit.labels[i + 3]));
    let mut found: Vec<(i64, i64)> = fit
        .centroids
        .rows()
        .into_iter()
        .map(|c| (c[0].round() as i64, c[1].round() as i64))
        .collect();
    found.sort();
    assert_eq!(found, vec![(0, 0), (0, 10), (10, 0)]);
    assert!(fit.inertia < 9_000.0 * 0.5, "{}", fit.inertia);
    assert!(fit.iterations >= 1);
    // The same rows in column-major order give the same clustering.
    let fortran = x.t().to_owned().reversed_axes();
    assert_eq!(
        kmeans_fit(&fortran, 3, &options).unwrap().labels,
        fit.labels
    );

    let e = kmeans_fit(&x, 0, &options).unwrap_err().to_string();
    assert!(e.contains('k'), "{e}");
    let mut bad = x.clone();
    bad[[4, 1]] = f64::NAN;
    let e = kmeans_fit(&bad, 3, &options).unwrap_err().to_string();
    assert!(e.contains("x[4][1]"), "{e}");
}

#[test]
fn segmentations_record_their_unit_and_older_ones_still_load() {
    let (rfm, m, s, spec) = cdnow();
    let weeks = UnitConversion::identity(TimeUnit::Week);
    let opts = SegmentOptions {
        k: 3,
        ..Default::default()
    };
    let seg = segments::segment(&rfm, &m, &s, weeks, spec, &opts).unwrap();
    assert_eq!(seg.model.unit, Some(TimeUnit::Week));
    let placed = seg.model.assign(&rfm, &m, &s, weeks).unwrap();
    assert_eq!(placed.labels, seg.labels);
    // Customers converted to another unit than the segmentation's are refused.
    let to_days = UnitConversion::new(TimeUnit::Week, TimeUnit::Day);
    assert!(seg.model.assign(&rfm, &m, &s, to_days).is_err());
    // A segmentation stored before the unit was recorded loads, and places alike.
    let mut json = serde_json::to_value(&seg.model).unwrap();
    json.as_object_mut().unwrap().remove("unit");
    let old: segments::SegmentModel = serde_json::from_value(json).unwrap();
    assert_eq!(old.unit, None);
    assert_eq!(old.assign(&rfm, &m, &s, weeks).unwrap(), placed);
}

/// Every segment name agrees with the P(alive) of its centroid: nothing the model calls
/// alive is named lost or hibernating (issue 13: 58 % of the quick start's customers were
/// "Lost" and "HEALTHY" at once).
fn assert_names_agree_with_p_alive(profiles: &[segments::SegmentProfile]) {
    for p in profiles {
        let alive = p
            .centroid
            .iter()
            .find(|c| c.0 == Feature::PAlive)
            .unwrap()
            .1;
        let base = p
            .name
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
        match base {
            "Lost" => assert!(alive < 0.2, "{p:?}"),
            "Hibernating" | "At risk" | "Can't lose them" => assert!(alive < 0.7, "{p:?}"),
            _ => assert!(alive >= 0.7, "{p:?}"),
        }
    }
}

/// The quick start's population (BG/NBD, every one-time buyer alive by construction) and
/// one with real dropout after the first purchase (MBG/NBD): names follow P(alive), and a
/// one-time buyer is never maintained as HEALTHY.
#[test]
fn segments_and_actions_never_contradict_the_model() {
    let bg = BetaGeoParams::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let mbg = BetaGeoParams::new(0.5, 5.0, 3.0, 2.0).unwrap();
    for (transaction, expect_lost) in [
        (TransactionModel::bg_nbd(bg), false),
        (TransactionModel::mbg_nbd(mbg), true),
    ] {
        let spec = SimulationSpec {
            process: transaction.clone(),
            ..SimulationSpec::cdnow_like(20_000, 7, 52.0)
        };
        let t = simulate_summaries(&spec).unwrap().table;
        let model = CustomerModel {
            unit: TimeUnit::Week,
            transaction,
            spend: Some(GammaGammaParams::new(6.25, 3.74, 15.44).unwrap()),
        };
        let clv_spec = ClvSpec::lifetimes_convention(12, 0.01, TimeUnit::Week);
        let s = model
            .score(&t.rfm, &t.monetary_value, TimeUnit::Week, &clv_spec)
            .unwrap();
        let seg = segments::segment(
            &t.rfm,
            &t.monetary_value,
            &s,
            UnitConversion::identity(TimeUnit::Week),
            clv_spec,
            &SegmentOptions::default(),
        )
        .unwrap();
        assert_names_agree_with_p_alive(&seg.model.profiles);
        let one_time_alive = seg
            .model
            .profiles
            .iter()
            .any(|p| p.name.starts_with("One-time buyers") || p.name.starts_with("New"));
        let lost = seg
            .model
            .profiles
            .iter()
            .any(|p| p.name.starts_with("Lost"));
        // BG/NBD cannot call a one-time buyer lost; with real dropout some segment is.
        assert_eq!(lost, expect_lost, "{:?}", seg.model.profiles);
        assert!(expect_lost || one_time_alive, "{:?}", seg.model.profiles);

        let econ = Economics::default();
        for i in 0..t.len() {
            let view = CustomerView {
                frequency: t.rfm[i].frequency,
                p_alive: s.p_alive[i],
                propensity: s.propensity[i],
                expected_spend: s.expected_spend[i],
                clv: s.clv[i].unwrap(),
                segment_spend: None,
                high_value: matches!(seg.tiers[i], Tier::Key | Tier::Growth),
            };
            let r = recommend::recommend(&view, &econ);
            let healthy = r.reasons.contains(&recommend::Reason::Healthy);
            if t.rfm[i].frequency == 0 {
                assert!(!healthy, "one-time buyer {i} called healthy: {r:?}");
            }
            if healthy {
                assert!(s.p_alive[i] >= econ.healthy_p_alive, "{r:?}");
            }
        }
    }
}

/// A segmentation is stopped by its token: at once when it has already fired, and soon
/// when it fires mid-way through a search over k that would run for many seconds (49
/// candidate k, each with 100 k-means++ restarts).
#[test]
fn a_cancelled_segmentation_stops_promptly() {
    let (rfm, m, s, spec) = cdnow();
    let units = UnitConversion::identity(TimeUnit::Week);
    let fired = Cancel::new();
    fired.cancel();
    let opts = SegmentOptions {
        cancel: fired,
        ..Default::default()
    };
    let r = segments::segment(&rfm, &m, &s, units, spec, &opts);
    assert_eq!(r.unwrap_err(), ModelError::Cancelled);

    let cancel = Cancel::new();
    let long = SegmentOptions {
        k_min: 2,
        k_max: 50,
        runs: 100,
        cancel: cancel.clone(),
        ..Default::default()
    };
    let fired_at = std::thread::scope(|scope| {
        let fire = scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            cancel.cancel();
            std::time::Instant::now()
        });
        let r = segments::segment(&rfm, &m, &s, units, spec, &long);
        assert_eq!(r.unwrap_err(), ModelError::Cancelled);
        fire.join().unwrap()
    });
    // Generous: one linfa seeding (at most 100 restarts on 2,357 rows) between checks.
    let late = fired_at.elapsed();
    assert!(
        late < std::time::Duration::from_secs(5),
        "stopped {late:?} after the cancel"
    );
}
