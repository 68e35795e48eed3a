//! Names: a readable name for each k-means segment, read from its centroid against the
//! population, and the classic R×F map for RFM quintile cells.

use super::{Feature, FeatureTable, SegmentProfile};

/// The classic R×F segment map.
pub fn rfm_segment_name(r: u8, f: u8) -> &'static str {
    match (r, f) {
        (1..=2, 1..=2) => "Hibernating",
        (1..=2, 3..=4) => "At risk",
        (1..=2, _) => "Can't lose them",
        (3, 1..=2) => "About to sleep",
        (3, 3) => "Need attention",
        (3..=4, 4..=5) => "Loyal",
        (4, 1) => "Promising",
        (5, 1) => "New",
        (4..=5, 2..=3) => "Potential loyalists",
        _ => "Champions",
    }
}

/// Medians and means of the original features: the yardstick segment names are read
/// against.
#[derive(Debug, Clone)]
pub(super) struct PopulationStats {
    median: Vec<(Feature, f64)>,
    mean: Vec<(Feature, f64)>,
}

pub(super) fn population_stats(t: &FeatureTable) -> PopulationStats {
    let mut median = Vec::new();
    let mut mean = Vec::new();
    for (j, f) in t.features.iter().enumerate() {
        let mut col: Vec<f64> = t.column(j).collect();
        mean.push((*f, col.iter().sum::<f64>() / col.len() as f64));
        let mid = col.len() / 2;
        let (_, m, _) = col.select_nth_unstable_by(mid, f64::total_cmp);
        median.push((*f, *m));
    }
    PopulationStats { median, mean }
}

fn get(v: &[(Feature, f64)], f: Feature) -> Option<f64> {
    v.iter().find(|(g, _)| *g == f).map(|(_, x)| *x)
}

/// A readable name from a segment's centroid against the population: a pure function of
/// the profile, so the same fit always gives the same names. Duplicates get a suffix.
pub(super) fn name_segments(profiles: &mut [SegmentProfile], pop: &PopulationStats) {
    let mut used: Vec<String> = Vec::new();
    for p in profiles.iter_mut() {
        let base = segment_name(&p.centroid, pop);
        let mut name = base.to_owned();
        let mut k = 2;
        while used.contains(&name) {
            name = format!("{base} {k}");
            k += 1;
        }
        used.push(name.clone());
        p.name = name;
    }
}

/// P(alive) from which a segment is called alive, and below which it is "Lost": every
/// name agrees with these bands, so no segment the model calls alive is named lost.
pub(crate) const ALIVE: f64 = 0.7;
pub(crate) const DORMANT: f64 = 0.2;

fn segment_name(centroid: &[(Feature, f64)], pop: &PopulationStats) -> &'static str {
    let c = |f| get(centroid, f).unwrap_or(0.0);
    // Value: CLV when present, else expected purchases; read against the population mean.
    let value_feature = if get(centroid, Feature::Clv).is_some() {
        Feature::Clv
    } else {
        Feature::ExpectedPurchases
    };
    let mean_value = get(&pop.mean, value_feature).unwrap_or(0.0);
    let value = c(value_feature);
    let high = value >= 2.0 * mean_value;
    let mid = value >= 0.75 * mean_value;
    let alive = c(Feature::PAlive);
    if c(Feature::Frequency) < 0.5 {
        // One-time buyers. A status comes only from what the model says of them: where it
        // calls them alive (BG/NBD does for every one-time buyer, by construction) they are
        // not "Lost" or "Hibernating", whatever their age; "New" needs a recent first
        // purchase as well.
        let recent = c(Feature::Recency) < get(&pop.median, Feature::Recency).unwrap_or(0.0);
        return if alive >= ALIVE {
            if recent && mid {
                "New"
            } else {
                "One-time buyers"
            }
        } else if alive >= DORMANT {
            "Hibernating"
        } else {
            "Lost"
        };
    }
    match (alive, high, mid) {
        (a, true, _) if a >= ALIVE => "Champions",
        (a, false, true) if a >= ALIVE => "Loyal",
        (a, false, false) if a >= ALIVE => "Potential loyalists",
        (_, true, _) => "Can't lose them",
        (_, false, true) => "At risk",
        (a, false, false) if a >= DORMANT => "Hibernating",
        _ => "Lost",
    }
}
